"""Writes to the SLA definitions: business calendars (weekly intervals, holidays,
exceptions) and agreements with their targets and thresholds. The desk and the API call
these; each checks ``sla.manage_sla``, validates everything before writing anything,
and audits the change. The engine sees a change as soon as it commits (the definition
plan is invalidated by model signals, ``sla.apps``).

What is refused (``DomainError`` naming the field):
- a calendar: unknown time zone; an interval that is inverted, outside the day or
  overlapping another of the same day (or exception); no working time at all (no weekly
  interval and no exception with hours); two holidays or exceptions on one date;
- holiday generation: a country or region the ``holidays`` package does not know;
- an agreement: a priority outside 1–4; a category that is unknown or inactive; a
  service that is not a business service; an inactive assignment group; a blank
  department; conditions that can never match because an earlier active agreement of
  the same kind covers every ticket this one would (it is shadowed);
- a target: a goal of zero, two targets for one metric, a state token the ticket type
  does not have, one token in two of pause/stop/cancel, a reset field the ticket does
  not have;
- a threshold: a percent outside 1–100, two thresholds at one percent, an unknown
  action, reassignment without a team (or a team without the reassign action).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import available_timezones

import holidays as holidays_package
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team
from accounts.services import reject_unknown_fields, require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from itsm.errors import Conflict, DomainError

from .models import (
    MINUTES_PER_DAY,
    Agreement,
    AgreementKind,
    BusinessCalendar,
    CalendarException,
    Holiday,
    HolidaySource,
    Metric,
    Target,
    Threshold,
    ThresholdAction,
    TicketType,
    Timer,
    Weekday,
    WorkingInterval,
    minutes_label,
)

PERMISSION = "sla.manage_sla"
CALENDAR_FIELDS = ("name", "description", "time_zone", "holiday_country",
                   "holiday_subdivision")
AGREEMENT_FIELDS = ("name", "kind", "description", "order", "is_active", "ticket_type",
                    "priorities", "caller_vip", "caller_departments", "counterpart")
AGREEMENT_RELATIONS = ("categories", "services", "assignment_groups")
TARGET_FIELDS = ("metric", "goal_minutes", "calendar", "start_on", "pause_on", "stop_on",
                 "cancel_on", "reset_on", "thresholds")
THRESHOLD_FIELDS = ("percent", "actions", "reassign_to", "working_hours_only")
DEFAULT_THRESHOLDS = (50, 75, 90, 100)
PRIORITIES = (1, 2, 3, 4)
DAY_KEYS = tuple(day.name.lower() for day in Weekday)  # "monday" … "sunday"
ORDER_STEP = 10

Interval = tuple[int, int]


def _refuse(field: str, message: str) -> DomainError:
    return DomainError(message, fields={field: [message]})


# --- Intervals ------------------------------------------------------------------------

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_time(text: str, field: str) -> int:
    """``"09:30"`` as minutes after midnight; ``"24:00"`` is the end of the day."""
    match = _TIME.match(str(text))
    if not match:
        raise _refuse(field, _("Enter times as HH:MM, such as 09:00 (got %(text)s).")
                      % {"text": text})
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise _refuse(field, _("%(text)s is not a time of day (00:00 to 24:00).")
                      % {"text": text})
    return hours * 60 + minutes


def parse_intervals(value: str | Iterable[Any], field: str) -> list[Interval]:
    """Intervals written as ``"09:00-12:00, 13:00-17:00"`` (or a list of such strings,
    or of ``[start_minute, end_minute]`` pairs), not yet checked against each other."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,;\n]", value) if p.strip()]
    else:
        parts = list(value)
    result = []
    for part in parts:
        if isinstance(part, list | tuple) and len(part) == 2:
            start, end = part
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
                raise _refuse(field, _("Give an interval as two minute counts, such as "
                                       "[540, 1020]."))
            result.append((start, end))
            continue
        pieces = str(part).split("-")
        if len(pieces) != 2:
            raise _refuse(field, _("Write an interval as HH:MM-HH:MM, such as 09:00-17:00 "
                                   "(got %(text)s).") % {"text": str(part).strip()})
        result.append((parse_time(pieces[0], field), parse_time(pieces[1], field)))
    return result


def format_intervals(intervals: Iterable[Iterable[int]]) -> list[str]:
    return [f"{minutes_label(start)}-{minutes_label(end)}" for start, end in intervals]


def check_intervals(intervals: Iterable[Iterable[int]], field: str) -> list[Interval]:
    """Sorted intervals, each within the day and in order, none overlapping another
    (touching is allowed: 09:00-12:00 and 12:00-17:00)."""
    ordered = sorted((int(a), int(b)) for a, b in intervals)
    for start, end in ordered:
        if not 0 <= start <= MINUTES_PER_DAY or not 0 <= end <= MINUTES_PER_DAY:
            raise _refuse(field, _("An interval must lie within the day (00:00 to 24:00)."))
        if start >= end:
            raise _refuse(field, _("The interval %(from)s-%(until)s ends before it starts.")
                          % {"from": minutes_label(start), "until": minutes_label(end)})
    for (start_a, end_a), (start_b, end_b) in itertools.pairwise(ordered):
        if start_b < end_a:
            raise _refuse(field, _("The intervals %(a)s and %(b)s overlap.") % {
                "a": f"{minutes_label(start_a)}-{minutes_label(end_a)}",
                "b": f"{minutes_label(start_b)}-{minutes_label(end_b)}"})
    return ordered


