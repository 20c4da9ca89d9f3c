"""The agreements and calendars as the engine reads them: planned once per process and
kept until an administrator changes one (``itsm.config_cache``; SlaConfig connects the
signals). Every ticket change consults them, so they must cost no query."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from itsm.config_cache import cached_config

from .calendar import CalendarSpec
from .models import Agreement, AgreementKind, BusinessCalendar, Metric

AGREEMENTS_CONFIG = "sla.agreements"
CALENDARS_CONFIG = "sla.calendars"
BREACH = 100

# What each metric does when its target leaves a condition empty.
DEFAULT_STOP_ON = {
    Metric.FIRST_RESPONSE: ("resolved", "closed"),
    Metric.RESOLUTION: ("resolved", "closed"),
    Metric.NEXT_UPDATE: ("resolved", "closed"),
}
DEFAULT_CANCEL_ON = ("cancelled",)


@dataclass(frozen=True)
class PlannedThreshold:
    percent: int
    actions: tuple[str, ...] = ()
    reassign_to_id: int | None = None
    working_hours_only: bool = False


@dataclass(frozen=True)
class PlannedTarget:
    id: int
    metric: str
    goal_seconds: int
    calendar_id: int
    calendar_name: str
    start_on: frozenset[str]
    pause_on: frozenset[str]
    stop_on: frozenset[str]
    cancel_on: frozenset[str]
    reset_on: tuple[str, ...]
    thresholds: tuple[PlannedThreshold, ...]  # by percent; always ends with the breach

    def threshold(self, percent: int) -> PlannedThreshold | None:
        return next((t for t in self.thresholds if t.percent == percent), None)


@dataclass(frozen=True)
class PlannedAgreement:
    id: int
    name: str
    kind: str
    ticket_type: str
    priorities: frozenset[int]
    category_ids: frozenset[int]
    service_ids: frozenset[int]
    group_ids: frozenset[int]
    caller_vip: bool | None
    departments: frozenset[str]
    targets: dict[str, PlannedTarget] = field(default_factory=dict)

    @property
    def needs_caller(self) -> bool:
        return self.caller_vip is not None or bool(self.departments)

    def matches(self, ticket: Any, ticket_type: str, caller: Any = None) -> str | None:
        """Why the agreement covers ``ticket`` (its conditions, in words), or None."""
        if ticket_type != self.ticket_type:
            return None
        reasons = []
        if self.priorities:
            if ticket.priority not in self.priorities:
                return None
            reasons.append(_("priority P%(p)s") % {"p": ticket.priority})
        if self.category_ids:
            ids = {getattr(ticket, "category_id", None), getattr(ticket, "subcategory_id", None)}
            if not ids & self.category_ids:
                return None
            reasons.append(_("its category"))
        if self.service_ids:
            if getattr(ticket, "service_id", None) not in self.service_ids:
                return None
            reasons.append(_("its service"))
        if self.group_ids:
            if ticket.assignment_group_id not in self.group_ids:
                return None
            reasons.append(_("its assignment group"))
        if self.needs_caller:
            profile = getattr(caller, "profile", None) if caller is not None else None
            vip = bool(profile and profile.vip)
            department = profile.department if profile else ""
            if self.caller_vip is not None:
                if vip != self.caller_vip:
                    return None
                reasons.append(_("the caller is a VIP") if vip else _("the caller is not a VIP"))
            if self.departments:
                if department not in self.departments:
                    return None
                reasons.append(_("the caller's department (%(d)s)") % {"d": department})
        if not reasons:
            return _("%(name)s covers every %(type)s") % {"name": self.name,
                                                           "type": ticket_type}
        return _("%(name)s: %(why)s") % {"name": self.name, "why": ", ".join(reasons)}


@dataclass(frozen=True)
class Plan:
    active: dict[str, list[PlannedAgreement]]  # by kind, in the order they are tried
    targets: dict[int, PlannedTarget]  # every target, of active agreements or not


def _plan_agreements() -> Plan:
    planned: dict[str, list[PlannedAgreement]] = {kind: [] for kind in AgreementKind.values}
    all_targets: dict[int, PlannedTarget] = {}
    agreements = (Agreement.objects.order_by("kind", "order", "name")
                  .prefetch_related("categories", "services", "assignment_groups",
                                    "targets__thresholds", "targets__calendar"))
    for agreement in agreements:
        targets = {}
        for target in agreement.targets.all():
            thresholds = {t.percent: PlannedThreshold(
                t.percent, tuple(t.actions or ()), t.reassign_to_id, t.working_hours_only)
                for t in target.thresholds.all()}
            thresholds.setdefault(BREACH, PlannedThreshold(BREACH))
            targets[target.metric] = PlannedTarget(
                id=target.pk, metric=target.metric, goal_seconds=target.goal_minutes * 60,
                calendar_id=target.calendar_id, calendar_name=target.calendar.name,
                start_on=frozenset(target.start_on or ()),
                pause_on=frozenset(target.pause_on or ()),
                stop_on=frozenset(target.stop_on or DEFAULT_STOP_ON[target.metric]),
                cancel_on=frozenset(target.cancel_on or DEFAULT_CANCEL_ON),
                reset_on=tuple(target.reset_on or ()),
                thresholds=tuple(thresholds[p] for p in sorted(thresholds)))
        all_targets.update({t.id: t for t in targets.values()})
        if not agreement.is_active:
            continue
        planned[agreement.kind].append(PlannedAgreement(
            id=agreement.pk, name=agreement.name, kind=agreement.kind,
            ticket_type=agreement.ticket_type,
            priorities=frozenset(int(p) for p in agreement.priorities or ()),
            category_ids=frozenset(c.pk for c in agreement.categories.all()),
            service_ids=frozenset(s.pk for s in agreement.services.all()),
            group_ids=frozenset(g.pk for g in agreement.assignment_groups.all()),
            caller_vip=agreement.caller_vip,
            departments=frozenset(agreement.caller_departments or ()),
            targets=targets))
    return Plan(planned, all_targets)


def agreements() -> dict[str, list[PlannedAgreement]]:
    """The active agreements of each kind, in the order they are tried."""
    return cached_config(AGREEMENTS_CONFIG, _plan_agreements).active


def planned_target(target_id: int) -> PlannedTarget | None:
    """A target as planned (its agreement may since have been deactivated)."""
    return cached_config(AGREEMENTS_CONFIG, _plan_agreements).targets.get(target_id)


def _plan_calendars() -> dict[int, CalendarSpec]:
    return {calendar.pk: calendar.spec() for calendar in BusinessCalendar.objects.all()}


def calendar_spec(calendar_id: int) -> CalendarSpec:
    return cached_config(CALENDARS_CONFIG, _plan_calendars)[calendar_id]
