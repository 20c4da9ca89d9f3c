"""The forward schedule of change (selector) and its iCalendar export."""

import datetime as dt

import pytest

from changes.ical import calendar_ics, escape, fold
from changes.models import ChangeConflict
from changes.schedule import ScheduleEntry, forward_schedule
from itsm.errors import DomainError
from tests.changes.schedule_helpers import (
    PARIS,
    app,
    at,
    link,
    make_change,
    server,
    service,
    window,
)
from tests.factories import TeamFactory, UserFactory

JUNE, JULY = at(2026, 6, 1), at(2026, 7, 1)


@pytest.fixture
def manager(db):
    return UserFactory(username="cm", roles=["change_manager"])


@pytest.fixture
def world(manager):
    email, payroll = service("Email"), service("Payroll")
    web, host, other = app("web-01"), server("esx-02"), app("pay-01")
    link(email, "depends_on", web)
    link(web, "runs_on", host)
    link(payroll, "depends_on", other)
    ops, apps = TeamFactory(name="Ops"), TeamFactory(name="Apps")
    changes = {
        "host": make_change(manager, "Host firmware", start=at(2026, 6, 7, 1),
                            end=at(2026, 6, 7, 3), cis=(host,), assignment_group=ops,
                            state="scheduled", risk="high"),
        "email": make_change(manager, "Email config", start=at(2026, 6, 10, 8),
                             end=at(2026, 6, 10, 9), services=(email,),
                             assignment_group=apps, type="emergency"),
        "payroll": make_change(manager, "Payroll patch", start=at(2026, 6, 12, 20),
                               end=at(2026, 6, 12, 22), cis=(other,), assignment_group=ops),
        "cancelled": make_change(manager, "Cancelled", start=at(2026, 6, 12, 20),
                                 end=at(2026, 6, 12, 22), cis=(web,), state="cancelled"),
        "outside": make_change(manager, "In July", start=at(2026, 7, 2), end=at(2026, 7, 3),
                               cis=(web,)),
    }
    windows = {
        "sunday": window("maintenance", at(2026, 5, 3, 2, tz=PARIS), at(2026, 5, 3, 6, tz=PARIS),
                         ci=web, recurrence="weekly", tz="Europe/Paris", name="Sunday"),
        "payroll": window("maintenance", at(2026, 6, 20, 1), at(2026, 6, 20, 3), ci=other,
                          name="Payroll night"),
        "global": window("freeze", at(2026, 6, 25), at(2026, 6, 28), name="Quarter end"),
        "email": window("freeze", at(2026, 6, 15), at(2026, 6, 16), ci=email,
                        name="Email launch"),
    }
    return {"svc_email": email, "svc_payroll": payroll, "ops": ops, "apps": apps, **changes,
            "windows": windows}


def titles(entries, kind=None):
    return [entry.title for entry in entries if kind is None or entry.kind == kind]


def test_the_month_lists_changes_and_window_occurrences_in_order(world):
    entries = forward_schedule(JUNE, JULY)
    assert titles(entries, "change") == [
        f"{world[key].number} {world[key].title}" for key in ("host", "email", "payroll")]
    assert len([e for e in entries if e.window_id == world["windows"]["sunday"].pk]) == 4
    assert [e.start for e in entries] == sorted(e.start for e in entries)
    host = next(e for e in entries if e.change_id == world["host"].pk)
    assert (host.state, host.type, host.risk, host.team) == ("scheduled", "normal", "high",
                                                               "Ops")
    assert host.state_label == "Scheduled" and host.risk_label == "High"
    assert host.uid == f"change-{world['host'].pk}" and not host.conflict
    freeze = next(e for e in entries if e.kind == "freeze" and e.window_id ==
                  world["windows"]["global"].pk)
    assert freeze.title == "Change freeze: Quarter end (everywhere)"


def test_changes_with_stored_conflicts_are_flagged(world):
    ChangeConflict.objects.create(change=world["email"], kind="freeze", reason="x")
    flagged = {e.change_id for e in forward_schedule(JUNE, JULY) if e.conflict}
    assert flagged == {world["email"].pk}


def test_filter_by_service_keeps_what_touches_it_and_global_freezes(world):
    entries = forward_schedule(JUNE, JULY, service=world["svc_email"])
    # the host change touches a CI Email depends on (two links down)
    assert {e.change_id for e in entries if e.is_change} == {world["host"].pk,
                                                             world["email"].pk}
    window_ids = {e.window_id for e in entries if not e.is_change}
    windows = world["windows"]
    assert window_ids == {windows["sunday"].pk, windows["global"].pk, windows["email"].pk}
    payroll = forward_schedule(JUNE, JULY, service=world["svc_payroll"])
    assert {e.change_id for e in payroll if e.is_change} == {world["payroll"].pk}
    assert {e.window_id for e in payroll if not e.is_change} == {windows["payroll"].pk,
                                                                  windows["global"].pk}