def _weekly(value: Mapping[Any, Any]) -> dict[int, list[Interval]]:
    """``{weekday (0-6 or "monday"): intervals}`` checked, for all seven days."""
    weekly: dict[int, list[Interval]] = {day: [] for day in range(7)}
    for key, intervals in value.items():
        if isinstance(key, int) and 0 <= key <= 6:
            day = key
        elif str(key).lower() in DAY_KEYS:
            day = DAY_KEYS.index(str(key).lower())
        else:
            raise _refuse("weekly", _("%(key)s is not a day of the week (monday to sunday).")
                          % {"key": key})
        field = f"weekly.{DAY_KEYS[day]}"
        weekly[day] = check_intervals(parse_intervals(intervals or [], field), field)
    return weekly


def _exceptions(value: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for index, row in enumerate(value):
        field = f"exceptions.{index}"
        reject_unknown_fields(row, ("date", "reason", "intervals"))
        date = _date(row.get("date"), f"{field}.date")
        if date in seen:
            raise _refuse(f"{field}.date", _("There is already an exception on %(date)s.")
                          % {"date": date.isoformat()})
        seen.add(date)
        reason = str(row.get("reason") or "").strip()
        if not reason:
            raise _refuse(f"{field}.reason", _("Say why this day is different."))
        intervals = check_intervals(parse_intervals(row.get("intervals") or [],
                                                    f"{field}.intervals"),
                                    f"{field}.intervals")
        rows.append({"date": date, "reason": reason[:150], "intervals": intervals})
    return sorted(rows, key=lambda row: row["date"])


def _holidays(value: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for index, row in enumerate(value):
        field = f"holidays.{index}"
        reject_unknown_fields(row, ("date", "name", "source"))
        date = _date(row.get("date"), f"{field}.date")
        if date in seen:
            raise _refuse(f"{field}.date", _("There is already a holiday on %(date)s.")
                          % {"date": date.isoformat()})
        seen.add(date)
        name = str(row.get("name") or "").strip()
        if not name:
            raise _refuse(f"{field}.name", _("Name the holiday."))
        source = row.get("source") or HolidaySource.MANUAL
        if source not in HolidaySource.values:
            raise _refuse(f"{field}.source", _("Choose manual or generated."))
        rows.append({"date": date, "name": name[:150], "source": source})
    return rows


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as error:
        raise _refuse(field, _("Enter a date as YYYY-MM-DD.")) from error


# --- Calendars ------------------------------------------------------------------------

def _check_calendar_fields(calendar: BusinessCalendar) -> None:
    if calendar.time_zone not in available_timezones():
        raise _refuse("time_zone", _("%(zone)s is not a time zone (use a name such as "
                                     "Europe/London).") % {"zone": calendar.time_zone})
    calendar.holiday_country = (calendar.holiday_country or "").strip().upper()
    calendar.holiday_subdivision = (calendar.holiday_subdivision or "").strip().upper()
    if calendar.holiday_country:
        _holiday_source(calendar.holiday_country, calendar.holiday_subdivision,
                        timezone.now().year)
    elif calendar.holiday_subdivision:
        raise _refuse("holiday_country", _("Give the country of the region."))
    validated(calendar)


def _check_working_time(weekly: Mapping[int, list[Interval]],
                        exceptions: Iterable[Mapping[str, Any]]) -> None:
    if not any(weekly.values()) and not any(row["intervals"] for row in exceptions):
        raise DomainError(
            _("The calendar has no working time at all: give at least one weekly "
              "interval."), fields={"weekly": [_("Give at least one working interval.")]})


def _weekly_of(calendar: BusinessCalendar) -> dict[int, list[Interval]]:
    weekly: dict[int, list[Interval]] = {day: [] for day in range(7)}
    for interval in calendar.intervals.all():
        weekly[interval.weekday].append((interval.start_minute, interval.end_minute))
    return weekly


def weekly_labels(weekly: Mapping[int, list[Interval]]) -> dict[str, list[str]]:
    return {DAY_KEYS[day]: format_intervals(weekly.get(day, [])) for day in range(7)}


def _write_weekly(calendar: BusinessCalendar, weekly: Mapping[int, list[Interval]]) -> None:
    calendar.intervals.all().delete()
    WorkingInterval.objects.bulk_create(
        WorkingInterval(calendar=calendar, weekday=day, start_minute=start, end_minute=end)
        for day, intervals in weekly.items() for start, end in intervals)


def _exception_rows(calendar: BusinessCalendar) -> list[dict[str, Any]]:
    return [{"date": e.date, "reason": e.reason, "intervals": [tuple(p) for p in e.intervals]}
            for e in calendar.exceptions.all()]


def _exceptions_label(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    return [f"{row['date']:%Y-%m-%d} {row['reason']}: "
            f"{', '.join(format_intervals(row['intervals'])) or _('closed')}" for row in rows]


@transaction.atomic
@as_actor
def calendar_create(*, actor: Any, name: str, weekly: Mapping[Any, Any],
                    exceptions: Iterable[Mapping[str, Any]] = (),
                    holidays: Iterable[Mapping[str, Any]] = (),
                    **fields: Any) -> BusinessCalendar:
    """A calendar with its weekly intervals (``{"monday": ["09:00-17:00"], …}``), and
    optionally exceptions and hand-entered holidays."""
    require_permission(actor, PERMISSION)
    reject_unknown_fields(fields, CALENDAR_FIELDS)
    calendar = BusinessCalendar(name=name, **fields)
    _check_calendar_fields(calendar)
    week = _weekly(weekly)
    exception_rows = _exceptions(exceptions)
    holiday_rows = _holidays(holidays)
    _check_working_time(week, exception_rows)
    calendar.save()
    _write_weekly(calendar, week)
    CalendarException.objects.bulk_create(CalendarException(calendar=calendar, **row)
                                          for row in exception_rows)
    Holiday.objects.bulk_create(Holiday(calendar=calendar, **row) for row in holiday_rows)
    changes = diff({}, snapshot(calendar, CALENDAR_FIELDS))
    changes["weekly"] = [None, weekly_labels(week)]
    if exception_rows:
        changes["exceptions"] = [None, _exceptions_label(exception_rows)]
    if holiday_rows:
        changes["holidays"] = [None, [f"{r['date']:%Y-%m-%d} {r['name']}" for r in holiday_rows]]
    audit_record(action=AuditAction.CREATE, target=calendar, changes=changes)
    return calendar


@transaction.atomic
@as_actor
def calendar_update(*, actor: Any, calendar: BusinessCalendar,
                    weekly: Mapping[Any, Any] | None = None,
                    exceptions: Iterable[Mapping[str, Any]] | None = None,
                    holidays: Iterable[Mapping[str, Any]] | None = None,
                    **changes: Any) -> BusinessCalendar:
    """Change a calendar's fields; ``weekly``, ``exceptions`` and ``holidays``, when
    given, replace what the calendar had."""
    require_permission(actor, PERMISSION)
    reject_unknown_fields(changes, CALENDAR_FIELDS)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    before = snapshot(calendar, CALENDAR_FIELDS)
    for name, value in changes.items():
        setattr(calendar, name, value)
    _check_calendar_fields(calendar)
    old_week = _weekly_of(calendar)
    old_exceptions = _exception_rows(calendar)
    week = _weekly(weekly) if weekly is not None else old_week
    exception_rows = _exceptions(exceptions) if exceptions is not None else old_exceptions
    holiday_rows = _holidays(holidays) if holidays is not None else None
    _check_working_time(week, exception_rows)

    changed = diff(before, snapshot(calendar, CALENDAR_FIELDS))
    if changed:
        calendar.save()
    if weekly is not None and week != old_week:
        _write_weekly(calendar, week)
        changed["weekly"] = [weekly_labels(old_week), weekly_labels(week)]
    if exceptions is not None and exception_rows != old_exceptions:
        calendar.exceptions.all().delete()
        CalendarException.objects.bulk_create(CalendarException(calendar=calendar, **row)
                                              for row in exception_rows)
        changed["exceptions"] = [_exceptions_label(old_exceptions),
                                 _exceptions_label(exception_rows)]
    if holiday_rows is not None:
        old = [f"{h.date:%Y-%m-%d} {h.name}" for h in calendar.holidays.all()]
        new = [f"{r['date']:%Y-%m-%d} {r['name']}" for r in sorted(holiday_rows,
                                                                  key=lambda r: r["date"])]
        if old != new:
            calendar.holidays.all().delete()
            Holiday.objects.bulk_create(Holiday(calendar=calendar, **row)
                                        for row in holiday_rows)
            changed["holidays"] = [old, new]
    if changed:
        calendar.save(update_fields=["updated_at"])  # tells the engine's plan it changed
        audit_record(action=AuditAction.UPDATE, target=calendar, changes=changed)
    return calendar


@transaction.atomic
@as_actor
def calendar_delete(*, actor: Any, calendar: BusinessCalendar) -> None:
    """Delete a calendar no target and no timer measures with."""
    require_permission(actor, PERMISSION)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    users = sorted({str(t.agreement) for t in calendar.targets.select_related("agreement")})
    if users:
        raise Conflict(
            _("%(name)s is used by the targets of %(agreements)s: give them another "
              "calendar first.") % {"name": calendar.name, "agreements": ", ".join(users)},
            code="in_use", fields={"calendar": [_("In use by targets.")]})
    if Timer.objects.filter(calendar=calendar).exists():
        raise Conflict(
            _("%(name)s measured tickets' timers, which keep it: it cannot be deleted.")
            % {"name": calendar.name}, code="in_use",
            fields={"calendar": [_("In use by timers.")]})
    audit_record(action=AuditAction.DELETE, target=calendar,
                 changes=diff(snapshot(calendar, CALENDAR_FIELDS), {}))
    calendar.delete()


def _touch(calendar: BusinessCalendar) -> None:
    calendar.save(update_fields=["updated_at"])


@transaction.atomic
@as_actor
def holiday_add(*, actor: Any, calendar: BusinessCalendar, date: Any, name: str) -> Holiday:
    require_permission(actor, PERMISSION)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    day = _date(date, "date")
    name = (name or "").strip()
    if not name:
        raise _refuse("name", _("Name the holiday."))
    existing = calendar.holidays.filter(date=day).first()
    if existing is not None:
        raise _refuse("date", _("%(date)s is already a holiday (%(name)s).")
                      % {"date": day.isoformat(), "name": existing.name})
    holiday = Holiday.objects.create(calendar=calendar, date=day, name=name[:150],
                                     source=HolidaySource.MANUAL)
    _touch(calendar)
    audit_record(action=AuditAction.UPDATE, target=calendar,
                 changes={"holidays": [None, f"{day:%Y-%m-%d} {holiday.name}"]},
                 message=_("Holiday added"))
    return holiday


@transaction.atomic
@as_actor
def holiday_remove(*, actor: Any, holiday: Holiday) -> None:
    require_permission(actor, PERMISSION)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=holiday.calendar_id)
    label = f"{holiday.date:%Y-%m-%d} {holiday.name}"
    holiday.delete()
    _touch(calendar)
    audit_record(action=AuditAction.UPDATE, target=calendar,
                 changes={"holidays": [label, None]}, message=_("Holiday removed"))


def _holiday_source(country: str, subdivision: str, year: int) -> dict[dt.date, str]:
    try:
        found = holidays_package.country_holidays(country, subdiv=subdivision or None,
                                                  years=year)
    except NotImplementedError as error:
        if subdivision and country in holidays_package.list_supported_countries():
            raise _refuse("holiday_subdivision", _(
                "%(country)s has no region %(region)s in the holidays package.")
                % {"country": country, "region": subdivision}) from error
        raise _refuse("holiday_country", _(
            "%(country)s is not a country the holidays package knows (use a two-letter "
            "code such as GB).") % {"country": country}) from error
    return dict(found.items())


@transaction.atomic
@as_actor
def holidays_generate(*, actor: Any, calendar: BusinessCalendar, year: int,
                      country: str | None = None,
                      subdivision: str | None = None) -> list[Holiday]:
    """Add the public holidays of a country (and region) for ``year`` from the
    ``holidays`` package. Dates that already hold a holiday keep it (hand-entered ones
    included), so running it twice adds nothing. The country and region given become
    the calendar's defaults. Returns the holidays added."""
    require_permission(actor, PERMISSION)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2200:
        raise _refuse("year", _("Enter a year between 1900 and 2200."))
    country = (country if country is not None else calendar.holiday_country).strip().upper()
    subdivision = (subdivision if subdivision is not None
                   else calendar.holiday_subdivision).strip().upper()
    if not country:
        raise _refuse("holiday_country", _("Give the country whose holidays to add."))
    found = _holiday_source(country, subdivision, year)
    taken = set(calendar.holidays.filter(date__year=year).values_list("date", flat=True))
    added = Holiday.objects.bulk_create(
        Holiday(calendar=calendar, date=day, name=name[:150], source=HolidaySource.GENERATED)
        for day, name in sorted(found.items()) if day not in taken)
    changes: dict[str, Any] = {}
    if (calendar.holiday_country, calendar.holiday_subdivision) != (country, subdivision):
        changes = diff(snapshot(calendar, ("holiday_country", "holiday_subdivision")),
                       {"holiday_country": country, "holiday_subdivision": subdivision})
        calendar.holiday_country, calendar.holiday_subdivision = country, subdivision
    if added or changes:
        calendar.save()
        if added:
            changes["holidays"] = [None, [f"{h.date:%Y-%m-%d} {h.name}" for h in added]]
        audit_record(action=AuditAction.UPDATE, target=calendar, changes=changes,
                     message=_("Holidays generated for %(place)s %(year)s") % {
                         "place": "/".join(p for p in (country, subdivision) if p),
                         "year": year})
    return added


@transaction.atomic
@as_actor
def exception_set(*, actor: Any, calendar: BusinessCalendar, date: Any, reason: str,
                  intervals: Any = ()) -> CalendarException:
    """Give a date its own working time (no intervals: closed all day), replacing the
    exception that date had."""
    require_permission(actor, PERMISSION)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    day = _date(date, "date")
    reason = (reason or "").strip()
    if not reason:
        raise _refuse("reason", _("Say why this day is different."))
    pairs = check_intervals(parse_intervals(intervals or [], "intervals"), "intervals")
    existing = calendar.exceptions.filter(date=day).first()
    old = _exceptions_label([_exception_rows_one(existing)]) if existing else None
    if not pairs and not any(_weekly_of(calendar).values()) and not calendar.exceptions \
            .exclude(date=day).exclude(intervals=[]).exists():
        raise _refuse("intervals", _("The calendar would have no working time at all."))
    exception, _created = CalendarException.objects.update_or_create(
        calendar=calendar, date=day, defaults={"reason": reason[:150],
                                               "intervals": [list(p) for p in pairs]})
    _touch(calendar)
    audit_record(action=AuditAction.UPDATE, target=calendar, changes={"exceptions": [
        old, _exceptions_label([{"date": day, "reason": reason, "intervals": pairs}])]},
        message=_("Exception set"))
    return exception


def _exception_rows_one(exception: CalendarException) -> dict[str, Any]:
    return {"date": exception.date, "reason": exception.reason,
            "intervals": [tuple(p) for p in exception.intervals]}


@transaction.atomic
@as_actor
def exception_remove(*, actor: Any, exception: CalendarException) -> None:
    require_permission(actor, PERMISSION)
    calendar = BusinessCalendar.objects.select_for_update().get(pk=exception.calendar_id)
    if exception.intervals and not any(_weekly_of(calendar).values()) and not \
            calendar.exceptions.exclude(pk=exception.pk).exclude(intervals=[]).exists():
        raise _refuse("exception", _("The calendar would have no working time at all."))
    label = _exceptions_label([_exception_rows_one(exception)])
    exception.delete()
    _touch(calendar)
    audit_record(action=AuditAction.UPDATE, target=calendar,
                 changes={"exceptions": [label, None]}, message=_("Exception removed"))


# --- Agreements -----------------------------------------------------------------------

def state_tokens(ticket_type: str = TicketType.INCIDENT) -> list[tuple[str, str]]:
    """The states (and ``on_hold:<reason>``) a target's conditions may name, with
    labels."""
    from incidents.models import HoldReason, IncidentState

    tokens = [(str(state.value), str(state.label)) for state in IncidentState]
    tokens += [(f"{IncidentState.ON_HOLD.value}:{reason.value}",
                f"{IncidentState.ON_HOLD.label}: {reason.label}") for reason in HoldReason]
    return tokens


def reset_fields(ticket_type: str = TicketType.INCIDENT) -> list[tuple[str, str]]:
    """The ticket fields whose change may start a target again."""
    names = ("priority", "impact", "urgency", "assignment_group", "assignee", "category",
             "subcategory", "service", "ci")
    from incidents.models import Incident

    return [(name, str(Incident._meta.get_field(name).verbose_name)) for name in names]


def _tokens(value: Any, field: str, allowed: set[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise _refuse(field, _("Give a list."))
    result = []
    for token in value:
        token = str(token).strip()
        if token not in allowed:
            raise _refuse(field, _("%(token)s is not a state of the ticket (choose from "
                                   "%(choices)s).") % {"token": token,
                                                       "choices": ", ".join(sorted(allowed))})
        if token not in result:
            result.append(token)
    return result


def _thresholds(value: Any, field: str) -> list[dict[str, Any]]:
    if value is None:
        return [{"percent": p, "actions": [], "reassign_to": None,
                 "working_hours_only": False} for p in DEFAULT_THRESHOLDS]
    rows, seen = [], set()
    for index, row in enumerate(value):
        name = f"{field}.{index}"
        reject_unknown_fields(row, THRESHOLD_FIELDS)
        percent = row.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
            raise _refuse(f"{name}.percent", _("A threshold is a percent of the goal from 1 "
                                                "to 100 (100 is the breach)."))
        if percent in seen:
            raise _refuse(f"{name}.percent", _("There are two thresholds at %(p)s %%.")
                          % {"p": percent})
        seen.add(percent)
        actions = list(row.get("actions") or [])
        unknown = [a for a in actions if a not in ThresholdAction.values]
        if unknown:
            raise _refuse(f"{name}.actions", _("Unknown action %(a)s (choose from "
                                               "%(choices)s).") % {
                "a": unknown[0], "choices": ", ".join(ThresholdAction.values)})
        team = row.get("reassign_to")
        if team is not None and not isinstance(team, Team):
            team = Team.objects.filter(pk=team).first()
            if team is None:
                raise _refuse(f"{name}.reassign_to", _("No such team."))
        if ThresholdAction.REASSIGN in actions and team is None:
            raise _refuse(f"{name}.reassign_to", _("Choose the team to reassign to."))
        if team is not None and ThresholdAction.REASSIGN not in actions:
            raise _refuse(f"{name}.reassign_to",
                          _("A team to reassign to needs the reassign action."))
        if team is not None and not team.is_active:
            raise _refuse(f"{name}.reassign_to", _("%(team)s is inactive.")
                          % {"team": team.name})
        rows.append({"percent": percent, "actions": list(dict.fromkeys(actions)),
                     "reassign_to": team,
                     "working_hours_only": bool(row.get("working_hours_only", False))})
    return sorted(rows, key=lambda r: r["percent"])


def _targets(value: Iterable[Mapping[str, Any]], ticket_type: str) -> list[dict[str, Any]]:
    allowed = {token for token, _label in state_tokens(ticket_type)}
    fields = {name for name, _label in reset_fields(ticket_type)}
    rows, seen = [], set()
    for index, row in enumerate(value):
        name = f"targets.{index}"
        reject_unknown_fields(row, TARGET_FIELDS)
        metric = row.get("metric")
        if metric not in Metric.values:
            raise _refuse(f"{name}.metric", _("Choose one of: %(choices)s.")
                          % {"choices": ", ".join(Metric.values)})
        if metric in seen:
            raise _refuse(f"{name}.metric", _("There are two targets for %(metric)s.")
                          % {"metric": Metric(metric).label})
        seen.add(metric)
        goal = row.get("goal_minutes")
        if isinstance(goal, bool) or not isinstance(goal, int) or goal < 1:
            raise _refuse(f"{name}.goal_minutes", _("The goal is a whole number of business "
                                                     "minutes, at least 1."))
        calendar = row.get("calendar")
        if calendar is not None and not isinstance(calendar, BusinessCalendar):
            calendar = BusinessCalendar.objects.filter(pk=calendar).first()
        if calendar is None:
            raise _refuse(f"{name}.calendar", _("Choose the calendar it is measured in."))
        conditions = {}
        for key in ("start_on", "pause_on", "stop_on", "cancel_on"):
            conditions[key] = (_tokens(row[key], f"{name}.{key}", allowed) if key in row
                               else list(Target._meta.get_field(key).get_default()))
        for first, second in (("start_on", "stop_on"), ("start_on", "cancel_on"),
                              ("pause_on", "stop_on"), ("pause_on", "cancel_on"),
                              ("stop_on", "cancel_on")):
            both = set(conditions[first]) & set(conditions[second])
            if both:
                raise _refuse(f"{name}.{second}", _(
                    "%(token)s cannot be in both %(a)s and %(b)s.") % {
                    "token": sorted(both)[0], "a": first, "b": second})
        reset_on = list(row.get("reset_on") or [])
        unknown = [f for f in reset_on if f not in fields]
        if unknown:
            raise _refuse(f"{name}.reset_on", _("%(field)s is not a field that can start the "
                                                "timer again (choose from %(choices)s).") % {
                "field": unknown[0], "choices": ", ".join(sorted(fields))})
        rows.append({"metric": metric, "goal_minutes": goal, "calendar": calendar,
                     **conditions, "reset_on": list(dict.fromkeys(reset_on)),
                     "thresholds": _thresholds(row.get("thresholds"), f"{name}.thresholds")})
    return rows


def _relations(values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Categories, services and groups as objects, each checked to be one a ticket can
    have."""
    from cmdb.models import ConfigurationItem
    from incidents.models import Category

    result: dict[str, list[Any]] = {}
    models = {"categories": Category, "services": ConfigurationItem,
              "assignment_groups": Team}
    for key, model in models.items():
        if key not in values:
            continue
        items = list(values[key] or [])
        ids = [item.pk if hasattr(item, "pk") else item for item in items]
        found = {obj.pk: obj for obj in model.objects.filter(pk__in=ids)}
        for item_id in ids:
            obj = found.get(item_id)
            if obj is None:
                raise _refuse(key, _("No such item: %(id)s.") % {"id": item_id})
            if key == "categories" and not obj.is_active:
                raise _refuse(key, _("The category %(name)s is inactive: no ticket can get "
                                     "it.") % {"name": obj})
            if key == "services" and not obj.ci_class.is_service:
                raise _refuse(key, _("%(name)s is not a business service.")
                              % {"name": obj.name})
            if key == "assignment_groups" and not obj.is_active:
                raise _refuse(key, _("The team %(name)s is inactive: no ticket can be "
                                     "assigned to it.") % {"name": obj.name})
        result[key] = [found[i] for i in dict.fromkeys(ids)]
    return result


def _check_agreement_fields(agreement: Agreement) -> None:
    if agreement.kind not in AgreementKind.values:
        raise _refuse("kind", _("Choose SLA, OLA or underpinning contract."))
    priorities = agreement.priorities or []
    if isinstance(priorities, str) or not isinstance(priorities, list):
        raise _refuse("priorities", _("Give a list of priorities, such as [1, 2]."))
    for priority in priorities:
        if isinstance(priority, bool) or priority not in PRIORITIES:
            raise _refuse("priorities", _("%(p)s is not a priority: tickets have priorities "
                                          "1 to 4.") % {"p": priority})
    agreement.priorities = sorted(set(priorities))
    departments = agreement.caller_departments or []
    if isinstance(departments, str) or not isinstance(departments, list):
        raise _refuse("caller_departments", _("Give a list of department names."))
    cleaned = [str(d).strip() for d in departments]
    if any(not d for d in cleaned):
        raise _refuse("caller_departments", _("A department name cannot be blank."))
    agreement.caller_departments = list(dict.fromkeys(cleaned))
    validated(agreement)


def _conditions(agreement: Agreement, relations: Mapping[str, list[Any]] | None = None
                ) -> dict[str, Any]:
    relations = relations or {}

    def ids(key: str) -> frozenset[int]:
        if key in relations:
            return frozenset(obj.pk for obj in relations[key])
        if agreement.pk is None:
            return frozenset()
        return frozenset(obj.pk for obj in getattr(agreement, key).all())

    return {"priorities": frozenset(agreement.priorities or ()),
            "categories": ids("categories"), "services": ids("services"),
            "assignment_groups": ids("assignment_groups"),
            "caller_departments": frozenset(agreement.caller_departments or ()),
            "caller_vip": agreement.caller_vip, "ticket_type": agreement.ticket_type}


def _covers(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    """Whether every ticket ``later``'s conditions match is matched by ``earlier``'s."""
    if earlier["ticket_type"] != later["ticket_type"]:
        return False
    for key in ("priorities", "categories", "services", "assignment_groups",
                "caller_departments"):
        if earlier[key] and not (later[key] and later[key] <= earlier[key]):
            return False
    return earlier["caller_vip"] is None or earlier["caller_vip"] == later["caller_vip"]


def _check_reachable(kind: str, changed: Agreement | None = None,
                     relations: Mapping[str, list[Any]] | None = None) -> None:
    """Refuse a change after which an active agreement of ``kind`` can never match
    because an earlier one covers every ticket it would. Only shadowing the change
    brings is refused, so definitions loaded some other way never block an edit."""
    current = list(Agreement.objects.filter(kind=kind, is_active=True)
                   .prefetch_related(*AGREEMENT_RELATIONS).order_by("order", "name"))
    conditions: dict[Any, Mapping[str, Any]] = {a.pk: _conditions(a) for a in current}
    after = [a for a in current if changed is None or a.pk != changed.pk]
    after_conditions = dict(conditions)
    if changed is not None and changed.is_active and changed.kind == kind:
        after.append(changed)
        after_conditions[changed.pk] = _conditions(changed, relations)
    after.sort(key=lambda a: (a.order, a.name))
    _check_reachable_in(after, after_conditions, before=(current, conditions))


def _write_targets(agreement: Agreement, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Make the agreement's targets those of ``rows`` (by metric); the audit changes."""
    existing = {t.metric: t for t in agreement.targets.prefetch_related("thresholds")}
    wanted = {row["metric"] for row in rows}
    changes: dict[str, Any] = {}
    for metric, target in existing.items():
        if metric in wanted:
            continue
        if Timer.objects.filter(target=target).exists():
            raise _refuse("targets", _(
                "The %(metric)s target has measured tickets and cannot be removed: "
                "deactivate the agreement and create a new one instead.")
                % {"metric": target.get_metric_display()})
        changes[f"target.{metric}"] = [_target_label(target), None]
        target.delete()
    for row in rows:
        target = existing.get(row["metric"]) or Target(agreement=agreement,
                                                       metric=row["metric"])
        before = _target_label(target) if target.pk else None
        for key in ("goal_minutes", "calendar", "start_on", "pause_on", "stop_on", "cancel_on",
                    "reset_on"):
            setattr(target, key, row[key])
        target.save()
        target.thresholds.all().delete()
        Threshold.objects.bulk_create(Threshold(target=target, **threshold)
                                      for threshold in row["thresholds"])
        after = _target_label(target)
        if after != before:
            changes[f"target.{row['metric']}"] = [before, after]
    return changes


def _target_label(target: Target) -> dict[str, Any]:
    return audit_value({
        "goal_minutes": target.goal_minutes, "calendar": target.calendar,
        "start_on": target.start_on, "pause_on": target.pause_on, "stop_on": target.stop_on,
        "cancel_on": target.cancel_on, "reset_on": target.reset_on,
        "thresholds": [{"percent": t.percent, "actions": t.actions,
                        "reassign_to": t.reassign_to_id,
                        "working_hours_only": t.working_hours_only}
                       for t in target.thresholds.order_by("percent")]})


def _next_order(kind: str) -> int:
    highest = Agreement.objects.filter(kind=kind).aggregate(m=Max("order"))["m"]
    return (highest or 0) + ORDER_STEP


@transaction.atomic
@as_actor
def agreement_create(*, actor: Any, name: str, kind: str = AgreementKind.SLA,
                     targets: Iterable[Mapping[str, Any]] = (), **fields: Any) -> Agreement:
    """An agreement with its conditions and targets. A target given without thresholds
    gets the defaults (50, 75, 90 and the breach at 100 %). Without an ``order`` it goes
    last among its kind."""
    require_permission(actor, PERMISSION)
    reject_unknown_fields(fields, (*AGREEMENT_FIELDS, *AGREEMENT_RELATIONS))
    relation_values = {k: fields.pop(k) for k in AGREEMENT_RELATIONS if k in fields}
    agreement = Agreement(name=name, kind=kind, **fields)
    if "order" not in fields:
        agreement.order = _next_order(kind)
    _check_agreement_fields(agreement)
    relations = _relations(relation_values)
    rows = _targets(targets, agreement.ticket_type)
    _check_reachable(agreement.kind, agreement, relations)
    agreement.save()
    for key, items in relations.items():
        getattr(agreement, key).set(items)
    changes = diff({}, snapshot(agreement, AGREEMENT_FIELDS))
    changes.update({key: [None, audit_value(items)] for key, items in relations.items()
                    if items})
    changes.update(_write_targets(agreement, rows))
    audit_record(action=AuditAction.CREATE, target=agreement, changes=changes)
    return agreement


@transaction.atomic
@as_actor
def agreement_update(*, actor: Any, agreement: Agreement,
                     targets: Iterable[Mapping[str, Any]] | None = None,
                     **changes: Any) -> Agreement:
    """Change an agreement; ``targets``, when given, become its targets (by metric:
    a metric left out is removed, unless tickets were measured against it)."""
    require_permission(actor, PERMISSION)
    reject_unknown_fields(changes, (*AGREEMENT_FIELDS, *AGREEMENT_RELATIONS))
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    old_kind = agreement.kind
    before = snapshot(agreement, AGREEMENT_FIELDS)
    relation_values = {k: changes.pop(k) for k in AGREEMENT_RELATIONS if k in changes}
    for name, value in changes.items():
        setattr(agreement, name, value)
    _check_agreement_fields(agreement)
    relations = _relations(relation_values)
    rows = _targets(targets, agreement.ticket_type) if targets is not None else None
    _check_reachable(agreement.kind, agreement, relations)
    if old_kind != agreement.kind:
        _check_reachable(old_kind, agreement, relations)
    changed = diff(before, snapshot(agreement, AGREEMENT_FIELDS))
    if changed:
        agreement.save()
    for key, items in relations.items():
        old = list(getattr(agreement, key).all())
        if {o.pk for o in old} != {i.pk for i in items}:
            getattr(agreement, key).set(items)
            changed[key] = [audit_value(old), audit_value(items)]
    if rows is not None:
        changed.update(_write_targets(agreement, rows))
    if changed:
        agreement.save(update_fields=["updated_at"])
        audit_record(action=AuditAction.UPDATE, target=agreement, changes=changed)
    return agreement


@transaction.atomic
@as_actor
def agreement_delete(*, actor: Any, agreement: Agreement) -> bool:
    """Delete an agreement that never measured a ticket. One whose targets have timers
    is kept for their history and deactivated instead. Returns whether it was deleted."""
    require_permission(actor, PERMISSION)
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    if Timer.objects.filter(agreement=agreement).exists():
        if agreement.is_active:
            agreement.is_active = False
            agreement.save()
            audit_record(action=AuditAction.UPDATE, target=agreement,
                         changes={"is_active": [True, False]},
                         message=_("Deactivated instead of deleted: tickets were measured "
                                   "against it"))
        return False
    audit_record(action=AuditAction.DELETE, target=agreement,
                 changes=diff(snapshot(agreement, AGREEMENT_FIELDS), {}))
    agreement.delete()
    return True


@transaction.atomic
@as_actor
def agreement_move(*, actor: Any, agreement: Agreement, direction: str) -> Agreement:
    """Swap an agreement with its neighbour among those of its kind ("up" is tried
    earlier). The orders are renumbered in steps of ten."""
    require_permission(actor, PERMISSION)
    if direction not in ("up", "down"):
        raise _refuse("direction", _("Move up or down."))
    siblings = list(Agreement.objects.select_for_update().filter(kind=agreement.kind)
                    .order_by("order", "name").prefetch_related(*AGREEMENT_RELATIONS))
    original = list(siblings)
    index = next(i for i, a in enumerate(siblings) if a.pk == agreement.pk)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(siblings):
        return siblings[index]
    siblings[index], siblings[other] = siblings[other], siblings[index]
    before = {a.pk: a.order for a in siblings}
    for position, item in enumerate(siblings, start=1):
        item.order = position * ORDER_STEP
    moved = siblings[other]
    conditions = {a.pk: _conditions(a) for a in original if a.is_active}
    _check_reachable_in([a for a in siblings if a.is_active], conditions,
                        before=([a for a in original if a.is_active], conditions))
    for item in siblings:
        if item.order != before[item.pk]:
            Agreement.objects.filter(pk=item.pk).update(order=item.order)
    moved.save(update_fields=["order", "updated_at"])  # tells the engine's plan
    audit_record(action=AuditAction.UPDATE, target=moved,
                 changes={"order": [before[moved.pk], moved.order]},
                 message=_("Moved %(direction)s") % {"direction": direction})
    return moved


def _shadowed(ordered: list[Agreement], conditions: Mapping[Any, Mapping[str, Any]]
              ) -> list[tuple[Agreement, Agreement]]:
    """(agreement, the earlier one covering it) for each agreement that can never match."""
    found = []
    for index, later in enumerate(ordered):
        for earlier in ordered[:index]:
            if _covers(conditions[earlier.pk], conditions[later.pk]):
                found.append((later, earlier))
                break
    return found


def _check_reachable_in(ordered: list[Agreement],
                        conditions: Mapping[Any, Mapping[str, Any]] | None = None, *,
                        before: tuple[list[Agreement], Mapping[Any, Mapping[str, Any]]]
                        | None = None) -> None:
    """Active agreements in the order they are tried: refuse when one is shadowed that
    was not already (``before``: the order and conditions before the change)."""
    conditions = conditions or {a.pk: _conditions(a) for a in ordered}
    known = ({(later.pk, earlier.pk) for later, earlier in _shadowed(*before)}
             if before is not None else set())
    for later, earlier in _shadowed(ordered, conditions):
        if later.pk is not None and (later.pk, earlier.pk) in known:
            continue
        message = _("%(later)s could never apply: %(earlier)s comes first among the active "
                    "agreements of its kind and covers every ticket it would. Narrow the "
                    "conditions of %(earlier)s, or order %(later)s before it.") % {
            "later": later.name, "earlier": earlier.name}
        raise DomainError(message, code="never_matches", fields={"order": [message]})
