"""sla.calendar against a reference that walks minute by minute: random calendars, time
zones with daylight saving (including 30-minute and 45-minute offsets), holidays, one-off
exceptions, and random pause sequences.

The number of examples per test is HYPOTHESIS_EXAMPLES (default 1,000 each, so CI runs a
few thousand in all)."""

import datetime as dt
import itertools
import os
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla.calendar import (
    CalendarSpec,
    add_business_seconds,
    business_seconds,
    deadline,
    elapsed,
    is_working,
    next_working_instant,
    working_periods,
)

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "1000"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "America/Santiago", "Europe/Berlin"]
# Days around the 2026 daylight-saving changes of these zones, and ordinary days.
ANCHORS = [dt.datetime(2026, 3, 8, tzinfo=dt.UTC), dt.datetime(2026, 3, 29, tzinfo=dt.UTC),
           dt.datetime(2026, 4, 5, tzinfo=dt.UTC), dt.datetime(2026, 9, 6, tzinfo=dt.UTC),
           dt.datetime(2026, 9, 27, tzinfo=dt.UTC), dt.datetime(2026, 10, 4, tzinfo=dt.UTC),
           dt.datetime(2026, 10, 25, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
           dt.datetime(2026, 6, 15, tzinfo=dt.UTC)]
SPAN_MINUTES = 4 * 24 * 60


@st.composite
def day_intervals(draw):
    # Cut points on 15-minute steps, or any minute now and then; pairs of them.
    step = draw(st.sampled_from([1, 15, 30, 60]))
    cuts = draw(st.lists(st.integers(0, 1440 // step).map(lambda n: n * step),
                         min_size=0, max_size=6, unique=True))
    cuts = sorted(cuts)
    if len(cuts) % 2:
        cuts = cuts[:-1]
    return tuple((cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2))


@st.composite
def calendars(draw):
    weekly = tuple(draw(day_intervals()) for _ in range(7))
    anchor = draw(st.sampled_from(ANCHORS)).date()
    dates = st.integers(-2, 6).map(lambda n: anchor + dt.timedelta(days=n))
    holidays = frozenset(draw(st.lists(dates, max_size=2)))
    exceptions = draw(st.dictionaries(dates, day_intervals(), max_size=2))
    return CalendarSpec(draw(st.sampled_from(ZONES)), weekly, holidays, exceptions)


@st.composite
def instants(draw):
    anchor = draw(st.sampled_from(ANCHORS))
    return anchor + dt.timedelta(minutes=draw(st.integers(-2 * 24 * 60, 2 * 24 * 60)))


def working_minute(spec: CalendarSpec, minute: dt.datetime) -> bool:
    """The reference: the minute's wall-clock time in its local date's intervals."""
    local = minute.astimezone(ZoneInfo(spec.time_zone))
    at = local.hour * 60 + local.minute
    return any(first <= at < last for first, last in spec.intervals_on(local.date()))


def minutes(start: dt.datetime, count: int):
    for n in range(count):
        yield start + dt.timedelta(minutes=n)


@SETTINGS
@given(calendars(), instants(), st.integers(0, SPAN_MINUTES))
def test_business_time_between_two_instants(spec, start, length):
    expected = sum(working_minute(spec, m) for m in minutes(start, length)) * 60
    assert business_seconds(spec, start, start + dt.timedelta(minutes=length)) == expected


@SETTINGS
@given(calendars(), instants(), st.integers(0, 600))
def test_adding_business_time(spec, start, goal):
    if not any(spec.weekly) and not any(spec.exceptions.values()):
        return  # no working time at all: covered by test_a_calendar_without_working_time
    counted, found = 0, start if goal == 0 else None
    for minute in minutes(start, 21 * 24 * 60):
        if found is not None:
            break
        if working_minute(spec, minute):
            counted += 1
            if counted == goal:
                found = minute + dt.timedelta(minutes=1)
    if found is None:
        return  # sparse calendar: the goal lies beyond the reference's three weeks
    assert add_business_seconds(spec, start, goal * 60) == found


@SETTINGS
@given(calendars(), instants(), st.integers(1, 900),
       st.lists(st.tuples(st.integers(0, 3 * 24 * 60), st.integers(1, 12 * 60)), max_size=4))
def test_a_deadline_with_pauses_counts_each_working_minute_once(spec, start, goal, pauses):
    """The engine's rule: due = start + (goal + working time inside the pauses). The
    reference counts working minutes outside any pause until the goal is reached."""
    if not any(spec.weekly) and not any(spec.exceptions.values()):
        return
    paused = sorted((start + dt.timedelta(minutes=offset),
                     start + dt.timedelta(minutes=offset + length)) for offset, length in pauses)
    merged: list[list[dt.datetime]] = []
    for a, b in paused:  # pauses never overlap in the engine: merge the drawn ones
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    counted, found = 0, None
    for minute in minutes(start, 21 * 24 * 60):
        if any(a <= minute < b for a, b in merged) or not working_minute(spec, minute):
            continue
        counted += 1
        if counted == goal:
            found = minute + dt.timedelta(minutes=1)
            break
    if found is None:
        return
    pauses = [(a, b) for a, b in merged]
    assert deadline(spec, start, goal * 60, pauses) == found
    # Elapsed working time outside the pauses, just before and at the deadline.
    assert elapsed(spec, start, found, pauses) == goal * 60
    assert elapsed(spec, start, found - dt.timedelta(minutes=1), pauses) < goal * 60
    # A pause still open before the deadline: unknown; after it: no effect.
    assert deadline(spec, start, goal * 60, pauses, paused_since=found) == found
    if start < found - dt.timedelta(minutes=1) and not any(
            a <= found - dt.timedelta(minutes=1) < b for a, b in merged):
        assert deadline(spec, start, goal * 60, pauses,
                        paused_since=found - dt.timedelta(minutes=1)) is None


@SETTINGS
@given(calendars(), instants())
def test_periods_are_ordered_disjoint_and_working(spec, start):
    end = start + dt.timedelta(days=3)
    periods = list(working_periods(spec, start, end))
    for (a, b), (c, _d) in itertools.pairwise(periods):
        assert a < b <= c  # in order, never overlapping
    for a, b in periods:
        assert start <= a and b <= end
        assert working_minute(spec, a) and working_minute(spec, b - dt.timedelta(minutes=1))
        assert is_working(spec, a)
    if periods:
        assert next_working_instant(spec, start) == periods[0][0]
