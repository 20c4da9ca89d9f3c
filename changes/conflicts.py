"""Conflict detection when a change is scheduled or rescheduled, and the freeze rule the
workflow enforces.

Three rules, each explained in a sentence that names the CIs involved:

- **overlap**: another open change planned over the same time touches the same CI or
  service, or one related to it within ``ChangeSettings.conflict_depth`` links (either
  direction, over relationship types that propagate impact: two applications on one
  host conflict at two links);
- **outside maintenance**: an affected CI or service has maintenance windows and the
  planned window does not fit inside one of them (back-to-back windows of the same CI
  count as one);
- **freeze**: an active freeze overlaps the planned window and is global, on an affected
  CI or service, or on a service that depends on an affected CI within the depth.

Only a freeze blocks: the scheduling guard (``freeze_problems``) refuses it unless the
change is an authorised emergency change with a reason to override the freeze. The
others are listed on the change for people to judge.

``conflicts_detect`` is a read (previews); ``conflicts_refresh`` replaces the stored rows
inside the caller's transaction; ``conflicts_check`` is the audited service behind the
desk's "check again"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from accounts.services import require_permission
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record
from cmdb.models import ConfigurationItem, Relationship, RelationshipType
from cmdb.selectors import MAX_IMPACT_NODES, WALK_CHUNK

from .models import (
    Change,
    ChangeConflict,
    ChangeSettings,
    ChangeState,
    ChangeType,
    ConflictKind,
    Recurrence,
    ScheduleWindow,
    WindowKind,
)
from .windows import (
    active_windows,
    describe_span,
    may_occur_within,
    merged,
    next_occurrences,
    occurrences,
)

DESK = "accounts.access_desk"
REASON_MAX = ChangeConflict._meta.get_field("reason").max_length
CLOSED_STATES = (ChangeState.CLOSED, ChangeState.CANCELLED)
NEXT_WINDOWS = 3

Problems = dict[str, list[str]] | None


@dataclass(frozen=True)
class FoundConflict:
    """A conflict found for a planned window (not stored)."""

    kind: str
    reason: str
    ci: ConfigurationItem | None = None
    other_change: Change | None = None
    window: ScheduleWindow | None = None
    blocking: bool = False

    @property
    def kind_label(self) -> str:
        return str(ConflictKind(self.kind).label)



# --- The CMDB walk ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Step:
    distance: int
    root: int
    parent: int | None = None
    link: tuple[int, int, int] | None = None  # (source id, target id, type id)


def _impact_types() -> dict[int, tuple[str, str]]:
    return {pk: (name, reverse) for pk, name, reverse in RelationshipType.objects.filter(
        propagates_impact=True).values_list("pk", "name", "reverse_name")}


def _reach(roots: Iterable[int], depth: int, *, direction: str,
           type_ids: list[int]) -> dict[int, _Step]:
    """Breadth first from all ``roots`` at once (one query per level, as
    ``cmdb.selectors._walk``), remembering how each CI was reached so the reason can say
    so. ``up``: the CIs that depend on the roots; ``both``: related either way."""
    reached = {root: _Step(0, root) for root in sorted(set(roots))}
    frontier = sorted(reached)
    for level in range(1, depth + 1):
        if not frontier or not type_ids or len(reached) > MAX_IMPACT_NODES:
            break
        rows: list[tuple[int, int, int]] = []
        for index in range(0, len(frontier), WALK_CHUNK):
            chunk = frontier[index:index + WALK_CHUNK]
            where = Q(target_id__in=chunk)
            if direction == "both":
                where |= Q(source_id__in=chunk)
            rows.extend(Relationship.objects.filter(where, type_id__in=type_ids)
                        .values_list("source_id", "target_id", "type_id"))
        current = set(frontier)
        found: list[int] = []
        for source, target, type_id in sorted(rows):
            for here, there in ((target, source), (source, target)):
                if direction == "up" and here != target:
                    continue
                if here in current and there not in reached:
                    reached[there] = _Step(level, reached[here].root, here,
                                           (source, target, type_id))
                    found.append(there)
        frontier = sorted(found)
    return reached


def _path(reached: dict[int, _Step], node: int) -> list[int]:
    nodes = [node]
    while reached[nodes[-1]].parent is not None:
        nodes.append(reached[nodes[-1]].parent)  # type: ignore[arg-type]
    return nodes[::-1]


def _relation_text(reached: dict[int, _Step], node: int, names: dict[int, str],
                   types: dict[int, tuple[str, str]]) -> str:
    """``web-01 runs on esx-02, which hosts app-02 (2 links)``."""
    nodes = _path(reached, node)
    steps = []
    for here, there in pairwise(nodes):
        source, _target, type_id = reached[there].link  # type: ignore[misc]
        name, reverse = types.get(type_id, (_("related to"), _("related to")))
        steps.append(f"{name if source == here else reverse} {names.get(there, there)}")
    links = len(steps)
    text = f"{names.get(nodes[0], nodes[0])} {steps[0]}"
    for step in steps[1:]:
        text += _(", which %(step)s") % {"step": step}
    return text + " (" + ngettext("%(n)d link", "%(n)d links", links) % {"n": links} + ")"


def _names(ids: Iterable[int]) -> dict[int, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(ConfigurationItem.objects.filter(pk__in=wanted).values_list("pk", "name"))


# --- The rules --------------------------------------------------------------------------

def _when(start: dt.datetime, end: dt.datetime) -> str:
    """In the time zone of whoever is acting, named: the reason is stored and read by
    people in other zones."""
    begin, finish = timezone.localtime(start), timezone.localtime(end)
    end_text = f"{finish:%H:%M}" if finish.date() == begin.date() else f"{finish:%Y-%m-%d %H:%M}"
    return f"{begin:%Y-%m-%d %H:%M}–{end_text} {timezone.get_current_timezone_name()}"


def _clip(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[:REASON_MAX - 1] + "…"


def _affected(change: Change) -> list[ConfigurationItem]:
    """The change's CIs and services, one query."""
    if change.pk is None:
        return []
    return list(ConfigurationItem.objects.filter(
        Q(changes=change) | Q(service_changes=change)).distinct().order_by("name", "pk")
        .only("pk", "name"))


