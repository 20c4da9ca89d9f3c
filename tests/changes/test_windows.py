"""Occurrences of maintenance and freeze windows (pure, property-tested against a
day-by-day reference) and the window services."""

import contextlib
import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from changes import windows as windows_module
from changes.models import ScheduleWindow
from changes.windows import (
    _instant,
    _local,
    merged,
    next_occurrences,
    occurrences,
    window_create,
    window_delete,
    window_update,
)
from itsm.errors import DomainError, NotPermitted
from tests.changes.schedule_helpers import PARIS, at, server
from tests.factories import UserFactory


def spec(start, end, recurrence="none", until=None, tz="UTC"):
    return SimpleNamespace(starts_at=start, ends_at=end, recurrence=recurrence,
                           repeat_until=until, timezone=tz)


# --- Examples ----------------------------------------------------------------------------

def test_a_one_off_window_occurs_once_when_it_overlaps_the_range():
    window = spec(at(2026, 5, 1, 22), at(2026, 5, 2, 2))
    assert occurrences(window, at(2026, 5, 2), at(2026, 5, 3)) == [
        (at(2026, 5, 1, 22), at(2026, 5, 2, 2))]
    # [start, end): touching the range is not overlapping it
    assert occurrences(window, at(2026, 5, 2, 2), at(2026, 5, 3)) == []
    assert occurrences(window, at(2026, 5, 1), at(2026, 5, 1, 22)) == []


def test_a_weekly_window_stays_at_local_time_across_daylight_saving():
    # Sunday 02:00–06:00 Paris, first on 2026-03-22 (winter time, UTC+1)
    window = spec(at(2026, 3, 22, 2, tz=PARIS), at(2026, 3, 22, 6, tz=PARIS), "weekly",
                  tz="Europe/Paris")
    found = occurrences(window, at(2026, 3, 1), at(2026, 11, 9))
    local = [(s.astimezone(PARIS), e.astimezone(PARIS)) for s, e in found]
    assert all(s.weekday() == 6 for s, _e in local)
    # Summer time: 02:00 local is 00:00 UTC; the spring-forward night reads 02:00 as 03:00
    assert found[2] == (at(2026, 4, 5, 0), at(2026, 4, 5, 4))
    assert local[1][0].hour == 3 and local[1][1].hour == 6  # 29 March: 02:00 does not exist
    # After the clocks go back (25 October): 02:00 local is 01:00 UTC again
    assert (at(2026, 11, 1, 1), at(2026, 11, 1, 5)) in found
    assert {s.hour for s, _e in local[2:]} == {2} and {e.hour for _s, e in local} == {6}


def test_a_monthly_window_repeats_on_its_day_and_skips_months_without_it():
    window = spec(at(2026, 1, 31, 22, tz=PARIS), at(2026, 2, 1, 1, tz=PARIS), "monthly",
                  until=dt.date(2026, 8, 31), tz="Europe/Paris")
    found = occurrences(window, at(2025, 1, 1), at(2030, 1, 1))
    assert [s.astimezone(PARIS).date() for s, _e in found] == [
        dt.date(2026, 1, 31), dt.date(2026, 3, 31), dt.date(2026, 5, 31),
        dt.date(2026, 7, 31), dt.date(2026, 8, 31)]
    assert all(s.astimezone(PARIS).hour == 22 for s, _e in found)
    assert all(e - s == dt.timedelta(hours=3) for s, e in found)


def test_repeat_until_is_the_last_local_date_an_occurrence_starts_on():
    window = spec(at(2026, 6, 1, 23, 30, tz=PARIS), at(2026, 6, 2, 0, 30, tz=PARIS),
                  "daily", until=dt.date(2026, 6, 3), tz="Europe/Paris")
    found = occurrences(window, at(2026, 1, 1), at(2027, 1, 1))
    # 23:30 Paris on 3 June is 21:30 UTC the same day; the 4th is after the end date
    assert [s.astimezone(PARIS).date() for s, _e in found] == [
        dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)]


def test_expansion_jumps_to_the_range_asked_about(monkeypatch):
    window = spec(at(2000, 1, 1, 2), at(2000, 1, 1, 4), "daily")
    calls = []
    real = windows_module._nth_local_start
    monkeypatch.setattr(windows_module, "_nth_local_start",
                        lambda *args: calls.append(args) or real(*args))
    found = occurrences(window, at(2026, 7, 1), at(2026, 7, 8))
    assert len(found) == 7 and found[0] == (at(2026, 7, 1, 2), at(2026, 7, 1, 4))
    assert len(calls) < 15  # not the 9,700 days since 2000


