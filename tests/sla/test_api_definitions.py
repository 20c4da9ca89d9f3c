"""The SLA definitions API: calendars and agreements through real HTTP, refusals as 400s
naming the field with nothing written, permissions, holiday generation, the preview,
and the engine measuring with an agreement edited through the API."""

import pytest
from django.contrib.contenttypes.models import ContentType

from audit.models import AuditEntry
from incidents import services as incident_services
from sla.engine import timers_of
from sla.models import Agreement, BusinessCalendar, Holiday, Target, Threshold
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import UserFactory

CALENDARS = "/api/v1/sla/calendars/"
AGREEMENTS = "/api/v1/sla/agreements/"
OFFICE = {day: ["09:00-17:00"] for day in ("monday", "tuesday", "wednesday", "thursday",
                                           "friday")}


@pytest.fixture
def manager(db):
    return UserFactory(username="slm", roles=["service_level_manager"])


@pytest.fixture
def as_manager(api, manager):
    api.force_authenticate(manager)
    return api


@pytest.fixture
def calendar(as_manager):
    response = as_manager.post(CALENDARS, {"name": "London", "time_zone": "Europe/London",
                                           "weekly": OFFICE}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def audit_count(model):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(model)).count()


def test_a_calendar_round_trips(as_manager, calendar):
    assert calendar["weekly"]["monday"] == ["09:00-17:00"]
    assert calendar["weekly"]["sunday"] == []
    response = as_manager.patch(f"{CALENDARS}{calendar['id']}/", {
        "weekly": {"monday": ["08:00-12:00", "13:00-17:00"]},
        "exceptions": [{"date": "2026-12-24", "reason": "Christmas Eve",
                        "intervals": ["09:00-12:00"]}],
        "holidays": [{"date": "2026-12-25", "name": "Christmas"}]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["weekly"]["monday"] == ["08:00-12:00", "13:00-17:00"]
    assert body["weekly"]["friday"] == []
    assert body["exceptions"] == [{"date": "2026-12-24", "reason": "Christmas Eve",
                                   "intervals": ["09:00-12:00"]}]
    assert body["holidays"] == [{"date": "2026-12-25", "name": "Christmas",
                                 "source": "manual"}]
    assert as_manager.get(CALENDARS).json()[0]["name"] == "London"


@pytest.mark.parametrize(("body", "field"), [
    ({"weekly": {}}, "weekly"),
    ({"weekly": {"monday": ["09:00-12:00", "10:00-11:00"]}}, "weekly.monday"),
    ({"weekly": {"monday": ["12:00-09:00"]}}, "weekly.monday"),
    ({"weekly": OFFICE, "time_zone": "Europe/Atlantis"}, "time_zone"),
    ({"weekly": OFFICE, "exceptions": [{"date": "2026-13-01", "reason": "x"}]},
     "exceptions.0.date"),
    ({"weekly": OFFICE, "holiday_country": "QQ"}, "holiday_country"),
])
def test_bad_calendars_are_400_naming_the_field(as_manager, body, field):
    response = as_manager.post(CALENDARS, {"name": "Bad", **body}, format="json")
    assert response.status_code == 400
    error = response.json()
    assert field in error["fields"] and error["message"]
    assert not BusinessCalendar.objects.exists() and audit_count(BusinessCalendar) == 0


def test_a_failed_update_writes_nothing(as_manager, calendar):
    response = as_manager.patch(f"{CALENDARS}{calendar['id']}/", {
        "description": "changed", "weekly": {"tuesday": ["10:00-09:00"]}}, format="json")
    assert response.status_code == 400 and "weekly.tuesday" in response.json()["fields"]
    stored = BusinessCalendar.objects.get()
    assert stored.description == "" and stored.intervals.count() == 5
    assert audit_count(BusinessCalendar) == 1


def test_generate_holidays_and_preview(as_manager, calendar):
    url = f"{CALENDARS}{calendar['id']}/"
    response = as_manager.post(f"{url}generate-holidays/", {
        "year": 2026, "country": "GB", "subdivision": "ENG"}, format="json")
    assert response.status_code == 200, response.json()
    added = {h["date"]: h["name"] for h in response.json()["added"]}
    assert added["2026-12-25"] == "Christmas Day"
    assert response.json()["calendar"]["holiday_country"] == "GB"
    again = as_manager.post(f"{url}generate-holidays/", {"year": 2026}, format="json")
    assert again.json()["added"] == []
    unknown = as_manager.post(f"{url}generate-holidays/", {"year": 2026, "country": "GB",
                                                          "subdivision": "NOPE"},
                              format="json")
    assert unknown.status_code == 400 and "holiday_subdivision" in unknown.json()["fields"]

    preview = as_manager.get(f"{url}preview/", {"start": "2026-12-24T18:00:00Z",
                                                "count": 2})
    assert preview.status_code == 200
    assert preview.json()["time_zone"] == "Europe/London"
    assert [(p["start"], p["end"], p["minutes"]) for p in preview.json()["periods"]] == [
        # Christmas Day, Boxing Day (Saturday) and its observed Monday are not worked.
        ("2026-12-29T09:00:00Z", "2026-12-29T17:00:00Z", 480),
        ("2026-12-30T09:00:00Z", "2026-12-30T17:00:00Z", 480),
    ]


def test_a_calendar_in_use_is_not_deleted(as_manager, calendar):
    as_manager.post(AGREEMENTS, {"name": "Gold", "targets": [
        {"metric": "resolution", "goal_minutes": 480, "calendar": calendar["id"]}]},
        format="json")
    response = as_manager.delete(f"{CALENDARS}{calendar['id']}/")
    assert response.status_code == 409 and "Gold" in response.json()["message"]
    assert BusinessCalendar.objects.filter(pk=calendar["id"]).exists()


def test_agents_read_but_cannot_write(api, agent, manager, calendar):
    api.force_authenticate(agent)
    assert api.get(f"{CALENDARS}{calendar['id']}/").status_code == 200
    assert api.get(AGREEMENTS).status_code == 200
    assert api.post(CALENDARS, {"name": "Mine", "weekly": OFFICE},
                    format="json").status_code == 403
    assert api.patch(f"{CALENDARS}{calendar['id']}/", {"name": "Hacked"},
                     format="json").status_code == 403
    assert api.post(f"{CALENDARS}{calendar['id']}/generate-holidays/",
                    {"year": 2026, "country": "GB"}, format="json").status_code == 403
    assert api.post(AGREEMENTS, {"name": "Mine"}, format="json").status_code == 403
    assert api.delete(f"{CALENDARS}{calendar['id']}/").status_code == 403
    assert list(BusinessCalendar.objects.values_list("name", flat=True)) == ["London"]
    assert not Holiday.objects.exists() and not Agreement.objects.exists()


def test_requesters_cannot_read(api, requester):
    api.force_authenticate(requester)
    assert api.get(CALENDARS).status_code == 403


def test_an_agreement_with_nested_targets_round_trips(as_manager, calendar):
    response = as_manager.post(AGREEMENTS, {
        "name": "Gold", "kind": "sla", "priorities": [1, 2], "caller_vip": True,
        "targets": [
            {"metric": "first_response", "goal_minutes": 30, "calendar": calendar["id"]},
            {"metric": "resolution", "goal_minutes": 240, "calendar": calendar["id"],
             "pause_on": ["on_hold:awaiting_caller"], "reset_on": ["assignment_group"],
             "thresholds": [{"percent": 100, "actions": ["notify_team_manager"],
                             "working_hours_only": True}, {"percent": 80}]}]},
        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["priorities"] == [1, 2] and body["caller_vip"] is True
    first, resolution = body["targets"]
    assert [t["percent"] for t in first["thresholds"]] == [50, 75, 90, 100]
    assert resolution["thresholds"] == [
        {"percent": 80, "actions": [], "reassign_to": None, "working_hours_only": False},
        {"percent": 100, "actions": ["notify_team_manager"], "reassign_to": None,
         "working_hours_only": True}]
    assert resolution["reset_on"] == ["assignment_group"]


@pytest.mark.parametrize(("body", "field"), [
    ({"priorities": [7]}, "priorities"),
    ({"services": "server"}, "services"),
    ({"categories": [424242]}, "categories"),
    ({"targets": [{"metric": "resolution", "goal_minutes": 60, "calendar": None,
                   "thresholds": [{"percent": 50}, {"percent": 50}]}]},
     "targets.0.thresholds.1.percent"),
    ({"targets": [{"metric": "resolution", "goal_minutes": 60, "calendar": None,
                   "thresholds": [{"percent": 150}]}]}, "targets.0.thresholds.0.percent"),
    ({"targets": [{"metric": "resolution", "goal_minutes": 60, "calendar": None,
                   "stop_on": ["finished"]}]}, "targets.0.stop_on"),
    ({"targets": [{"metric": "resolution", "goal_minutes": 60, "calendar": 987654}]},
     "targets.0.calendar"),
    ({"targets": [{"metric": "uptime", "goal_minutes": 60, "calendar": None}]},
     "targets.0.metric"),
])
def test_bad_agreements_are_400_naming_the_field(as_manager, calendar, body, field):
    body = dict(body)
    if body.get("services") == "server":
        body["services"] = [CIFactory(name="srv", ci_class=ci_class("server")).pk]
    for each in body.get("targets", []):
        if each["calendar"] is None:
            each["calendar"] = calendar["id"]
    response = as_manager.post(AGREEMENTS, {"name": "Bad", **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Agreement.objects.exists() and not Target.objects.exists()
    assert not Threshold.objects.exists() and audit_count(Agreement) == 0


def test_a_shadowed_agreement_is_400_on_order(as_manager, calendar):
    as_manager.post(AGREEMENTS, {"name": "All"}, format="json")
    response = as_manager.post(AGREEMENTS, {"name": "P1", "priorities": [1]}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "never_matches"
    assert "order" in response.json()["fields"]


def test_move_and_delete(as_manager, calendar, requester):
    p1 = as_manager.post(AGREEMENTS, {"name": "P1", "priorities": [1], "targets": [
        {"metric": "resolution", "goal_minutes": 60, "calendar": calendar["id"]}]},
        format="json").json()
    p2 = as_manager.post(AGREEMENTS, {"name": "P2", "priorities": [2]}, format="json").json()
    moved = as_manager.post(f"{AGREEMENTS}{p2['id']}/move/", {"direction": "up"},
                            format="json")
    assert [a["name"] for a in moved.json()] == ["P2", "P1"]
    assert as_manager.delete(f"{AGREEMENTS}{p2['id']}/").status_code == 204
    incident_services.incident_create(actor=requester, title="Down", impact=1, urgency=1)
    kept = as_manager.delete(f"{AGREEMENTS}{p1['id']}/")
    assert kept.status_code == 200 and kept.json()["is_active"] is False
    assert Agreement.objects.filter(pk=p1["id"], is_active=False).exists()


def test_the_engine_measures_with_an_agreement_edited_through_the_api(as_manager, calendar,
                                                                      requester):
    created = as_manager.post(AGREEMENTS, {"name": "Standard", "targets": [
        {"metric": "resolution", "goal_minutes": 480, "calendar": calendar["id"]}]},
        format="json").json()
    response = as_manager.patch(f"{AGREEMENTS}{created['id']}/", {"targets": [
        {"metric": "resolution", "goal_minutes": 120, "calendar": calendar["id"]}]},
        format="json")
    assert response.status_code == 200, response.json()
    incident = incident_services.incident_create(actor=requester, title="Printer jam")
    assert [(t.metric, t.goal_seconds) for t in timers_of(incident)] == [("resolution", 7200)]


def test_the_schema_documents_the_endpoints(as_manager):
    schema = as_manager.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/sla/calendars/{id}/preview/" in paths
    assert "/api/v1/sla/calendars/{id}/generate-holidays/" in paths
    assert "/api/v1/sla/agreements/{id}/move/" in paths


def test_listing_costs_the_same_for_more_definitions(as_manager, calendar,
                                                     django_assert_max_num_queries):
    def create(priority):
        response = as_manager.post(AGREEMENTS, {
            "name": f"P{priority}", "priorities": [priority], "targets": [
                {"metric": "resolution", "goal_minutes": 60, "calendar": calendar["id"]}]},
            format="json")
        assert response.status_code == 201

    create(1)
    as_manager.get(AGREEMENTS)
    as_manager.get(CALENDARS)
    with django_assert_max_num_queries(12) as few:
        as_manager.get(AGREEMENTS)
        as_manager.get(CALENDARS)
    baseline = len(few)  # now: the next request resets the connection's query log
    for priority in (2, 3, 4):
        create(priority)
    as_manager.post(CALENDARS, {"name": "Other", "weekly": OFFICE}, format="json")
    with django_assert_max_num_queries(baseline):
        agreements = as_manager.get(AGREEMENTS).json()
        calendars = as_manager.get(CALENDARS).json()
    assert len(agreements) == 4 and len(calendars) == 2