def _overlaps(change: Change, start: dt.datetime, end: dt.datetime,
              mine: list[ConfigurationItem], depth: int,
              types: dict[int, tuple[str, str]]) -> list[FoundConflict]:
    if not mine:
        return []
    reached = _reach([ci.pk for ci in mine], depth, direction="both", type_ids=list(types))
    others = (Change.objects.exclude(state__in=CLOSED_STATES).exclude(pk=change.pk)
              .filter(planned_start__lt=end, planned_end__gt=start))
    pairs: list[tuple[int, int]] = []
    for through in (Change.cis.through, Change.services.through):
        pairs.extend(through.objects.filter(
            change__in=others.values("pk"), configurationitem_id__in=list(reached))
            .values_list("change_id", "configurationitem_id"))
    if not pairs:
        return []
    # Per other change, its CI closest to one of ours.
    closest: dict[int, int] = {}
    for change_id, ci_id in sorted(pairs):
        best = closest.get(change_id)
        if best is None or reached[ci_id].distance < reached[best].distance:
            closest[change_id] = ci_id
    path_ids = {node for ci_id in closest.values() for node in _path(reached, ci_id)}
    names = _names(path_ids)
    rows = Change.objects.only("pk", "number", "title", "planned_start", "planned_end",
                               "state", "type").in_bulk(list(closest))
    by_pk = {ci.pk: ci for ci in mine}
    found = []
    for change_id in sorted(closest, key=lambda pk: (rows[pk].planned_start, pk)):
        other, ci_id = rows[change_id], closest[change_id]
        step = reached[ci_id]
        if step.distance == 0:
            relation = _("both change %(ci)s") % {"ci": names.get(ci_id, ci_id)}
        else:
            relation = _relation_text(reached, ci_id, names, types)
        reason = _("%(number)s “%(title)s” is planned over the same time (%(when)s): "
                   "%(relation)s.") % {
            "number": other.number, "title": other.title, "relation": relation,
            "when": _when(other.planned_start, other.planned_end)}
        found.append(FoundConflict(ConflictKind.OVERLAP, _clip(reason),
                                   ci=by_pk.get(step.root), other_change=other))
    return found


