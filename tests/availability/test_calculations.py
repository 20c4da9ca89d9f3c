"""The availability arithmetic: pure functions, no database. Edge cases by hand, and a
property test against a minute-by-minute reference."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from availability.calculations import (
    availability,
    clip,
    merge,
    month_bounds,
    parse_month,
    previous_months,
    subtract,
    total,
)

UTC = datetime.UTC
NOV_START = datetime.datetime(2026, 11, 1, tzinfo=UTC)
NOV_END = datetime.datetime(2026, 12, 1, tzinfo=UTC)
AFTER_NOV = datetime.datetime(2027, 1, 15, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)


def at(day, hour=0, minute=0, month=11, year=2026):
    return datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)


def november(outages=(), maintenance=(), now=AFTER_NOV):
    return availability(start=NOV_START, end=NOV_END, outages=outages,
                        maintenance=maintenance, now=now)


# --- Interval helpers -----------------------------------------------------------------

def test_merge_joins_overlapping_and_touching_intervals_and_drops_empty_ones():
    assert merge([(at(3), at(4)), (at(1), at(2)), (at(2), at(3, 12)), (at(5), at(5)),
                  (at(1, 6), at(1, 7))]) == [(at(1), at(4))]
    assert merge([(at(1), at(2)), (at(3), at(4))]) == [(at(1), at(2)), (at(3), at(4))]


def test_subtract_cuts_holes_and_ends():
    assert subtract([(at(1), at(10))], [(at(2), at(3)), (at(9), at(12))]) == [
        (at(1), at(2)), (at(3), at(9))]
    assert subtract([(at(2), at(3))], [(at(1), at(4))]) == []
    assert subtract([(at(1), at(2))], []) == [(at(1), at(2))]


def test_clip_keeps_only_what_is_inside():
    assert clip([(at(1), at(5)), (at(6), at(7))], at(2), at(6)) == [(at(2), at(5))]


# --- Availability ---------------------------------------------------------------------

def test_no_outage_is_one_hundred_percent_of_the_whole_month():
    figures = november()
    assert figures.agreed == datetime.timedelta(days=30)
    assert figures.downtime == datetime.timedelta()
    assert figures.percent == Decimal("100.000")


def test_one_hour_down_in_thirty_days_rounds_down():
    figures = november(outages=[(at(10, 8), at(10, 9))])
    assert figures.downtime == HOUR
    # 719 / 720 = 99.86111…: rounded down, never up to a better figure.
    assert figures.percent == Decimal("99.861")


def test_a_one_second_outage_is_not_one_hundred_percent():
    figures = november(outages=[(at(10), at(10) + datetime.timedelta(seconds=1))])
    assert figures.percent == Decimal("99.999")


def test_overlapping_outages_count_once():
    figures = november(outages=[(at(10, 8), at(10, 10)), (at(10, 9), at(10, 11)),
                                (at(10, 9, 30), at(10, 9, 45))])
    assert figures.downtime == 3 * HOUR


def test_an_outage_across_months_counts_in_each_month_for_its_part():
    outage = [(at(31, 23, month=10), at(1, 1))]
    october = availability(start=at(1, month=10), end=NOV_START, outages=outage,
                           maintenance=[], now=AFTER_NOV)
    assert october.downtime == HOUR
    assert november(outages=outage).downtime == HOUR


def test_an_ongoing_outage_runs_until_now_and_the_month_is_measured_to_date():
    now = at(10, 12)
    figures = november(outages=[(at(10), None)], now=now)
    assert figures.agreed == datetime.timedelta(days=9, hours=12)
    assert figures.downtime == 12 * HOUR
    assert figures.percent == Decimal("94.736")  # 216 h up of 228 h agreed


def test_an_ongoing_outage_started_last_month_counts_from_the_first():
    figures = november(outages=[(at(20, month=10), None)], now=at(2))
    assert figures.agreed == datetime.timedelta(days=1)
    assert figures.downtime == datetime.timedelta(days=1)
    assert figures.percent == Decimal("0.000")


def test_an_outage_inside_maintenance_is_not_downtime_and_maintenance_is_not_agreed():
    figures = november(outages=[(at(10, 1), at(10, 3))],
                       maintenance=[(at(10), at(10, 4))])
    assert figures.downtime == datetime.timedelta()
    assert figures.agreed == datetime.timedelta(days=30) - 4 * HOUR
    assert figures.percent == Decimal("100.000")


def test_only_the_part_of_an_outage_outside_maintenance_counts():
    figures = november(outages=[(at(10, 2), at(10, 6))],
                       maintenance=[(at(10), at(10, 4)), (at(10, 3), at(10, 5))])
    assert figures.downtime == HOUR
    assert figures.agreed == datetime.timedelta(days=30) - 5 * HOUR


def test_maintenance_outside_the_period_changes_nothing():
    figures = november(maintenance=[(at(1, month=10), at(2, month=10))])
    assert figures.agreed == datetime.timedelta(days=30)


def test_no_agreed_time_gives_no_percentage():
    whole_month = november(outages=[(at(5), at(6))], maintenance=[(NOV_START, NOV_END)])
    assert whole_month.percent is None and whole_month.downtime == datetime.timedelta()
    future = november(now=at(1, month=10))
    assert future.percent is None and future.agreed == datetime.timedelta()
    assert whole_month.meets(Decimal("99.9")) is None


def test_meets_compares_with_the_target():
    figures = november(outages=[(at(10, 8), at(10, 9))])  # 99.861
    assert figures.meets(Decimal("99.8")) is True
    assert figures.meets(Decimal("99.9")) is False
    assert figures.meets(None) is None
    assert november().meets(Decimal("100")) is True


def test_times_in_other_zones_are_compared_as_instants():
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime.datetime(2026, 11, 10, 9, tzinfo=berlin)  # 08:00 UTC
    figures = november(outages=[(start, at(10, 9))])
    assert figures.downtime == HOUR


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        november(outages=[(datetime.datetime(2026, 11, 10), at(11))])


# --- Months ---------------------------------------------------------------------------

def test_month_bounds_follow_the_zone_and_daylight_saving():
    start, end = month_bounds(2026, 3, ZoneInfo("Europe/Berlin"))
    assert start == datetime.datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert end - start == datetime.timedelta(days=31) - HOUR  # clocks go forward
    start, end = month_bounds(2026, 12, ZoneInfo("UTC"))
    assert (start, end) == (at(1, month=12), datetime.datetime(2027, 1, 1, tzinfo=UTC))


def test_previous_months_cross_the_year():
    assert previous_months(2026, 2, 3) == [(2026, 2), (2026, 1), (2025, 12)]


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11", (2026, 11)), (" 2026-01 ", (2026, 1)), ("2026-13", None), ("2026-00", None),
    ("26-11", None), ("2026-11-01", None), ("", None), ("november", None)])
def test_parse_month(value, expected):
    assert parse_month(value) == expected


# --- Against a minute-by-minute reference ---------------------------------------------

DAY_MINUTES = 24 * 60
spans = st.lists(st.tuples(st.integers(0, DAY_MINUTES), st.integers(1, 300)), max_size=6)


@settings(max_examples=200, deadline=None)
@given(outages=spans, maintenance=spans, ongoing=st.booleans(),
       now_minute=st.integers(0, DAY_MINUTES + 60))
def test_matches_counting_minutes(outages, maintenance, ongoing, now_minute):
    base = at(10)

    def moment(minute):
        return base + datetime.timedelta(minutes=minute)

    now = moment(now_minute)
    outage_rows = [(moment(s), moment(s + length)) for s, length in outages]
    if ongoing and outage_rows:
        outage_rows[-1] = (outage_rows[-1][0], None)
    window_rows = [(moment(s), moment(s + length)) for s, length in maintenance]
    figures = availability(start=base, end=moment(DAY_MINUTES), outages=outage_rows,
                           maintenance=window_rows, now=now)

    measured = range(min(DAY_MINUTES, now_minute))
    in_maintenance = {m for s, length in maintenance for m in range(s, s + length)}
    down = {m for s, length in outages for m in range(s, s + length)}
    if ongoing and outages:
        down |= set(range(outages[-1][0], max(outages[-1][0], now_minute)))
    agreed = [m for m in measured if m not in in_maintenance]
    downtime = [m for m in agreed if m in down]
    assert figures.agreed == datetime.timedelta(minutes=len(agreed))
    assert figures.downtime == datetime.timedelta(minutes=len(downtime))
    if agreed:
        expected = Decimal((len(agreed) - len(downtime)) * 100) / Decimal(len(agreed))
        assert figures.percent == expected.quantize(Decimal("0.001"), rounding="ROUND_DOWN")
    else:
        assert figures.percent is None


def test_total_of_merged_intervals():
    assert total([(at(1), at(2)), (at(1, 12), at(3))]) == datetime.timedelta(days=2)
