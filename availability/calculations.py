"""Availability arithmetic on time intervals. Pure functions: no database, no clock
(``now`` is passed in), so every edge case is tested directly.

For a period: agreed time = the period minus maintenance windows; downtime = the union
of the outages, minus maintenance, clipped to the period; availability = (agreed -
downtime) / agreed. Overlapping outages count once. An ongoing outage runs until
``now``; the part of the period after ``now`` is not agreed time yet (the current month
is measured to date)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

Interval = tuple[datetime.datetime, datetime.datetime]
PERCENT_PLACES = Decimal("0.001")
MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})")


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint intervals (empty ones dropped;
    touching ones joined)."""
    result: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if result and start <= result[-1][1]:
            if end > result[-1][1]:
                result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    return result


def clip(intervals: Iterable[Interval], start: datetime.datetime,
         end: datetime.datetime) -> list[Interval]:
    """The parts of ``intervals`` inside ``[start, end)``."""
    return [(max(s, start), min(e, end)) for s, e in intervals
            if min(e, end) > max(s, start)]


def subtract(intervals: Iterable[Interval], removed: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` with the union of ``removed`` taken out."""
    cuts = merge(removed)
    result: list[Interval] = []
    for start, end in merge(intervals):
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                result.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return result


def total(intervals: Iterable[Interval]) -> datetime.timedelta:
    return sum((end - start for start, end in merge(intervals)), datetime.timedelta())


@dataclass(frozen=True)
class Availability:
    """The figures of one service over one period. ``percent`` is None when there is no
    agreed time (the whole period in maintenance, or still to come)."""

    agreed: datetime.timedelta
    downtime: datetime.timedelta
    percent: Decimal | None

    def meets(self, target: Decimal | None) -> bool | None:
        """Whether the target is met; None when either side is unknown."""
        if target is None or self.percent is None:
            return None
        return self.percent >= target


def availability(*, start: datetime.datetime, end: datetime.datetime,
                 outages: Iterable[tuple[datetime.datetime, datetime.datetime | None]],
                 maintenance: Iterable[Interval], now: datetime.datetime) -> Availability:
    """Availability over ``[start, end)``, measured up to ``now``. An outage with no end
    is ongoing: it runs until ``now``."""
    # All in UTC: Python compares and subtracts datetimes of one zone by wall clock.
    start, end, now = _utc(start), _utc(end), _utc(now)
    outages = [(_utc(s), _utc(e) if e is not None else None) for s, e in outages]
    maintenance = [(_utc(s), _utc(e)) for s, e in maintenance]
    measured_end = min(end, now)
    if measured_end <= start:
        return Availability(datetime.timedelta(), datetime.timedelta(), None)
    windows = clip(merge(maintenance), start, measured_end)
    agreed = (measured_end - start) - total(windows)
    down = clip(merge((s, e if e is not None else now) for s, e in outages), start,
                measured_end)
    downtime = total(subtract(down, windows))
    if agreed <= datetime.timedelta():
        return Availability(datetime.timedelta(), datetime.timedelta(), None)
    up = agreed - downtime
    # Rounded down: 99.9996% of a month with a one-second outage is not "100%".
    percent = (Decimal(_microseconds(up)) * 100 / Decimal(_microseconds(agreed))).quantize(
        PERCENT_PLACES, rounding=ROUND_DOWN)
    return Availability(agreed, downtime, percent)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(datetime.UTC)


def _microseconds(delta: datetime.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# --- Months ---------------------------------------------------------------------------

def month_bounds(year: int, month: int, zone: ZoneInfo) -> Interval:
    """The calendar month as ``[first midnight, next month's first midnight)`` in
    ``zone`` (so a month across a daylight-saving change has its true length)."""
    start = datetime.datetime(year, month, 1, tzinfo=zone)
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime.datetime(next_year, next_month, 1, tzinfo=zone)
    # In UTC: Python subtracts two datetimes of the same zone as wall-clock times.
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


def parse_month(value: str) -> tuple[int, int] | None:
    """``"2026-11"`` as (2026, 11); None if it is not a month."""
    match = MONTH_PATTERN.fullmatch(value.strip())
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    return (year, month) if 1 <= year <= 9998 and 1 <= month <= 12 else None


def previous_months(year: int, month: int, count: int) -> list[tuple[int, int]]:
    """``count`` months ending with (``year``, ``month``), newest first."""
    months = []
    for _ in range(count):
        months.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months
