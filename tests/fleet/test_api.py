"""The fleet API: devices with filters, detail (inventory summary and snapshot),
refresh and revoke; live questions (field errors, progress, answers); enrolment groups
and secrets (the secret in the create response only); permissions and the error shape."""

import datetime

import pytest
from django.utils import timezone

from fleet import services
from fleet.live import live_query_dispatch
from fleet.models import Agent, EnrolmentGroup, EnrolmentSecret, Inventory, Job, LiveQuery
from tests.factories import UserFactory

from .conftest import FACTS

BASE = "/api/v1/fleet"


@pytest.fixture
def desk_agent(db):
    return UserFactory(username="desk-agent", roles=["service_desk_agent"])


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


@pytest.fixture
def devices(enrolled, secret):
    for n in range(3):
        services.agent_enrol(secret=secret, facts={
            **FACTS, "hostname": f"ws-{n}", "serial_number": f"WS{n}",
            "mac_addresses": [f"aa:bb:cc:00:11:0{n}"], "agent_version": "2.0.0"})
    services.agents_seen([enrolled.agent.pk])
    return Agent.objects.all()


def test_devices_list_filters_and_pages(api, desk_agent, devices,
                                        django_assert_max_num_queries):
    api.force_authenticate(desk_agent)
    with django_assert_max_num_queries(8):
        response = api.get(f"{BASE}/devices/")
    assert response.status_code == 200
    assert len(response.data["results"]) == 4
    row = next(r for r in response.data["results"] if r["hostname"] == "lap-0042")
    assert row["online"] is True and row["device_class"] == "workstation"
    assert api.get(f"{BASE}/devices/?online=true").data["results"][0]["hostname"] == "lap-0042"
    assert len(api.get(f"{BASE}/devices/?version=2.0.0").data["results"]) == 3
    assert [r["hostname"] for r in api.get(f"{BASE}/devices/?q=ws-1").data["results"]] == [
        "ws-1"]
    page = api.get(f"{BASE}/devices/?page_size=2")
    assert len(page.data["results"]) == 2 and page.data["next"]
    assert len(api.get(page.data["next"]).data["results"]) == 2


def test_device_detail_has_inventory_and_snapshot(api, desk_agent, enrolled):
    Inventory.objects.create(agent=enrolled.agent, received_at=timezone.now(), data={
        "os": {"name": "Ubuntu", "version": "24.04"}, "memory_mb": 4096,
        "disks": [{"mount": "/", "total_gb": 100, "used_percent": 40}],
        "software": [{"name": "a"}, {"name": "b"}]},
        snapshot={"processes": [{"name": "low", "cpu_percent": 1},
                                {"name": "high", "cpu_percent": 50}]},
        snapshot_at=timezone.now())
    api.force_authenticate(desk_agent)
    data = api.get(f"{BASE}/devices/{enrolled.agent.pk}/").data
    assert data["inventory"]["os"] == "Ubuntu 24.04"
    assert data["inventory"]["software_count"] == 2
    assert data["inventory"]["disks"] == [{"mount": "/", "total_gb": 100, "used_percent": 40}]
    assert [p["name"] for p in data["snapshot"]["processes"]] == ["high", "low"]
    assert data["snapshot"]["waiting"] is False


def test_refresh_queues_a_snapshot_job_and_revoke_needs_a_manager(
        api, desk_agent, asset_manager, enrolled, django_capture_on_commit_callbacks):
    api.force_authenticate(desk_agent)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{BASE}/devices/{enrolled.agent.pk}/refresh/")
    assert response.status_code == 202 and response.data["snapshot"]["waiting"] is True
    assert Job.objects.filter(agent=enrolled.agent, kind="snapshot").count() == 1
    denied = api.post(f"{BASE}/devices/{enrolled.agent.pk}/revoke/")
    assert denied.status_code == 403 and denied.data["code"] == "permission_denied"
    api.force_authenticate(asset_manager)
    assert api.post(f"{BASE}/devices/{enrolled.agent.pk}/revoke/").data["revoked_at"]
    again = api.post(f"{BASE}/devices/{enrolled.agent.pk}/revoke/")
    assert again.status_code == 400 and again.data["code"] == "revoked"
    refused = api.post(f"{BASE}/devices/{enrolled.agent.pk}/refresh/")
    assert refused.status_code == 400 and "agent" in refused.data["fields"]


