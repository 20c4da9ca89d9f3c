"""The forward schedule of change: changes planned in a range, with the maintenance and
freeze windows occurring in it, as one list of entries for the calendar, the API and the
iCalendar export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from cmdb.models import ConfigurationItem, RelationshipType
from cmdb.selectors import _walk
from itsm.errors import DomainError

from .models import Change, ChangeConflict, ChangeState, ChangeType, WindowKind
from .windows import active_windows, may_occur_within, occurrences

MAX_RANGE = dt.timedelta(days=100)
# How far down a service's dependencies a change counts as a change to the service.
SERVICE_DEPTH = 5
CHANGE, MAINTENANCE, FREEZE = "change", WindowKind.MAINTENANCE.value, WindowKind.FREEZE.value


@dataclass
class ScheduleEntry:
    """One bar on the calendar: a change's planned window or a window's occurrence."""

    kind: str  # "change", "maintenance" or "freeze"
    uid: str  # stable: per change, per window occurrence
    title: str
    start: dt.datetime
    end: dt.datetime
    url: str = ""
    number: str = ""
    change_id: int | None = None
    window_id: int | None = None
    state: str = ""
    state_label: str = ""
    type: str = ""
    type_label: str = ""
    risk: str = ""
    risk_label: str = ""
    team: str = ""
    ci_name: str = ""
    description: str = ""
    conflict: bool = False
    categories: list[str] = field(default_factory=list)

    @property
    def is_change(self) -> bool:
        return self.kind == CHANGE


def check_range(start: Any, end: Any) -> tuple[dt.datetime, dt.datetime]:
    """The range, or a DomainError naming the field at fault."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            message = _("Enter a date and time with its time zone.")
            raise DomainError(message, fields={name: [message]})
    if end <= start:
        message = _("The end must be after the start.")
        raise DomainError(message, fields={"end": [message]})
    if end - start > MAX_RANGE:
        message = _("At most %(days)d days at a time.") % {"days": MAX_RANGE.days}
        raise DomainError(message, code="range_too_long", fields={"end": [message]})
    return start, end


def service_scope(service: ConfigurationItem) -> list[int]:
    """The service and the CIs it depends on (what a change to counts as a change to
    the service)."""
    type_ids = list(RelationshipType.objects.filter(propagates_impact=True)
                    .values_list("pk", flat=True))
    return sorted(_walk(service.pk, direction="down", depth=SERVICE_DEPTH, type_ids=type_ids))


def _url(name: str, *args: int, anchor: str = "") -> str:
    try:
        return reverse(name, args=args) + anchor
    except NoReverseMatch:  # the desk's routes are not wired (a bare API deployment)
        return ""


def _changes(start: dt.datetime, end: dt.datetime, *, scope: list[int] | None,
             service: ConfigurationItem | None, team: Any,
             types: Iterable[str] | None) -> list[ScheduleEntry]:
    changes = (Change.objects.exclude(state=ChangeState.CANCELLED)
               .filter(planned_start__lt=end, planned_end__gt=start)
               .select_related("assignment_group")
               .annotate(has_conflicts=Exists(ChangeConflict.objects.filter(
                   change=OuterRef("pk"))))
               .only("pk", "number", "title", "state", "type", "risk", "planned_start",
                     "planned_end", "assignment_group__name", "description")
               .order_by("planned_start", "pk"))
    if types:
        changes = changes.filter(type__in=list(types))
    if team is not None:
        changes = changes.filter(assignment_group=team)
    if service is not None:
        touching = Change.objects.filter(Q(services=service) | Q(cis__in=scope or []))
        changes = changes.filter(pk__in=touching.values("pk"))
    states, kinds = dict(ChangeState.choices), dict(ChangeType.choices)
    entries = []
    for change in changes:
        risk_label = change.get_risk_display() if change.risk else ""
        entries.append(ScheduleEntry(
            kind=CHANGE, uid=f"change-{change.pk}", title=f"{change.number} {change.title}",
            start=change.planned_start, end=change.planned_end,
            url=_url("changes:detail", change.pk), number=change.number,
            change_id=change.pk, state=change.state,
            state_label=str(states.get(change.state, change.state)), type=change.type,
            type_label=str(kinds.get(change.type, change.type)), risk=change.risk,
            risk_label=str(risk_label),
            team=change.assignment_group.name if change.assignment_group else "",
            description=change.description, conflict=change.has_conflicts,
            categories=[str(_("Change")), str(kinds.get(change.type, change.type))]))
    return entries


def _windows(start: dt.datetime, end: dt.datetime, *,
             scope: list[int] | None) -> list[ScheduleEntry]:
    windows = may_occur_within(active_windows(), start, end).order_by("starts_at", "pk")
    if scope is not None:
        windows = windows.filter(Q(ci_id__in=scope) | Q(kind=WindowKind.FREEZE,
                                                        ci__isnull=True))
    entries = []
    for window in windows:
        label = str(window.get_kind_display())
        for begin, finish in occurrences(window, start, end):
            where = window.ci.name if window.ci_id else _("everywhere")
            entries.append(ScheduleEntry(
                kind=window.kind, uid=f"window-{window.pk}-{begin:%Y%m%dT%H%M%SZ}",
                title=f"{label}: {window.name} ({where})", start=begin, end=finish,
                url=_url("changes:window_list", anchor=f"#window-{window.pk}"), window_id=window.pk,
                ci_name=window.ci.name if window.ci_id else "",
                description=window.reason, categories=[label]))
    return entries


def forward_schedule(start: dt.datetime, end: dt.datetime, *,
                     service: ConfigurationItem | None = None, team: Any = None,
                     types: Iterable[str] | None = None) -> list[ScheduleEntry]:
    """Changes (not cancelled) planned over ``[start, end)``, and the occurrences of
    active maintenance and freeze windows in it, by start. ``service``: changes listing
    it or touching a CI it depends on, and windows on those CIs plus global freezes;
    ``team``: changes of that assignment group (windows are shown whatever the team);
    ``types``: change types. At most ``MAX_RANGE`` at a time."""
    start, end = check_range(start, end)
    scope = service_scope(service) if service is not None else None
    entries = [*_changes(start, end, scope=scope, service=service, team=team, types=types),
               *_windows(start, end, scope=scope)]
    order = {FREEZE: 0, MAINTENANCE: 1, CHANGE: 2}
    entries.sort(key=lambda entry: (entry.start, order[entry.kind], entry.uid))
    return entries