def test_a_monthly_window_far_back_is_expanded_without_walking_the_years(monkeypatch):
    window = spec(at(1990, 1, 15, 1), at(1990, 1, 15, 3), "monthly")
    calls = []
    real = windows_module._nth_local_start
    monkeypatch.setattr(windows_module, "_nth_local_start",
                        lambda *args: calls.append(args) or real(*args))
    assert occurrences(window, at(2026, 3, 1), at(2026, 4, 1)) == [
        (at(2026, 3, 15, 1), at(2026, 3, 15, 3))]
    assert len(calls) < 6


def test_nothing_before_the_first_occurrence_and_naive_datetimes_are_refused():
    window = spec(at(2026, 5, 1, 2), at(2026, 5, 1, 4), "weekly")
    assert occurrences(window, at(2026, 1, 1), at(2026, 5, 1)) == []
    with pytest.raises(ValueError):
        occurrences(window, dt.datetime(2026, 1, 1), at(2026, 2, 1))


def test_next_occurrences_and_merging():
    window = spec(at(2026, 1, 31, 1), at(2026, 1, 31, 2), "monthly")
    assert [s.date() for s, _e in next_occurrences(window, at(2026, 2, 1), 2)] == [
        dt.date(2026, 3, 31), dt.date(2026, 5, 31)]
    assert merged([(at(2026, 1, 1, 2), at(2026, 1, 1, 4)), (at(2026, 1, 1, 0), at(2026, 1, 1, 2)),
                   (at(2026, 1, 2), at(2026, 1, 2, 1))]) == [
        (at(2026, 1, 1, 0), at(2026, 1, 1, 4)), (at(2026, 1, 2), at(2026, 1, 2, 1))]


# --- Properties against a naive day-by-day reference ----------------------------------

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
         "America/Santiago"]


def reference(window, start, end):
    """Every local day from the first one, one by one."""
    tz = ZoneInfo(window.timezone)
    base = _local(window.starts_at, tz)
    length = _local(window.ends_at, tz) - base
    found = []
    day, index = base.date(), 0
    last = _local(end, tz).date() + dt.timedelta(days=2)
    while day <= last:
        if window.repeat_until and day > window.repeat_until:
            break
        if window.recurrence == "daily" or index % 7 == 0:
            local_start = dt.datetime.combine(day, base.time())
            span = ((window.starts_at, window.ends_at) if index == 0 else
                    (_instant(local_start, tz), _instant(local_start + length, tz)))
            if span[0] < span[1] and span[0] < end and span[1] > start:
                found.append(span)
        day += dt.timedelta(days=1)
        index += 1
    return found


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), recurrence=st.sampled_from(["daily", "weekly"]),
       first=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 12, 31)),
       minutes=st.integers(min_value=1, max_value=23 * 60),
       until_days=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
       offset_hours=st.integers(min_value=-24 * 30, max_value=24 * 500),
       range_hours=st.integers(min_value=1, max_value=24 * 40))
def test_daily_and_weekly_match_the_day_by_day_reference(zone, recurrence, first, minutes,
                                                          until_days, offset_hours,
                                                          range_hours):
    tz = ZoneInfo(zone)
    if recurrence == "weekly":
        minutes = minutes * 7 - 1  # up to just under a week
    start_at = _instant(first.replace(second=0, microsecond=0), tz)
    window = spec(start_at, start_at + dt.timedelta(minutes=minutes), recurrence,
                  until=None if until_days is None else first.date()
                  + dt.timedelta(days=until_days), tz=zone)
    query_start = start_at + dt.timedelta(hours=offset_hours)
    query_end = query_start + dt.timedelta(hours=range_hours)
    found = occurrences(window, query_start, query_end)
    assert found == reference(window, query_start, query_end)
    # In order, each one starts at the first one's local time of day (unless the clocks
    # skipped it)
    assert found == sorted(found)
    base = _local(start_at, tz)

    def exists(local):
        return _local(_instant(local, tz), tz) == local

    for begin, _finish in found:
        local = _local(begin, tz)
        if local.time() != base.time():
            # only when the clocks skipped that time (moved on by the gap)
            days = (local.date(), local.date() - dt.timedelta(days=1))
            assert any(not exists(dt.datetime.combine(day, base.time())) for day in days)


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES),
       first=st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 12, 31)),
       hours=st.integers(min_value=1, max_value=24 * 27),
       offset_days=st.integers(min_value=-40, max_value=900),
       range_days=st.integers(min_value=1, max_value=120))
