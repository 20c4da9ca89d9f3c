"""Maintenance and freeze windows: when a window occurs (``occurrences``, pure) and the
services that create, change and remove windows.

A recurring window repeats its first occurrence's wall-clock times in its own time zone:
a weekly Sunday 02:00–06:00 Europe/Paris is 02:00–06:00 Paris time on every Sunday, summer
or winter, so its UTC instants move by an hour across daylight saving. A monthly window
repeats on the same day of the month and skips months without that day (a window on the
31st occurs seven times a year). ``repeat_until`` is the last local date an occurrence
may start on.

Expansion never walks from the first occurrence: it computes the index of the first
occurrence that can reach the asked range and stops after the range, so its cost follows
the range asked about, not the window's age."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor, current_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from itsm.errors import DomainError

from .models import Recurrence, ScheduleWindow

UTC = dt.UTC
MANAGE = "changes.manage_changes"
WINDOW_FIELDS = ("kind", "name", "reason", "ci", "starts_at", "ends_at", "recurrence",
                 "repeat_until", "timezone", "is_active")
WINDOW_EDITABLE = WINDOW_FIELDS
# Local wall-clock arithmetic can differ from UTC by a time zone's offset change; this
# slack (more than any real offset change) makes sure no occurrence is missed at the edges.
SLACK = dt.timedelta(days=2)
# Guards against a caller asking about centuries of a daily window.
MAX_OCCURRENCES = 20_000

Span = tuple[dt.datetime, dt.datetime]


@lru_cache(maxsize=128)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(instant: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The naive wall-clock time of ``instant`` in ``tz``."""
    return instant.astimezone(tz).replace(tzinfo=None)