def test_filter_by_team_and_type(world):
    ops = forward_schedule(JUNE, JULY, team=world["ops"])
    assert {e.change_id for e in ops if e.is_change} == {world["host"].pk,
                                                         world["payroll"].pk}
    assert any(not e.is_change for e in ops)  # windows whatever the team
    emergency = forward_schedule(JUNE, JULY, types=["emergency"])
    assert {e.change_id for e in emergency if e.is_change} == {world["email"].pk}


@pytest.mark.parametrize("start, end, field, words", [
    (JULY, JUNE, "end", "after the start"),
    (JUNE, JUNE + dt.timedelta(days=101), "end", "At most 100 days"),
    (dt.datetime(2026, 6, 1), JULY, "start", "time zone"),
])
def test_the_range_is_checked(db, start, end, field, words):
    with pytest.raises(DomainError) as raised:
        forward_schedule(start, end)
    assert words in raised.value.fields[field][0]


def test_the_schedule_reads_a_bounded_number_of_queries(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        forward_schedule(JUNE, JULY)
    with django_assert_max_num_queries(10):
        forward_schedule(JUNE, JULY, service=world["svc_email"], team=world["ops"])


# --- iCalendar ----------------------------------------------------------------------------

def unfold(text):
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in lines)
    joined = []
    for line in lines:
        if line.startswith(" "):
            joined[-1] += line[1:]
        else:
            joined.append(line)
    return joined


def unescape(value):
    out, index = "", 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            nxt = value[index + 1]
            out += "\n" if nxt in "nN" else nxt
            index += 2
        else:
            out += char
            index += 1
    return out


def parse(text):
    events, current, calendar = [], None, {}
    for line in unfold(text):
        name, _sep, value = line.partition(":")
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            events.append(current)
            current = None
        elif current is not None:
            current[name] = value
        else:
            calendar[name] = value
    return calendar, events


def test_escaping_and_folding():
    assert escape("a,b;c\\d\nnext") == "a\\,b\\;c\\\\d\\nnext"
    line = "SUMMARY:" + "é" * 60
    folded = fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line  # never splits a character
    assert fold("SHORT:x") == "SHORT:x"


def test_the_export_parses_back(world):
    ChangeConflict.objects.create(change=world["host"], kind="freeze", reason="x")
    world["host"].description = "Reboot; then check, carefully\nall hosts"
    world["host"].save()
    entries = forward_schedule(JUNE, JULY)
    text = calendar_ics(entries, base_url="https://itsm.example.org/",
                        now=at(2026, 5, 20, 12))
    calendar, events = parse(text)
    assert calendar["BEGIN"] == "VCALENDAR" and calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] and calendar["END"] == "VCALENDAR"
    assert len(events) == len(entries)
    host = next(e for e in events if e["UID"] == f"change-{world['host'].pk}@itsm.example.org")
    assert host["DTSTART"] == "20260607T010000Z" and host["DTEND"] == "20260607T030000Z"
    assert host["DTSTAMP"] == "20260520T120000Z"
    assert unescape(host["SUMMARY"]) == f"{world['host'].number} Host firmware"
    assert unescape(host["DESCRIPTION"]) == ("Scheduled · Normal · High risk · Ops\n"
                                             "Has conflicts.\n"
                                             "Reboot; then check, carefully\nall hosts")
    assert host["CATEGORIES"] == "Change,Normal"
    sunday = [e for e in events if e["UID"].startswith(
        f"window-{world['windows']['sunday'].pk}-")]
    assert [e["DTSTART"] for e in sunday] == ["20260607T000000Z", "20260614T000000Z",
                                              "20260621T000000Z", "20260628T000000Z"]
    assert all(e["TRANSP"] == "TRANSPARENT" for e in sunday)
    # the same export again: the same UIDs
    again = parse(calendar_ics(forward_schedule(JUNE, JULY),
                               base_url="https://itsm.example.org/"))[1]
    assert [e["UID"] for e in again] == [e["UID"] for e in events]


def test_links_are_absolute_with_a_base_url():
    entry = ScheduleEntry(kind="change", uid="change-1", title="CHG1, a; b", start=JUNE,
                          end=JULY, url="/desk/changes/1/", categories=["Change", "Normal"])
    _calendar, [event] = parse(calendar_ics([entry], base_url="https://x.example/"))
    assert event["URL"] == "https://x.example/desk/changes/1/"
    assert event["SUMMARY"] == "CHG1\\, a\\; b"