def test_monthly_occurrences_keep_the_day_and_time(zone, first, hours, offset_days,
                                                   range_days):
    tz = ZoneInfo(zone)
    start_at = _instant(first.replace(second=0, microsecond=0), tz)
    window = spec(start_at, start_at + dt.timedelta(hours=hours), "monthly", tz=zone)
    query_start = start_at + dt.timedelta(days=offset_days)
    found = occurrences(window, query_start, query_start + dt.timedelta(days=range_days))
    base = _local(start_at, tz)
    expected_days = set()
    for month_index in range(-2, (offset_days + range_days) // 28 + 3):
        year, month = windows_module._add_months(base.year, base.month, month_index)
        with contextlib.suppress(ValueError):
            expected_days.add(base.replace(year=year, month=month).date())
    for begin, finish in found:
        assert finish > begin and begin < query_start + dt.timedelta(days=range_days)
        assert finish > query_start
        local = _local(begin, tz)
        # each on the first one's day of the month (its local date, unless the clocks
        # skipped the hour and moved it on)
        assert local.date() in expected_days or (local - dt.timedelta(hours=3)).date() \
            in expected_days


# --- Services ----------------------------------------------------------------------------

def window_entries(window):
    return AuditEntry.objects.filter(content_type__model="schedulewindow",
                                     object_id=str(window.pk))


@pytest.fixture
def manager(db):
    return UserFactory(username="cm", roles=["change_manager"])


def test_a_change_manager_adds_a_recurring_maintenance_window_audited(manager):
    web = server("web-01")
    created = window_create(actor=manager, kind="maintenance", name=" Sunday patching ",
                            ci=web, starts_at=at(2026, 3, 22, 2, tz=PARIS),
                            ends_at=at(2026, 3, 22, 6, tz=PARIS), recurrence="weekly",
                            timezone="Europe/Paris")
    assert created.name == "Sunday patching" and created.created_by == manager
    entry = window_entries(created).get(action="create")
    assert entry.changes["recurrence"] == [None, "weekly"]
    assert entry.changes["timezone"] == [None, "Europe/Paris"]


def test_desk_staff_without_the_permission_cannot_add_windows(db):
    agent = UserFactory(username="agent", roles=["service_desk_agent"])
    with pytest.raises(NotPermitted):
        window_create(actor=agent, kind="freeze", name="Year end", starts_at=at(2026, 12, 20),
                      ends_at=at(2027, 1, 3))
    assert not ScheduleWindow.objects.exists()


@pytest.mark.parametrize("values, field, words", [
    ({"starts_at": at(2026, 5, 2), "ends_at": at(2026, 5, 1)}, "ends_at", "after the start"),
    ({"recurrence": "daily", "ends_at": at(2026, 5, 2, 1)}, "ends_at", "overlaps itself"),
    ({"kind": "maintenance", "ci": None}, "ci", "belongs to a CI"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", "time zone"),
    ({"repeat_until": dt.date(2026, 6, 1)}, "repeat_until", "repeating"),
    ({"ends_at": dt.datetime(2026, 5, 2)}, "ends_at", "time zone"),
])
def test_bad_windows_are_refused_at_the_field(manager, values, field, words):
    fields = {"kind": "freeze", "name": "Freeze", "starts_at": at(2026, 5, 1),
              "ends_at": at(2026, 5, 1, 4), **values}
    with pytest.raises(DomainError) as raised:
        window_create(actor=manager, **fields)
    assert words in " ".join(raised.value.fields[field])
    assert not ScheduleWindow.objects.exists()


def test_update_records_the_diff_and_keeps_the_rules(manager):
    freeze = window_create(actor=manager, kind="freeze", name="Year end",
                           starts_at=at(2026, 12, 20), ends_at=at(2027, 1, 3))
    window_update(actor=manager, window=freeze, name="Year-end freeze",
                  reason="Finance closing")
    entry = window_entries(freeze).get(action="update")
    assert entry.changes == {"name": ["Year end", "Year-end freeze"],
                             "reason": ["", "Finance closing"]}
    with pytest.raises(DomainError) as raised:
        window_update(actor=manager, window=freeze, ends_at=at(2026, 12, 1))
    assert "ends_at" in raised.value.fields
    with pytest.raises(DomainError) as raised:
        window_update(actor=manager, window=freeze, created_by=None)
    assert "created_by" in raised.value.fields
    freeze.refresh_from_db()
    assert freeze.ends_at == at(2027, 1, 3)


def test_delete_is_audited(manager):
    freeze = window_create(actor=manager, kind="freeze", name="Year end",
                           starts_at=at(2026, 12, 20), ends_at=at(2027, 1, 3))
    window_delete(actor=manager, window=freeze)
    assert not ScheduleWindow.objects.exists()
    entry = window_entries(freeze).get(action="delete")
    assert entry.changes["name"] == ["Year end", None]
