"""The availability API: outages and maintenance windows (CRUD, refusals with the field
named), monthly availability per service and targets."""

import datetime
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEntry
from availability import services
from availability.models import AvailabilityTarget, MaintenanceWindow, Outage
from incidents import major

NOW = datetime.datetime(2026, 11, 16, 12, 0, tzinfo=datetime.UTC)
OUTAGES = "/api/v1/availability/outages/"
WINDOWS = "/api/v1/availability/maintenance-windows/"
SERVICES = "/api/v1/availability/services/"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def manager_api(api, asset_manager):
    api.force_authenticate(asset_manager)
    return api


@pytest.fixture
def agent_api(api, agent):
    api.force_authenticate(agent)
    return api


def test_record_list_patch_end_and_delete_an_outage(manager_api, email_service):
    created = manager_api.post(OUTAGES, {"service": email_service.pk,
                                         "started_at": "2026-11-16T08:00:00Z",
                                         "description": "Mail down"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["ongoing"] is True and body["service_name"] == "Email & Collaboration"
    assert body["source_incident"] is None
    outage = Outage.objects.get(pk=body["id"])
    listed = manager_api.get(OUTAGES, {"service": email_service.pk, "ongoing": "true"}).json()
    assert [row["id"] for row in listed["results"]] == [outage.pk]
    patched = manager_api.patch(f"{OUTAGES}{outage.pk}/", {"started_at": "2026-11-16T07:30:00Z"},
                                format="json")
    assert patched.status_code == 200 and patched.json()["started_at"] == "2026-11-16T07:30:00Z"
    ended = manager_api.post(f"{OUTAGES}{outage.pk}/end/", {"ended_at": "2026-11-16T09:00:00Z"},
                             format="json")
    assert ended.status_code == 200 and ended.json()["ongoing"] is False
    again = manager_api.post(f"{OUTAGES}{outage.pk}/end/", {}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "already_ended"
    assert manager_api.delete(f"{OUTAGES}{outage.pk}/").status_code == 204
    assert not Outage.objects.exists()
    assert AuditEntry.objects.filter(object_id=str(outage.pk), action="delete").exists()


def test_outage_refusals_name_the_field(manager_api, email_service, mail_server):
    backwards = manager_api.post(OUTAGES, {"service": email_service.pk,
                                           "started_at": "2026-11-16T08:00:00Z",
                                           "ended_at": "2026-11-16T07:00:00Z"}, format="json")
    assert backwards.status_code == 400
    assert backwards.json()["code"] == "ends_before_start"
    assert "ended_at" in backwards.json()["fields"]
    not_a_service = manager_api.post(OUTAGES, {"service": mail_server.pk,
                                               "started_at": "2026-11-16T08:00:00Z"},
                                     format="json")
    assert not_a_service.status_code == 400 and "service" in not_a_service.json()["fields"]
    manager_api.post(OUTAGES, {"service": email_service.pk,
                               "started_at": "2026-11-16T08:00:00Z",
                               "ended_at": "2026-11-16T09:00:00Z"}, format="json")
    overlap = manager_api.post(OUTAGES, {"service": email_service.pk,
                                         "started_at": "2026-11-16T08:30:00Z"}, format="json")
    assert overlap.status_code == 400 and overlap.json()["code"] == "overlapping_outage"
    assert Outage.objects.count() == 1


def test_outage_from_a_major_incident_names_it_and_cannot_be_deleted(
        manager_api, incident_manager, email_incident):
    major.incident_declare_major(actor=incident_manager, incident=email_incident,
                                 manager=incident_manager, reason="No mail")
    row = manager_api.get(OUTAGES, {"incident": email_incident.pk}).json()["results"][0]
    assert row["source_incident_number"] == email_incident.number and row["ongoing"]
    refused = manager_api.delete(f"{OUTAGES}{row['id']}/")
    assert refused.status_code == 400 and refused.json()["code"] == "from_incident"


def test_writes_need_the_cmdb_edit_permission(agent_api, email_service):
    refused = agent_api.post(OUTAGES, {"service": email_service.pk,
                                       "started_at": "2026-11-16T08:00:00Z"}, format="json")
    assert refused.status_code == 403 and not Outage.objects.exists()
    assert agent_api.get(OUTAGES).status_code == 200


def test_requesters_and_anonymous_are_refused(api, requester):
    assert api.get(SERVICES).status_code in (401, 403)
    api.force_authenticate(requester)
    assert api.get(OUTAGES).status_code == 403


def test_maintenance_windows_crud(manager_api, email_service):
    created = manager_api.post(WINDOWS, {"service": email_service.pk,
                                         "starts_at": "2026-11-20T22:00:00Z",
                                         "ends_at": "2026-11-20T23:00:00Z",
                                         "reason": "Patch"}, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert [row["id"] for row in manager_api.get(WINDOWS, {"upcoming": "true"})
            .json()["results"]] == [pk]
    assert manager_api.get(WINDOWS, {"upcoming": "false"}).json()["results"] == []
    refused = manager_api.patch(f"{WINDOWS}{pk}/", {"ends_at": "2026-11-20T21:00:00Z"},
                                format="json")
    assert refused.status_code == 400 and "ends_at" in refused.json()["fields"]
    changed = manager_api.patch(f"{WINDOWS}{pk}/", {"reason": "Patch and reboot"},
                                format="json")
    assert changed.status_code == 200 and changed.json()["reason"] == "Patch and reboot"
    assert manager_api.delete(f"{WINDOWS}{pk}/").status_code == 204
    assert not MaintenanceWindow.objects.exists()


def test_monthly_availability_and_target(manager_api, asset_manager, email_service,
                                         payroll_service):
    services.outage_record(actor=asset_manager, service=email_service,
                           started_at=datetime.datetime(2026, 10, 5, 1, tzinfo=datetime.UTC),
                           ended_at=datetime.datetime(2026, 10, 5, 4, tzinfo=datetime.UTC))
    target = manager_api.put(f"{SERVICES}{email_service.pk}/target/",
                             {"target_percent": "99.9"}, format="json")
    assert target.status_code == 200 and target.json() == {"target_percent": "99.900"}
    rows = manager_api.get(SERVICES, {"month": "2026-10"}).json()
    assert [row["service_name"] for row in rows] == ["Email & Collaboration", "Payroll"]
    assert rows[0] == {"service": email_service.pk, "service_name": "Email & Collaboration",
                       "month": "2026-10", "availability_percent": "99.596",
                       "target_percent": "99.900", "target_met": False,
                       "agreed_seconds": 31 * 86400, "downtime_seconds": 3 * 3600}
    history = manager_api.get(f"{SERVICES}{email_service.pk}/", {"months": "2"}).json()
    assert [row["month"] for row in history] == ["2026-11", "2026-10"]
    assert history[0]["agreed_seconds"] == (15 * 86400 + 12 * 3600)  # to date
    bad = manager_api.get(SERVICES, {"month": "2026-1"})
    assert bad.status_code == 400 and "month" in bad.json()["fields"]
    assert manager_api.get(f"{SERVICES}{email_service.pk}/",
                           {"months": "0"}).status_code == 400
    out_of_range = manager_api.put(f"{SERVICES}{email_service.pk}/target/",
                                   {"target_percent": "0"}, format="json")
    assert out_of_range.status_code == 400
    assert out_of_range.json()["code"] == "target_out_of_range"
    removed = manager_api.put(f"{SERVICES}{email_service.pk}/target/",
                              {"target_percent": None}, format="json")
    assert removed.json() == {"target_percent": None}
    assert not AvailabilityTarget.objects.exists()
    assert Decimal(rows[0]["availability_percent"]) < Decimal("99.9")


def test_schema_builds(manager_api):
    response = manager_api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/availability/outages/{id}/end/" in response.content