def _open_windows(kind: str, start: dt.datetime) -> Any:
    """Active windows of ``kind`` not over by ``start``."""
    return active_windows(kind).filter(
        Q(recurrence=Recurrence.NONE, ends_at__gt=start)
        | (~Q(recurrence=Recurrence.NONE)
           & (Q(repeat_until__isnull=True) | Q(repeat_until__gte=start.date()
                                                - dt.timedelta(days=1)))))


def _outside_maintenance(start: dt.datetime, end: dt.datetime,
                         mine: list[ConfigurationItem]) -> list[FoundConflict]:
    if not mine:
        return []
    by_ci: dict[int, list[ScheduleWindow]] = {}
    for window in _open_windows(WindowKind.MAINTENANCE, start).filter(
            ci_id__in=[ci.pk for ci in mine]).order_by("starts_at", "pk"):
        by_ci.setdefault(window.ci_id, []).append(window)
    found = []
    for ci in mine:
        windows = by_ci.get(ci.pk)
        if not windows:
            continue
        spans = merged([span for window in windows for span in occurrences(window, start, end)])
        if any(begin <= start and end <= finish for begin, finish in spans):
            continue
        upcoming = sorted(((span, window) for window in windows
                           for span in next_occurrences(window, start, NEXT_WINDOWS)),
                          key=lambda item: (item[0], item[1].pk))[:NEXT_WINDOWS]
        listed = ", ".join(describe_span(span, window.timezone) for span, window in upcoming)
        reason = _("%(ci)s: %(when)s is outside its maintenance windows (next: "
                   "%(next)s).") % {"ci": ci.name, "when": _when(start, end),
                                    "next": listed or _("none")}
        found.append(FoundConflict(ConflictKind.OUTSIDE_MAINTENANCE, _clip(reason), ci=ci,
                                   window=upcoming[0][1] if upcoming else windows[0]))
    return found


def _freezes(start: dt.datetime, end: dt.datetime, mine: list[ConfigurationItem],
             depth: int, types: dict[int, tuple[str, str]], *,
             blocking: bool) -> list[FoundConflict]:
    windows = may_occur_within(active_windows(WindowKind.FREEZE), start, end)
    if not windows.exists():
        return []  # no walk through the relationships of thousands of devices for nothing
    reached = _reach([ci.pk for ci in mine], depth, direction="up",
                     type_ids=list(types)) if mine else {}
    candidates = windows.filter(
        Q(ci__isnull=True) | Q(ci_id__in=list(reached))).order_by("starts_at", "pk")
    hits = [(window, spans) for window in candidates
            if (spans := occurrences(window, start, end))]
    names = _names({node for window, _spans in hits if window.ci_id
                    for node in _path(reached, window.ci_id)})
    by_pk = {ci.pk: ci for ci in mine}
    found = []
    for window, spans in hits:
        values = {"name": window.name, "when": describe_span(spans[0], window.timezone)}
        ci = None
        if window.ci_id is None:
            reason = _("Inside the change freeze “%(name)s” (%(when)s), which applies "
                       "everywhere.") % values
        elif reached[window.ci_id].distance == 0:
            ci = window.ci
            reason = _("Inside the change freeze “%(name)s” on %(ci)s (%(when)s).") % {
                **values, "ci": window.ci.name}
        else:
            ci = by_pk.get(reached[window.ci_id].root)
            reason = _("Inside the change freeze “%(name)s” on %(ci)s (%(when)s): "
                       "%(relation)s.") % {
                **values, "ci": window.ci.name,
                "relation": _relation_text(reached, window.ci_id, names, types)}
        if window.reason:
            reason += " " + _("Why: %(reason)s") % {"reason": window.reason}
        found.append(FoundConflict(ConflictKind.FREEZE, _clip(reason), ci=ci, window=window,
                                   blocking=blocking))
    return found


def freeze_override_allowed(change: Any, values: dict[str, Any]) -> bool:
    """An emergency change, authorised (or allowed approval after the fact), with a
    reason to override the freeze."""
    reason = values.get("freeze_override_reason", getattr(change, "freeze_override_reason", ""))
    return (change.type == ChangeType.EMERGENCY and bool((reason or "").strip())
            and bool(change.authorized_at or change.retro_approval_due))


def _planned(change: Any, start: dt.datetime | None,
             end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime] | None:
    start = start if start is not None else change.planned_start
    end = end if end is not None else change.planned_end
    if start is None or end is None or end <= start:
        return None
    return start, end


