"""Outages, maintenance windows and targets through the services: what they write, what
they refuse (naming the field), what they audit; and the outages that follow major
incidents (declare, resolve, reopen, cancel, stand down, change of service)."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from availability import services
from availability.models import AvailabilityTarget, MaintenanceWindow, Outage
from incidents import major
from incidents import services as incidents
from itsm.errors import DomainError, NotPermitted

from .conftest import ago

RESOLUTION = {"resolution_code": "solved_workaround",
              "resolution_notes": "Failed over to the secondary mail cluster."}


def audit_of(target):
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(target),
                                     object_id=str(target.pk))


# --- Outages by hand ------------------------------------------------------------------

def test_record_an_outage_writes_and_audits_it(asset_manager, email_service):
    started, ended = ago(hours=3), ago(hours=1)
    outage = services.outage_record(actor=asset_manager, service=email_service,
                                    started_at=started, ended_at=ended,
                                    description="  Mail relay down  ")
    outage.refresh_from_db()
    assert (outage.started_at, outage.ended_at) == (started, ended)
    assert outage.description == "Mail relay down"
    assert outage.created_by == asset_manager and outage.source_incident is None
    entry = audit_of(outage).get()
    assert entry.actor == asset_manager and entry.action == "create"
    assert entry.changes["ended_at"] == [None, ended.isoformat()]


@pytest.mark.parametrize(("values", "field", "code"), [
    ({"started_at": -1, "ended_at": -2}, "ended_at", "ends_before_start"),
    ({"started_at": -1, "ended_at": -1}, "ended_at", "ends_before_start"),
    ({"started_at": 1}, "started_at", "invalid"),
    ({"started_at": -2, "ended_at": 1}, "ended_at", "invalid"),
    ({"started_at": None}, "started_at", "invalid"),
])
def test_refusals_name_the_field(asset_manager, email_service, values, field, code):
    now = timezone.now()
    moments = {name: None if hours is None else now + datetime.timedelta(hours=hours)
               for name, hours in values.items()}
    with pytest.raises(DomainError) as refused:
        services.outage_record(actor=asset_manager, service=email_service, **moments)
    assert field in refused.value.fields and refused.value.code == code
    assert not Outage.objects.exists()


def test_naive_times_are_refused(asset_manager, email_service):
    with pytest.raises(DomainError) as refused:
        services.outage_record(actor=asset_manager, service=email_service,
                               started_at=datetime.datetime(2026, 1, 1))
    assert "started_at" in refused.value.fields


def test_only_business_services_have_outages(asset_manager, mail_server):
    with pytest.raises(DomainError) as refused:
        services.outage_record(actor=asset_manager, service=mail_server,
                               started_at=ago(hours=1))
    assert refused.value.code == "not_a_service" and "service" in refused.value.fields


def test_people_without_the_cmdb_edit_permission_are_refused(agent, email_service):
    with pytest.raises(NotPermitted):
        services.outage_record(actor=agent, service=email_service, started_at=ago(hours=1))
    with pytest.raises(NotPermitted):
        services.availability_target_set(actor=agent, service=email_service,
                                          target_percent="99.5")


def test_a_hand_recorded_outage_may_not_overlap_another_of_the_service(
        asset_manager, email_service, payroll_service):
    services.outage_record(actor=asset_manager, service=email_service,
                           started_at=ago(hours=5), ended_at=ago(hours=3))
    with pytest.raises(DomainError) as refused:
        services.outage_record(actor=asset_manager, service=email_service,
                               started_at=ago(hours=4), ended_at=ago(hours=2))
    assert refused.value.code == "overlapping_outage"
    assert set(refused.value.fields) == {"started_at", "ended_at"}
    # Touching is not overlapping, and another service is another matter.
    first = Outage.objects.get()
    services.outage_record(actor=asset_manager, service=email_service,
                           started_at=first.ended_at, ended_at=ago(hours=2))
    services.outage_record(actor=asset_manager, service=payroll_service,
                           started_at=ago(hours=4), ended_at=ago(hours=2))
    assert Outage.objects.count() == 3


def test_an_ongoing_outage_blocks_any_later_one(asset_manager, email_service):
    services.outage_record(actor=asset_manager, service=email_service, started_at=ago(hours=5))
    with pytest.raises(DomainError) as refused:
        services.outage_record(actor=asset_manager, service=email_service,
                               started_at=ago(hours=1))
    assert refused.value.code == "overlapping_outage"


def test_edit_and_end_an_outage(asset_manager, email_service):
    outage = services.outage_record(actor=asset_manager, service=email_service,
                                    started_at=ago(hours=5))
    earlier = ago(hours=6)
    services.outage_update(actor=asset_manager, outage=outage, started_at=earlier)
    services.outage_update(actor=asset_manager, outage=outage, started_at=earlier)  # no-op
    ended = services.outage_end(actor=asset_manager, outage=outage)
    assert ended.ended_at is not None and ended.started_at == earlier
    actions = list(audit_of(outage).order_by("at", "id").values_list("action", "changes"))
    assert [action for action, _ in actions] == ["create", "update", "update"]
    assert set(actions[2][1]) == {"ended_at"}
    with pytest.raises(DomainError) as refused:
        services.outage_end(actor=asset_manager, outage=outage)
    assert refused.value.code == "already_ended"
    with pytest.raises(DomainError) as refused:
        services.outage_update(actor=asset_manager, outage=outage, service=email_service)
    assert "service" in refused.value.fields


def test_delete_a_hand_recorded_outage_but_not_one_from_an_incident(
        asset_manager, incident_manager, email_service, email_incident):
    outage = services.outage_record(actor=asset_manager, service=email_service,
                                    started_at=ago(days=3), ended_at=ago(days=2))
    services.outage_delete(actor=asset_manager, outage=outage)
    assert not Outage.objects.filter(pk=outage.pk).exists()
    assert AuditEntry.objects.filter(action="delete", object_id=str(outage.pk)).exists()
    major.incident_declare_major(actor=incident_manager, incident=email_incident,
                                 manager=incident_manager, reason="No mail")
    from_incident = Outage.objects.get()
    with pytest.raises(DomainError) as refused:
        services.outage_delete(actor=asset_manager, outage=from_incident)
    assert refused.value.code == "from_incident"


# --- Maintenance windows --------------------------------------------------------------

def test_maintenance_windows_crud(asset_manager, email_service):
    starts = timezone.now() + datetime.timedelta(days=2)
    window = services.maintenance_window_create(
        actor=asset_manager, service=email_service, starts_at=starts,
        ends_at=starts + datetime.timedelta(hours=2), reason="Patch the mail cluster")
    services.maintenance_window_update(actor=asset_manager, window=window,
                                       ends_at=starts + datetime.timedelta(hours=3))
    window.refresh_from_db()
    assert window.ends_at == starts + datetime.timedelta(hours=3)
    services.maintenance_window_delete(actor=asset_manager, window=window)
    assert not MaintenanceWindow.objects.exists()
    assert list(audit_of(window).order_by("at", "id").values_list("action", flat=True)) == [
        "create", "update", "delete"]


def test_maintenance_refusals(asset_manager, email_service, mail_server):
    starts = timezone.now()
    with pytest.raises(DomainError) as refused:
        services.maintenance_window_create(actor=asset_manager, service=email_service,
                                           starts_at=starts, ends_at=starts, reason="x")
    assert refused.value.code == "ends_before_start" and "ends_at" in refused.value.fields
    with pytest.raises(DomainError) as refused:
        services.maintenance_window_create(
            actor=asset_manager, service=email_service, starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=1), reason="  ")
    assert "reason" in refused.value.fields
    with pytest.raises(DomainError) as refused:
        services.maintenance_window_create(
            actor=asset_manager, service=mail_server, starts_at=starts,
            ends_at=starts + datetime.timedelta(hours=1), reason="Patch")
    assert "service" in refused.value.fields
    assert not MaintenanceWindow.objects.exists()


# --- Targets --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-1", "100.001", "abc", "NaN", "Infinity",
                                   "99.1234"])
def test_targets_outside_zero_to_one_hundred_are_refused(asset_manager, email_service, value):
    with pytest.raises(DomainError) as refused:
        services.availability_target_set(actor=asset_manager, service=email_service,
                                          target_percent=value)
    assert "target_percent" in refused.value.fields
    assert not AvailabilityTarget.objects.exists()


def test_set_change_and_remove_a_target(asset_manager, email_service):
    services.availability_target_set(actor=asset_manager, service=email_service,
                                      target_percent="99.5")
    services.availability_target_set(actor=asset_manager, service=email_service,
                                      target_percent="100")
    assert AvailabilityTarget.objects.get().target_percent == Decimal("100")
    services.availability_target_set(actor=asset_manager, service=email_service,
                                      target_percent=None)
    assert not AvailabilityTarget.objects.exists()
    changes = [entry.changes["availability_target"]
               for entry in audit_of(email_service).order_by("at", "id")]
    assert changes == [[None, "99.5"], ["99.5", "100"], ["100", None]]


# --- Outages that follow major incidents ----------------------------------------------

def declare(incident, manager):
    return major.incident_declare_major(actor=manager, incident=incident, manager=manager,
                                        reason="Whole company without mail")


def test_declaring_major_opens_an_outage_from_the_declaration(email_incident,
                                                              incident_manager):
    incident = declare(email_incident, incident_manager)
    outage = Outage.objects.get()
    assert outage.service == incident.service and outage.source_incident == incident
    assert outage.started_at == incident.major_declared_at and outage.ended_at is None
    assert incident.number in outage.description
    entry = audit_of(outage).get()
    assert entry.actor == incident_manager and incident.number in entry.message


def test_resolve_ends_it_reopen_reopens_it_close_keeps_it_ended(email_incident,
                                                                incident_manager, agent):
    declare(email_incident, incident_manager)
    resolved = incidents.incident_transition(actor=agent, incident=email_incident,
                                             to_state="resolved", **RESOLUTION)
    outage = Outage.objects.get()
    assert outage.ended_at == resolved.resolved_at
    incidents.incident_transition(actor=agent, incident=email_incident,
                                  to_state="in_progress")
    outage.refresh_from_db()
    assert outage.ended_at is None and Outage.objects.count() == 1
    resolved = incidents.incident_transition(actor=agent, incident=email_incident,
                                             to_state="resolved", **RESOLUTION)
    incidents.incident_transition(actor=agent, incident=email_incident, to_state="closed")
    outage.refresh_from_db()
    assert outage.ended_at == resolved.resolved_at
    assert list(audit_of(outage).order_by("at", "id").values_list("action", flat=True)) == [
        "create", "update", "update", "update"]


def test_cancelling_ends_it_at_the_cancellation(email_incident, incident_manager, agent):
    declare(email_incident, incident_manager)
    cancelled = incidents.incident_transition(actor=agent, incident=email_incident,
                                              to_state="cancelled")
    assert Outage.objects.get().ended_at == cancelled.closed_at


def test_standing_down_ends_it_and_declaring_again_opens_another(email_incident,
                                                                 incident_manager):
    declare(email_incident, incident_manager)
    major.incident_stand_down(actor=incident_manager, incident=email_incident,
                              reason="Only one team affected")
    first = Outage.objects.get()
    assert first.ended_at is not None
    incident = declare(email_incident, incident_manager)
    second = Outage.objects.exclude(pk=first.pk).get()
    assert second.started_at == incident.major_declared_at and second.ended_at is None


def test_a_change_of_service_moves_the_outage(email_incident, incident_manager, agent,
                                              payroll_service):
    declare(email_incident, incident_manager)
    incidents.incident_update(actor=agent, incident=email_incident, service=payroll_service)
    email, payroll = (Outage.objects.get(service=email_incident.service),
                      Outage.objects.get(service=payroll_service))
    assert email.ended_at is not None and payroll.ended_at is None
    assert payroll.started_at == email.ended_at


def test_no_outage_without_a_business_service(requester, desk_team, incident_manager,
                                              mail_server):
    no_service = incidents.incident_create(actor=requester, title="Something is off",
                                           impact=1, urgency=1)
    on_an_application = incidents.incident_create(actor=requester, title="mail-01 down",
                                                  service=mail_server, impact=1, urgency=1)
    declare(no_service, incident_manager)
    declare(on_an_application, incident_manager)
    assert not Outage.objects.exists()


def test_following_is_idempotent(email_incident, incident_manager, agent):
    incident = declare(email_incident, incident_manager)
    changes = {"changes": {"is_major": [False, True]}}
    services.outage_follow_incident(incident=incident, event="updated", details=changes)
    assert Outage.objects.count() == 1
    resolved = incidents.incident_transition(actor=agent, incident=incident,
                                             to_state="resolved", **RESOLUTION)
    services.outage_follow_incident(incident=resolved, event="transitioned",
                                    details={"from": "in_progress", "to": "resolved"})
    outage = Outage.objects.get()
    assert outage.ended_at == resolved.resolved_at
    assert audit_of(outage).count() == 2


def test_a_hand_ended_outage_is_not_ended_again_by_the_resolution(
        email_incident, incident_manager, asset_manager, agent):
    declare(email_incident, incident_manager)
    outage = Outage.objects.get()
    ended = services.outage_end(actor=asset_manager, outage=outage).ended_at
    incidents.incident_transition(actor=agent, incident=email_incident, to_state="resolved",
                                  **RESOLUTION)
    outage.refresh_from_db()
    assert outage.ended_at == ended


def test_the_outage_rolls_back_with_the_declaration(email_incident, incident_manager):
    with pytest.raises(RuntimeError), transaction.atomic():
        declare(email_incident, incident_manager)
        assert Outage.objects.exists()
        raise RuntimeError("the caller fails after declaring")
    assert not Outage.objects.exists()
    email_incident.refresh_from_db()
    assert not email_incident.is_major