def _instant(local: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of a wall-clock time. A time the clocks skip is read with the
    offset before the change (02:30 on the spring-forward night is 03:30 summer time); a
    repeated one as its first pass."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _add_months(year: int, month: int, count: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + count
    return index // 12, index % 12 + 1


def _months_between(earlier: dt.datetime, later: dt.datetime) -> int:
    return (later.year - earlier.year) * 12 + (later.month - earlier.month)


def _nth_local_start(base: dt.datetime, recurrence: str, index: int) -> dt.datetime | None:
    """The wall-clock start of occurrence ``index``; None when that month has no such
    day (monthly)."""
    if recurrence == Recurrence.DAILY:
        return base + dt.timedelta(days=index)
    if recurrence == Recurrence.WEEKLY:
        return base + dt.timedelta(days=7 * index)
    year, month = _add_months(base.year, base.month, index)
    try:
        return base.replace(year=year, month=month)
    except ValueError:  # the 31st in a 30-day month, 29 February in other years
        return None


def _first_index(base: dt.datetime, recurrence: str, local_from: dt.datetime) -> int:
    """An index at or before the first occurrence that can end after ``local_from``."""
    if recurrence == Recurrence.MONTHLY:
        return max(0, _months_between(base, local_from) - 1)
    days = 1 if recurrence == Recurrence.DAILY else 7
    return max(0, (local_from - base).days // days - 1)


def occurrences(window: Any, start: dt.datetime, end: dt.datetime) -> list[Span]:
    """The occurrences of ``window`` (anything with the fields of ``ScheduleWindow``)
    overlapping ``[start, end)``, in order, as UTC ``(start, end)`` pairs. Pure: the
    window's ``is_active`` is the caller's business."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("occurrences() needs timezone-aware datetimes")
    if end <= start or window.ends_at <= window.starts_at:
        return []
    first = (window.starts_at.astimezone(UTC), window.ends_at.astimezone(UTC))
    recurrence = window.recurrence
    if recurrence not in (Recurrence.DAILY, Recurrence.WEEKLY, Recurrence.MONTHLY):
        return [first] if first[0] < end and first[1] > start else []
    if first[0] >= end:
        return []
    tz = zone(window.timezone)
    base = _local(window.starts_at, tz)
    length = _local(window.ends_at, tz) - base  # wall-clock length, kept across DST
    until: dt.date | None = window.repeat_until
    local_from = _local(start, tz) - length - SLACK
    local_to = _local(end, tz) + SLACK
    found: list[Span] = []
    index = _first_index(base, recurrence, local_from)
    for _step in range(MAX_OCCURRENCES):
        local_start = _nth_local_start(base, recurrence, index)
        index += 1
        if local_start is None:
            continue
        if local_start > local_to or (until is not None and local_start.date() > until):
            break
        # The first occurrence is the stored one (its instants are exact even in an
        # hour the clocks repeat).
        span = first if local_start == base else (
            _instant(local_start, tz), _instant(local_start + length, tz))
        if span[1] <= span[0]:
            continue  # wholly inside an hour the clocks skip: it does not happen that day
        if span[0] < end and span[1] > start:
            found.append(span)
    return found


def next_occurrences(window: Any, after: dt.datetime, count: int = 3) -> list[Span]:
    """Up to ``count`` occurrences not over at ``after``, in order."""
    recurrence = window.recurrence
    if recurrence == Recurrence.MONTHLY:
        # A day that only some months have (the 31st) still comes within a year.
        horizon = dt.timedelta(days=31 * (count + 12))
    elif recurrence in (Recurrence.DAILY, Recurrence.WEEKLY):
        period = 1 if recurrence == Recurrence.DAILY else 7
        horizon = dt.timedelta(days=period * (count + 1))
    else:
        horizon = max(window.ends_at - after, dt.timedelta(days=1))
    return occurrences(window, after, after + horizon)[:count]


def merged(spans: list[Span]) -> list[Span]:
    """Overlapping or touching spans joined, in order."""
    result: list[Span] = []
    for begin, finish in sorted(spans):
        if result and begin <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], finish))
        else:
            result.append((begin, finish))
    return result


def describe_span(span: Span, tz_name: str) -> str:
    """``Sun 2026-11-29 02:00–06:00 Europe/Paris`` (the end's date when it differs)."""
    tz = zone(tz_name)
    begin, finish = span[0].astimezone(tz), span[1].astimezone(tz)
    end_text = finish.strftime("%H:%M") if finish.date() == begin.date() else \
        finish.strftime("%a %Y-%m-%d %H:%M")
    return f"{begin:%a %Y-%m-%d %H:%M}–{end_text} {tz_name}"


def active_windows(kind: str | None = None) -> Any:
    """Active windows (of ``kind``), with their CI."""
    windows = ScheduleWindow.objects.filter(is_active=True).select_related("ci")
    return windows.filter(kind=kind) if kind else windows


def may_occur_within(queryset: Any, start: dt.datetime, end: dt.datetime) -> Any:
    """Narrow windows to those that can have an occurrence overlapping ``[start, end)``
    (exact for one-off windows; recurring ones are expanded by the caller)."""
    from django.db.models import Q

    once = Q(recurrence=Recurrence.NONE, starts_at__lt=end, ends_at__gt=start)
    repeating = (~Q(recurrence=Recurrence.NONE) & Q(starts_at__lt=end)
                 & (Q(repeat_until__isnull=True)
                    | Q(repeat_until__gte=(start - SLACK).date())))
    return queryset.filter(once | repeating)


# --- Services ---------------------------------------------------------------------------

def _check_times(window: ScheduleWindow) -> None:
    for name, label in (("starts_at", _("Start")), ("ends_at", _("End"))):
        value = getattr(window, name)
        if not isinstance(value, dt.datetime):
            message = _("%(label)s: enter a date and time.") % {"label": label}
            raise DomainError(message, fields={name: [message]})
        if value.tzinfo is None:
            message = _("%(label)s: the time needs a time zone.") % {"label": label}
            raise DomainError(message, fields={name: [message]})


def _creator(actor: Any) -> int | None:
    return actor.pk if actor is not None else current_actor().user_id


@transaction.atomic
@as_actor
def window_create(*, actor: Any, kind: str, name: str, starts_at: dt.datetime,
                  ends_at: dt.datetime, ci: Any = None, reason: str = "",
                  recurrence: str = Recurrence.NONE, repeat_until: dt.date | None = None,
                  timezone: str = "UTC", is_active: bool = True) -> ScheduleWindow:
    """Add a maintenance window (of a CI or service) or a freeze (global without a CI).
    The model's rules apply: the end after the start, a repeating window shorter than its
    period (or it overlaps itself), maintenance on a CI, a known time zone."""
    require_permission(actor, MANAGE)
    window = ScheduleWindow(kind=kind, name=(name or "").strip(), reason=reason or "",
                            ci=ci, starts_at=starts_at, ends_at=ends_at,
                            recurrence=recurrence or Recurrence.NONE,
                            repeat_until=repeat_until, timezone=(timezone or "").strip(),
                            is_active=is_active, created_by_id=_creator(actor))
    _check_times(window)
    validated(window, exclude=["created_by"])
    window.save()
    audit_record(action=AuditAction.CREATE, target=window,
                 changes=diff({}, snapshot(window, WINDOW_FIELDS)),
                 message=_("%(kind)s “%(name)s” added") % {
                     "kind": window.get_kind_display(), "name": window.name})
    return window


@transaction.atomic
@as_actor
def window_update(*, actor: Any, window: ScheduleWindow, **changes: Any) -> ScheduleWindow:
    """Change a window's fields (any of ``WINDOW_EDITABLE``); the same rules as on
    creation. Conflicts already stored on changes stay until they are checked again."""
    require_permission(actor, MANAGE)
    unknown = set(changes) - set(WINDOW_EDITABLE)
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %(names)s") % {
            "names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in sorted(unknown)})
    window = ScheduleWindow.objects.select_for_update().get(pk=window.pk)
    before = snapshot(window, changes)
    for name, value in changes.items():
        if name in ("name", "timezone") and isinstance(value, str):
            value = value.strip()
        setattr(window, name, value)
    _check_times(window)
    validated(window, exclude=["created_by"])
    changed = diff(before, snapshot(window, changes))
    if changed:
        window.save()
        audit_record(action=AuditAction.UPDATE, target=window, changes=changed)
    return window


@transaction.atomic
@as_actor
def window_delete(*, actor: Any, window: ScheduleWindow) -> None:
    """Remove a window. Stored conflicts naming it go with it (they are recomputed when
    their change is checked again)."""
    require_permission(actor, MANAGE)
    window = ScheduleWindow.objects.select_for_update().get(pk=window.pk)
    audit_record(action=AuditAction.DELETE, target=window,
                 changes={name: [audit_value(value), None] for name, value in
                          snapshot(window, WINDOW_FIELDS).items()})
    window.delete()
