"""The desk: the Availability section of a service's CMDB page, the forms that record
outages, plan maintenance and set the target, and the monthly report with its CSV."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from availability import services
from availability.models import AvailabilityTarget, MaintenanceWindow, Outage
from incidents import major
from tests.cmdb.factories import CIFactory, ci_class

NOW = datetime.datetime(2026, 11, 16, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def manager_client(client, asset_manager):
    client.force_login(asset_manager)
    return client


def page(client, service):
    return client.get(reverse("cmdb:ci_detail", args=[service.pk]))


def moment(day, hour=0, month=11):
    return datetime.datetime(2026, month, day, hour, tzinfo=datetime.UTC)


# --- The section on the CMDB page -----------------------------------------------------

def test_service_page_shows_months_against_target_outages_and_maintenance(
        frozen, manager_client, asset_manager, incident_manager, email_service,
        email_incident):
    services.availability_target_set(actor=asset_manager, service=email_service,
                                      target_percent="99.9")
    # October: 2 hours down of 31 days (99.731%, missed); November so far: none by hand.
    services.outage_record(actor=asset_manager, service=email_service,
                           started_at=moment(10, 8, month=10), ended_at=moment(10, 10, month=10),
                           description="Relay failure")
    services.maintenance_window_create(actor=asset_manager, service=email_service,
                                       starts_at=moment(20, 22), ends_at=moment(20, 23),
                                       reason="Patch the mail cluster")
    major.incident_declare_major(actor=incident_manager, incident=email_incident,
                                 manager=incident_manager, reason="No mail")
    response = page(manager_client, email_service)
    assert response.status_code == 200
    body = response.content.decode()
    section = body[body.index('id="availability"'):body.index('id="relationships"')
                   if 'id="relationships"' in body else None]
    assert "99.9%" in section
    assert "October 2026" in section and "99.731%" in section and "Missed" in section
    assert "November 2026" in section and "100.000%" in section and "Met" in section
    assert "Relay failure" in section and "ongoing" in section
    assert reverse("incidents:detail", args=[email_incident.number]) in section
    assert "Patch the mail cluster" in section
    assert reverse("availability:outage_create", args=[email_service.pk]) in section
    assert "csrfmiddlewaretoken" in section  # the End and Remove buttons can post


def test_the_section_costs_the_same_queries_however_many_outages(
        frozen, manager_client, asset_manager, email_service):
    def record(count, day):
        for number in range(count):
            services.outage_record(actor=asset_manager, service=email_service,
                                   started_at=moment(day, number),
                                   ended_at=moment(day, number) + datetime.timedelta(minutes=5))

    record(2, 1)
    page(manager_client, email_service)
    with CaptureQueriesContext(connection) as few:
        page(manager_client, email_service)
    record(8, 2)
    with CaptureQueriesContext(connection) as more:
        body = page(manager_client, email_service).content.decode()
    assert body.count('href="/desk/availability/outages/') == 10  # an Edit link each
    assert len(more.captured_queries) == len(few.captured_queries)


def test_readers_without_the_cmdb_permission_see_figures_but_no_forms(
        frozen, client, agent, email_service):
    client.force_login(agent)
    body = page(client, email_service).content.decode()
    assert 'id="availability"' in body
    assert reverse("availability:outage_create", args=[email_service.pk]) not in body
    assert client.get(reverse("availability:outage_create",
                              args=[email_service.pk])).status_code == 403


def test_other_cis_have_no_availability_section(manager_client, mail_server):
    body = page(manager_client, mail_server).content.decode()
    assert 'id="availability"' not in body


# --- Forms ----------------------------------------------------------------------------

def test_record_an_outage_through_the_form(frozen, manager_client, email_service):
    url = reverse("availability:outage_create", args=[email_service.pk])
    assert manager_client.get(url).status_code == 200
    response = manager_client.post(url, {"started_at": "2026-11-15T08:00",
                                         "ended_at": "2026-11-15T09:30",
                                         "description": "DNS outage"})
    assert response.status_code == 302
    assert response["Location"].endswith(
        reverse("cmdb:ci_detail", args=[email_service.pk]) + "#availability")
    outage = Outage.objects.get()
    assert outage.started_at == moment(15, 8) and outage.description == "DNS outage"
    assert outage.ended_at - outage.started_at == datetime.timedelta(minutes=90)


def test_a_refused_outage_shows_the_error_at_the_field(frozen, manager_client, email_service):
    url = reverse("availability:outage_create", args=[email_service.pk])
    response = manager_client.post(url, {"started_at": "2026-11-15T09:00",
                                         "ended_at": "2026-11-15T08:00"})
    assert response.status_code == 400
    assert response.context["form"].errors["ended_at"] == ["The end must be after the start."]
    assert not Outage.objects.exists()


def test_edit_end_and_remove_an_outage(frozen, manager_client, asset_manager, email_service):
    outage = services.outage_record(actor=asset_manager, service=email_service,
                                    started_at=moment(16, 10))
    response = manager_client.post(reverse("availability:outage_edit", args=[outage.pk]),
                                   {"started_at": "2026-11-16T09:00", "ended_at": "",
                                    "description": "Started earlier"})
    assert response.status_code == 302
    outage.refresh_from_db()
    assert outage.started_at == moment(16, 9) and outage.ended_at is None
    manager_client.post(reverse("availability:outage_end", args=[outage.pk]))
    outage.refresh_from_db()
    assert outage.ended_at == NOW
    manager_client.post(reverse("availability:outage_delete", args=[outage.pk]))
    assert not Outage.objects.exists()


def test_maintenance_form_add_change_remove(frozen, manager_client, email_service):
    url = reverse("availability:maintenance_create", args=[email_service.pk])
    response = manager_client.post(url, {"starts_at": "2026-11-20T22:00",
                                         "ends_at": "2026-11-20T21:00", "reason": "Patch"})
    assert response.status_code == 400
    assert "ends_at" in response.context["form"].errors
    manager_client.post(url, {"starts_at": "2026-11-20T22:00", "ends_at": "2026-11-21T01:00",
                              "reason": "Patch"})
    window = MaintenanceWindow.objects.get()
    assert window.ends_at == moment(21, 1)
    manager_client.post(reverse("availability:maintenance_edit", args=[window.pk]),
                        {"starts_at": "2026-11-20T23:00", "ends_at": "2026-11-21T01:00",
                         "reason": "Patch and reboot"})
    window.refresh_from_db()
    assert window.reason == "Patch and reboot" and window.starts_at == moment(20, 23)
    manager_client.post(reverse("availability:maintenance_delete", args=[window.pk]))
    assert not MaintenanceWindow.objects.exists()


def test_target_form(manager_client, asset_manager, email_service):
    url = reverse("availability:target", args=[email_service.pk])
    response = manager_client.post(url, {"target_percent": "100.5"})
    assert response.status_code == 400
    assert response.context["form"].errors["target_percent"] == [
        "The target must be above 0 and at most 100 (%)."]
    manager_client.post(url, {"target_percent": "99.95"})
    assert AvailabilityTarget.objects.get().target_percent == Decimal("99.95")
    assert AuditEntry.objects.filter(actor=asset_manager, object_id=str(email_service.pk),
                                     changes__has_key="availability_target").exists()


def test_forms_only_for_business_services(manager_client, mail_server):
    url = reverse("availability:outage_create", args=[mail_server.pk])
    assert manager_client.get(url).status_code == 404


# --- Report ---------------------------------------------------------------------------

@pytest.fixture
def october(asset_manager, email_service, payroll_service):
    """Email: 3 h down in October (99.596%) against 99.9; Payroll: 1 h (99.865%) against
    99.5; HR portal: nothing, no target; Intranet: all month in maintenance."""
    services.availability_target_set(actor=asset_manager, service=email_service,
                                      target_percent="99.9")
    services.availability_target_set(actor=asset_manager, service=payroll_service,
                                      target_percent="99.5")
    services.outage_record(actor=asset_manager, service=email_service,
                           started_at=moment(5, 1, month=10), ended_at=moment(5, 4, month=10))
    services.outage_record(actor=asset_manager, service=payroll_service,
                           started_at=moment(7, 1, month=10), ended_at=moment(7, 2, month=10))
    CIFactory(name="HR portal", ci_class=ci_class("business_service"))
    intranet = CIFactory(name="Intranet", ci_class=ci_class("business_service"))
    services.maintenance_window_create(actor=asset_manager, service=intranet,
                                       starts_at=moment(1, month=10), ends_at=moment(1),
                                       reason="Rebuild")
    return email_service, payroll_service


def test_report_lists_services_worst_first(frozen, manager_client, october):
    response = manager_client.get(reverse("availability:report"), {"month": "2026-10"})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row.service.name for row in rows] == [
        "Email & Collaboration", "Payroll", "HR portal", "Intranet"]
    assert [row.month.figures.percent for row in rows] == [
        Decimal("99.596"), Decimal("99.865"), Decimal("100.000"), None]
    assert [row.month.met for row in rows] == [False, True, None, None]
    body = response.content.decode()
    assert "October 2026" in body and "99.596%" in body and "Missed" in body


def test_report_defaults_to_this_month_and_refuses_a_bad_month(frozen, manager_client):
    response = manager_client.get(reverse("availability:report"))
    assert response.context["month_key"] == "2026-11"
    response = manager_client.get(reverse("availability:report"), {"month": "2026-13"})
    assert response.status_code == 400
    assert response.context["form"].errors["month"] == ["Enter a month as YYYY-MM."]


def test_report_csv(frozen, manager_client, october):
    response = manager_client.get(reverse("availability:report_export"), {"month": "2026-10"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="availability-2026-10.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["service", "class", "month", "availability_percent",
                           "target_percent", "target_met"]
    assert rows[1] == ["Email & Collaboration", "Business service", "2026-10", "99.596",
                       "99.900", "no", "44640.0", "180.0", "1"]
    assert rows[4][0] == "Intranet" and rows[4][3] == "" and rows[4][5] == ""
    assert manager_client.get(reverse("availability:report_export"),
                              {"month": "x"}).status_code == 400


def test_report_csv_neutralises_formulas(frozen, manager_client):
    CIFactory(name="=HYPERLINK(\"x\")", ci_class=ci_class("business_service"))
    response = manager_client.get(reverse("availability:report_export"))
    content = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK" in content


def test_report_needs_desk_access(client, requester):
    client.force_login(requester)
    assert client.get(reverse("availability:report")).status_code == 403
    assert client.get(reverse("availability:report_export")).status_code == 403


def test_months_are_named_alike_for_readers_in_other_time_zones(frozen, client, agent,
                                                                email_service):
    agent.profile.time_zone = "America/New_York"
    agent.profile.save()
    client.force_login(agent)
    body = page(client, email_service).content.decode()
    section = body[body.index('id="availability"'):]
    assert "November 2026" in section and "June 2026" in section
    assert "May 2026" not in section
    report = client.get(reverse("availability:report"), {"month": "2026-10"}).content.decode()
    assert "Service availability, October 2026" in report