def conflicts_detect(change: Change, start: dt.datetime | None = None,
                     end: dt.datetime | None = None) -> list[FoundConflict]:
    """The conflicts of ``change`` planned from ``start`` to ``end`` (its planned window
    when not given): overlapping changes, then maintenance misfits, then freezes. A read:
    nothing is stored."""
    planned = _planned(change, start, end)
    if planned is None:
        return []
    start, end = planned
    depth = ChangeSettings.current().conflict_depth
    mine = _affected(change)
    types = _impact_types()
    blocking = not freeze_override_allowed(change, {})
    return [*_overlaps(change, start, end, mine, depth, types),
            *_outside_maintenance(start, end, mine),
            *_freezes(start, end, mine, depth, types, blocking=blocking)]


@transaction.atomic
def conflicts_refresh(*, change: Change) -> list[ChangeConflict]:
    """Replace the stored conflicts of ``change`` with those of its planned window
    (none without one). Called inside the transaction that schedules or reschedules it."""
    ChangeConflict.objects.filter(change=change).delete()
    rows = [ChangeConflict(change=change, kind=item.kind, reason=item.reason, ci=item.ci,
                           other_change=item.other_change, window=item.window)
            for item in conflicts_detect(change)]
    return ChangeConflict.objects.bulk_create(rows)


@transaction.atomic
@as_actor
def conflicts_check(*, actor: Any, change: Change) -> list[ChangeConflict]:
    """Check a change's conflicts again (the desk's button): desk staff, audited."""
    require_permission(actor, DESK)
    change = Change.objects.select_for_update().get(pk=change.pk)
    before = list(ChangeConflict.objects.filter(change=change).values_list("reason", flat=True))
    rows = conflicts_refresh(change=change)
    after = [row.reason for row in rows]
    audit_record(action=AuditAction.UPDATE, target=change,
                 changes={"conflicts": [before, after]} if before != after else {},
                 message=ngettext("Conflicts checked: %(n)d found",
                                  "Conflicts checked: %(n)d found", len(rows)) % {
                     "n": len(rows)})
    return rows


# --- The scheduling guard ---------------------------------------------------------------

def _freeze_reasons(change: Any, start: dt.datetime, end: dt.datetime) -> list[str]:
    depth = ChangeSettings.current().conflict_depth
    mine = _affected(change)
    return [item.reason for item in _freezes(start, end, mine, depth, _impact_types(),
                                             blocking=True)]


FREEZE_RULE = gettext_noop(
    "Scheduling into a change freeze needs an authorised emergency change with a reason "
    "to override the freeze.")


def freeze_problems(change: Any, values: dict[str, Any]) -> Problems:
    """Field errors when the change would be scheduled into a freeze without an
    approved emergency override; None when it may be scheduled. ``values`` may hold
    ``planned_start``, ``planned_end`` and ``freeze_override_reason`` replacing the
    change's."""
    planned = _planned(change, values.get("planned_start"), values.get("planned_end"))
    if planned is None:
        return None  # the dates' own guard reports them
    reasons = _freeze_reasons(change, *planned)
    if not reasons or freeze_override_allowed(change, values):
        return None
    return {"planned_start": [*reasons, _(FREEZE_RULE)]}


def reschedule_problems(change: Any, start: dt.datetime | None,
                        end: dt.datetime | None) -> Problems:
    """The same rule when a scheduled change's dates change (``change_update``)."""
    return freeze_problems(change, {"planned_start": start, "planned_end": end})


def freezes_touching(cis: list[ConfigurationItem], start: dt.datetime,
                     end: dt.datetime) -> dict[int | None, list[str]]:
    """Freezes from ``start`` to ``end`` that touch these CIs (directly or through
    relationships up to the conflict depth), by CI id; ``None`` holds the freezes that
    apply everywhere. Remediation runs use it to keep out of freezes."""
    found: dict[int | None, list[str]] = {}
    depth = ChangeSettings.current().conflict_depth
    for item in _freezes(start, end, cis, depth, _impact_types(), blocking=True):
        found.setdefault(item.ci.pk if item.ci is not None and item.window.ci_id else None,
                         []).append(item.reason)
    return found
