"""Business-time arithmetic over a calendar: which instants are working time, how much
working time lies between two instants, and when a given amount of it has passed.

Pure functions over a ``CalendarSpec`` (no database), so they can be tested against a
minute-by-minute reference (tests/sla/test_calendar_properties.py). The rule they follow:
an instant is working time when its wall-clock time in the calendar's time zone falls in
one of the working intervals of its local date. That date's intervals are its one-off
exception if it has one (closed, or special hours), else none on a holiday, else the
weekly intervals of its weekday. Daylight saving follows from the rule: an hour that the
clocks skip is not worked, an hour they repeat is worked twice if it is in an interval.

All instants in and out are timezone-aware; results are in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = dt.UTC
MINUTES_PER_DAY = 24 * 60
# A calendar with no working time within this horizon is treated as having none at all:
# no deadline can be computed (validation refuses such calendars before they are used).
HORIZON = dt.timedelta(days=3 * 366)
# Offsets are compared at most this far apart: no time zone changes its offset twice
# within a week.
CHUNK = dt.timedelta(days=7)

Interval = tuple[int, int]  # minutes after local midnight, start < end <= 1440


class NoWorkingTime(ValueError):
    """The calendar has no working time within ``HORIZON`` of the instant asked about."""


@dataclass(frozen=True)
class CalendarSpec:
    time_zone: str
    # Monday first: seven tuples of sorted, non-overlapping intervals.
    weekly: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[dt.date] = frozenset()
    # A date's own intervals, replacing the weekly ones and any holiday (() = closed).
    exceptions: Mapping[dt.date, tuple[Interval, ...]] = field(default_factory=dict)

    def __hash__(self) -> int:  # exceptions is a mapping; the spec is used as a key
        return hash((self.time_zone, self.weekly, self.holidays,
                     tuple(sorted(self.exceptions.items()))))

    def intervals_on(self, day: dt.date) -> tuple[Interval, ...]:
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self.weekly[day.weekday()]


ALWAYS = tuple(((0, MINUTES_PER_DAY),) for _ in range(7))


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _offset(zone: ZoneInfo, instant: dt.datetime) -> dt.timedelta:
    return instant.astimezone(zone).utcoffset() or dt.timedelta(0)


def _transition(zone: ZoneInfo, low: dt.datetime, high: dt.datetime) -> dt.datetime:
    """The first instant in (low, high] with the offset of ``high`` (to the second; every
    real transition is on a whole minute)."""
    target = _offset(zone, high)
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + dt.timedelta(seconds=1)
        if _offset(zone, middle) == target:
            high = middle
        else:
            low = middle
    return high


def _segments(zone: ZoneInfo, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime,
                                                                    dt.timedelta]]:
    """Consecutive spans [a, b) from ``start`` onwards, each with one UTC offset."""
    low = start
    offset = _offset(zone, low)
    while True:
        high = low + CHUNK
        if _offset(zone, high) == offset:
            yield low, high, offset
            low = high
            continue
        change = _transition(zone, low, high)
        yield low, change, offset
        low, offset = change, _offset(zone, change)


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("business-time arithmetic needs timezone-aware datetimes")
    return instant.astimezone(UTC)


def working_periods(spec: CalendarSpec, start: dt.datetime,
                    end: dt.datetime | None = None) -> Iterator[tuple[dt.datetime,
                                                                      dt.datetime]]:
    """The working periods from ``start`` (clipped to it) up to ``end`` (clipped; without
    an end, for ever), in order; adjacent ones are merged within a week. Raises
    ``NoWorkingTime`` when a stretch of ``HORIZON`` without any working time is reached."""
    zone = _zone(spec.time_zone)
    start = _utc(start)
    end = _utc(end) if end is not None else None
    pending: tuple[dt.datetime, dt.datetime] | None = None
    last_work = start
    for low, high, offset in _segments(zone, start):
        if end is not None and low >= end:
            break
        local_low = (low + offset).replace(tzinfo=None)
        local_high = (high + offset).replace(tzinfo=None)
        day = local_low.date()
        while dt.datetime.combine(day, dt.time()) < local_high:
            midnight = dt.datetime.combine(day, dt.time())
            for first, last in spec.intervals_on(day):
                begins = (midnight + dt.timedelta(minutes=first) - offset).replace(tzinfo=UTC)
                ends = (midnight + dt.timedelta(minutes=last) - offset).replace(tzinfo=UTC)
                begins, ends = max(begins, low), min(ends, high)
                if end is not None:
                    ends = min(ends, end)
                if begins >= ends:
                    continue
                last_work = ends
                if pending is not None and pending[1] == begins:
                    pending = (pending[0], ends)
                    continue
                if pending is not None:
                    yield pending
                pending = (begins, ends)
            day += dt.timedelta(days=1)
        if pending is not None:  # a 24×7 calendar is one endless period: hand it out per span
            yield pending
            pending = None
        if high - last_work > HORIZON:
            if pending is not None:
                yield pending
                pending = None
            raise NoWorkingTime(
                f"no working time in the {HORIZON.days} days after {last_work:%Y-%m-%d}")
    if pending is not None:
        yield pending


def business_seconds(spec: CalendarSpec, start: dt.datetime, end: dt.datetime) -> float:
    """Working time between two instants, in seconds (0 when ``end`` is not after
    ``start``)."""
    if _utc(end) <= _utc(start):
        return 0.0
    return sum((b - a).total_seconds() for a, b in working_periods(spec, start, end))


def add_business_seconds(spec: CalendarSpec, start: dt.datetime,
                         seconds: float) -> dt.datetime:
    """The instant at which ``seconds`` of working time have passed since ``start``
    (``start`` itself for zero). Raises ``NoWorkingTime`` if that never happens."""
    start = _utc(start)
    if seconds <= 0:
        return start
    left = dt.timedelta(seconds=seconds)
    for a, b in working_periods(spec, start):
        if b - a >= left:
            return a + left
        left -= b - a
    raise NoWorkingTime("no working time")  # unreachable: working_periods raises first


def is_working(spec: CalendarSpec, instant: dt.datetime) -> bool:
    instant = _utc(instant)
    for a, _b in working_periods(spec, instant, instant + dt.timedelta(seconds=1)):
        return a <= instant
    return False


def next_working_instant(spec: CalendarSpec, instant: dt.datetime) -> dt.datetime:
    """``instant`` if it is working time, else the start of the next working period."""
    for a, _b in working_periods(spec, instant):
        return a
    raise NoWorkingTime("no working time")


Pause = tuple[dt.datetime, dt.datetime]


def deadline(spec: CalendarSpec, start: dt.datetime, seconds: float,
             pauses: list[Pause], paused_since: dt.datetime | None = None
             ) -> dt.datetime | None:
    """When ``seconds`` of working time outside ``pauses`` (disjoint, in order) have
    passed since ``start``; None when an open pause (``paused_since``) begins before
    that, as nobody can know yet."""
    extra = 0.0
    due = add_business_seconds(spec, start, seconds)
    for begins, ends in pauses:
        if begins >= due:
            break
        extra += business_seconds(spec, begins, ends)
        due = add_business_seconds(spec, start, seconds + extra)
    if paused_since is not None and paused_since < due:
        return None
    return due


def elapsed(spec: CalendarSpec, start: dt.datetime, at: dt.datetime, pauses: list[Pause],
            paused_since: dt.datetime | None = None) -> float:
    """Working time between ``start`` and ``at`` outside the pauses, in seconds."""
    total = business_seconds(spec, start, at)
    for begins, ends in [*pauses, *([(paused_since, at)] if paused_since else [])]:
        if begins >= at:
            break
        total -= business_seconds(spec, max(begins, start), min(ends, at))
    return max(total, 0.0)