def test_live_questions_errors_name_the_parameter(api, desk_agent):
    api.force_authenticate(desk_agent)
    response = api.post(f"{BASE}/questions/", {"kind": "disk_above", "params": {}},
                        format="json")
    assert response.status_code == 400 and "params.percent" in response.data["fields"]
    response = api.post(f"{BASE}/questions/", {"kind": "nope", "params": {}}, format="json")
    assert response.status_code == 400 and "kind" in response.data["fields"]
    assert not LiveQuery.objects.exists()


def test_a_live_question_through_the_api(api, desk_agent, devices):
    api.force_authenticate(desk_agent)
    response = api.post(f"{BASE}/questions/", {"kind": "service_stopped",
                                               "params": {"name": "cups"}}, format="json")
    assert response.status_code == 201
    query_id = response.data["id"]
    # eager task, but the test's transaction never commits: dispatch as the worker would
    live_query_dispatch(query_id)
    job = Job.objects.get(live_query_id=query_id)
    services.results_record([(job.agent_id, {"execution_id": str(job.pk),
                                             "status": "succeeded",
                                             "data": {"matched": True,
                                                      "detail": {"state": "inactive"}}})])
    data = api.get(f"{BASE}/questions/{query_id}/").data
    assert data["progress"] == {"targeted": 1, "answered": 1, "matched": 1, "refused": 0,
                                "offline": 3, "waiting": 0, "expired": False, "done": True}
    assert data["matched_answers"][0]["hostname"] == "lap-0042"
    assert data["matched_answers"][0]["detail"] == {"state": "inactive"}
    listed = api.get(f"{BASE}/questions/").data["results"]
    assert listed[0]["answered"] == 1 and listed[0]["matched"] == 1


def test_enrolment_through_the_api_returns_the_secret_once(api, desk_agent, asset_manager):
    api.force_authenticate(desk_agent)
    assert api.get(f"{BASE}/enrolment-groups/").status_code == 403
    assert api.post(f"{BASE}/enrolment-secrets/", {}).status_code == 403
    api.force_authenticate(asset_manager)
    group = api.post(f"{BASE}/enrolment-groups/", {"name": "Kiosks", "tags": ["kiosk"]},
                     format="json")
    assert group.status_code == 201 and group.data["tags"] == ["kiosk"]
    duplicate = api.post(f"{BASE}/enrolment-groups/", {"name": "Kiosks"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.data["fields"]
    expires = (timezone.now() + datetime.timedelta(days=2)).isoformat()
    created = api.post(f"{BASE}/enrolment-secrets/", {
        "group": group.data["id"], "name": "wave 1", "expires_at": expires, "max_uses": 10},
        format="json")
    assert created.status_code == 201
    raw = created.data["secret"]
    assert raw.startswith("itsm_enr_") and created.data["state"] == "active"
    assert created["Cache-Control"] == "no-store"
    shown = api.get(f"{BASE}/enrolment-secrets/{created.data['id']}/").data
    assert "secret" not in shown and shown["prefix"] == raw[:12]
    assert raw not in str(api.get(f"{BASE}/enrolment-secrets/").data)
    past = api.post(f"{BASE}/enrolment-secrets/", {
        "group": group.data["id"], "expires_at": timezone.now().isoformat()}, format="json")
    assert past.status_code == 400 and "expires_at" in past.data["fields"]
    revoked = api.post(f"{BASE}/enrolment-secrets/{created.data['id']}/revoke/")
    assert revoked.data["state"] == "revoked"
    assert EnrolmentSecret.objects.get().revoked_at is not None
    assert EnrolmentGroup.objects.count() == 1


def test_the_fleet_api_is_for_fleet_viewers(api, db):
    api.force_authenticate(UserFactory(roles=["change_manager"]))
    assert api.get(f"{BASE}/devices/").status_code == 403
    assert api.get(f"{BASE}/questions/").status_code == 403
    api.force_authenticate(None)
    assert api.get(f"{BASE}/devices/").status_code in (401, 403)
