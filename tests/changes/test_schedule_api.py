"""The schedule API: windows (CRUD for change managers, read for the desk), the forward
schedule (JSON and iCalendar) and a change's conflicts."""

import pytest
import time_machine
from django.utils import timezone

from changes.conflicts import conflicts_refresh
from changes.models import ChangeConflict, ScheduleWindow
from tests.changes.schedule_helpers import PARIS, app, at, make_change, window
from tests.factories import UserFactory

NOW = at(2026, 6, 10, 9)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False), timezone.override("UTC"):
        yield


@pytest.fixture
def manager(db):
    return UserFactory(username="cm", roles=["change_manager"])


@pytest.fixture
def agent(db):
    return UserFactory(username="agent", roles=["service_desk_agent"])


@pytest.fixture
def web(db):
    return app("web-01")


def as_user(api, user):
    api.force_authenticate(user)
    return api


# --- Windows -------------------------------------------------------------------------------

def test_a_change_manager_creates_a_window_and_desk_staff_read_it(api, manager, agent, web):
    response = as_user(api, manager).post("/api/v1/changes/windows/", {
        "kind": "maintenance", "name": "Sunday", "ci": web.pk,
        "starts_at": "2026-06-14T02:00:00+02:00", "ends_at": "2026-06-14T06:00:00+02:00",
        "recurrence": "weekly", "timezone": "Europe/Paris"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["ci_name"] == "web-01" and body["created_by"] == manager.pk
    assert body["next_occurrences"][0] == ["2026-06-14T00:00:00+00:00",
                                           "2026-06-14T04:00:00+00:00"]
    listed = as_user(api, agent).get("/api/v1/changes/windows/?kind=maintenance").json()
    assert [item["name"] for item in listed["results"]] == ["Sunday"]
    assert as_user(api, agent).get("/api/v1/changes/windows/?kind=freeze").json()[
        "results"] == []


def test_desk_staff_cannot_write_windows(api, agent, web):
    freeze = window("freeze", at(2026, 6, 25), at(2026, 6, 27))
    client = as_user(api, agent)
    assert client.post("/api/v1/changes/windows/", {
        "kind": "freeze", "name": "X", "starts_at": "2026-06-25T00:00:00Z",
        "ends_at": "2026-06-26T00:00:00Z"}, format="json").status_code == 403
    assert client.patch(f"/api/v1/changes/windows/{freeze.pk}/", {"name": "Y"},
                        format="json").status_code == 403
    assert client.delete(f"/api/v1/changes/windows/{freeze.pk}/").status_code == 403
    assert ScheduleWindow.objects.get().name == "freeze window"


def test_requesters_cannot_read(api, requester):
    assert as_user(api, requester).get("/api/v1/changes/windows/").status_code == 403
    assert as_user(api, requester).get("/api/v1/changes/schedule/").status_code == 403


@pytest.mark.parametrize("values, field", [
    ({"ends_at": "2026-06-24T00:00:00Z"}, "ends_at"),
    ({"recurrence": "daily", "ends_at": "2026-06-26T01:00:00Z"}, "ends_at"),
    ({"kind": "maintenance"}, "ci"),
    ({"timezone": "Nowhere/Land"}, "timezone"),
])
def test_bad_windows_answer_the_error_shape(api, manager, values, field):
    data = {"kind": "freeze", "name": "Bad", "starts_at": "2026-06-25T00:00:00Z",
            "ends_at": "2026-06-25T04:00:00Z", **values}
    response = as_user(api, manager).post("/api/v1/changes/windows/", data, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "fields"} and field in body["fields"]
    assert not ScheduleWindow.objects.exists()


def test_update_and_delete(api, manager):
    freeze = window("freeze", at(2026, 6, 25), at(2026, 6, 27))
    client = as_user(api, manager)
    response = client.patch(f"/api/v1/changes/windows/{freeze.pk}/",
                            {"name": "Quarter end", "ends_at": "2026-06-28T00:00:00Z"},
                            format="json")
    assert response.status_code == 200 and response.json()["name"] == "Quarter end"
    bad = client.patch(f"/api/v1/changes/windows/{freeze.pk}/",
                       {"ends_at": "2026-06-01T00:00:00Z"}, format="json")
    assert bad.status_code == 400 and "ends_at" in bad.json()["fields"]
    assert client.delete(f"/api/v1/changes/windows/{freeze.pk}/").status_code == 204
    assert not ScheduleWindow.objects.exists()


def test_the_windows_list_reads_a_bounded_number_of_queries(api, agent, web,
                                                            django_assert_max_num_queries):
    for index in range(20):
        window("maintenance", at(2026, 6, 1, 2), at(2026, 6, 1, 4), ci=web,
               recurrence="weekly", name=f"W{index}")
    client = as_user(api, agent)
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/changes/windows/").json()["results"]) == 20


# --- The forward schedule -------------------------------------------------------------------

@pytest.fixture
def planned(manager, web):
    change = make_change(manager, "Patch, web; now", start=at(2026, 6, 11, 20),
                         end=at(2026, 6, 11, 22), cis=(web,))
    window("maintenance", at(2026, 6, 7, 2, tz=PARIS), at(2026, 6, 7, 6, tz=PARIS), ci=web,
           recurrence="weekly", tz="Europe/Paris", name="Sunday")
    return change


def test_the_schedule_as_json(api, agent, planned):
    response = as_user(api, agent).get("/api/v1/changes/schedule/", {
        "start": "2026-06-08T00:00:00Z", "end": "2026-06-15T00:00:00Z"})
    assert response.status_code == 200
    entries = response.json()
    assert [entry["kind"] for entry in entries] == ["change", "maintenance"]
    assert entries[0]["number"] == planned.number and entries[0]["state"] == "new"
    assert entries[0]["url"] == f"/desk/changes/{planned.pk}/"
    assert entries[1]["start"] == "2026-06-14T00:00:00Z"


def test_the_schedule_filters_and_range_errors(api, agent, planned):
    client = as_user(api, agent)
    entries = client.get("/api/v1/changes/schedule/", {"type": "emergency"}).json()
    # the default range, 3 June to 9 September: fourteen Sundays
    assert [entry["kind"] for entry in entries] == ["maintenance"] * 14
    too_long = client.get("/api/v1/changes/schedule/", {
        "start": "2026-01-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"})
    assert too_long.status_code == 400 and "end" in too_long.json()["fields"]
    half = client.get("/api/v1/changes/schedule/", {"start": "2026-01-01T00:00:00Z"})
    assert half.status_code == 400 and "end" in half.json()["fields"]
    bad_team = client.get("/api/v1/changes/schedule/", {"team": "nope"})
    assert bad_team.status_code == 400 and "team" in bad_team.json()["fields"]


@pytest.mark.parametrize("url, extra", [("/api/v1/changes/schedule/", {"format": "ics"}),
                                        ("/api/v1/changes/schedule/ics/", {})])
def test_the_schedule_as_icalendar(api, agent, planned, url, extra):
    response = as_user(api, agent).get(url, {"start": "2026-06-08T00:00:00Z",
                                             "end": "2026-06-15T00:00:00Z", **extra})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    text = response.content.decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert "SUMMARY:" + planned.number + " Patch\\, web\\; now" in text
    assert text.count("BEGIN:VEVENT") == 2


def test_icalendar_errors_still_answer_json(api, agent, db):
    response = as_user(api, agent).get("/api/v1/changes/schedule/ics/", {
        "start": "2026-06-15T00:00:00Z", "end": "2026-06-08T00:00:00Z"})
    assert response.status_code == 400
    assert response.json()["fields"]["end"] == ["The end must be after the start."]


# --- Conflicts ---------------------------------------------------------------------------------

def test_a_changes_stored_conflicts_and_a_preview(api, agent, manager, web, planned):
    mine = make_change(manager, "Mine", start=at(2026, 6, 11, 21), end=at(2026, 6, 11, 23),
                       cis=(web,))
    window("freeze", at(2026, 6, 11), at(2026, 6, 12), name="Launch")
    conflicts_refresh(change=mine)
    body = as_user(api, agent).get(f"/api/v1/changes/{mine.pk}/conflicts/").json()
    assert body["preview"] is False and body["blocked_by_freeze"] is True
    kinds = sorted(item["kind"] for item in body["conflicts"])
    assert kinds == ["freeze", "outside_maintenance", "overlap"]
    overlap = next(item for item in body["conflicts"] if item["kind"] == "overlap")
    assert overlap["other_change_number"] == planned.number and overlap["ci_name"] == "web-01"
    assert overlap["detected_at"] is not None
    preview = as_user(api, agent).get(f"/api/v1/changes/{mine.pk}/conflicts/", {
        "start": "2026-06-14T00:30:00Z", "end": "2026-06-14T02:00:00Z"}).json()
    assert preview == {"preview": True, "planned_start": "2026-06-14T00:30:00Z",
                       "planned_end": "2026-06-14T02:00:00Z", "blocked_by_freeze": False,
                       "conflicts": []}
    assert ChangeConflict.objects.filter(change=mine).count() == 3
    bad = as_user(api, agent).get(f"/api/v1/changes/{mine.pk}/conflicts/",
                                  {"start": "2026-06-14T00:30:00Z"})
    assert bad.status_code == 400 and "end" in bad.json()["fields"]
