import datetime
import itertools

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from cmdb import services as cmdb
from incidents import services
from incidents.models import (
    Category,
    Incident,
    IncidentSettings,
    IncidentState,
    PriorityMatrixEntry,
    RoutingRule,
)
from itsm.errors import DomainError, NotPermitted
from tests.cmdb.factories import ci_class
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def incident(requester, desk_team):
    return services.incident_create(actor=requester, title="Outlook will not start")


# --- Priority matrix ------------------------------------------------------------------

@pytest.mark.parametrize(("impact", "urgency", "priority"), [
    (1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 2), (2, 2, 3), (2, 3, 4), (3, 1, 3), (3, 2, 4),
    (3, 3, 4)])
def test_itil_default_matrix(requester, desk_team, impact, urgency, priority):
    created = services.incident_create(actor=requester, title="x", impact=impact,
                                       urgency=urgency)
    assert created.priority == priority


def test_administrators_edit_the_matrix(requester, desk_team):
    PriorityMatrixEntry.objects.filter(impact=3, urgency=3).update(priority=3)
    assert services.incident_create(actor=requester, title="x").priority == 3


@pytest.mark.parametrize(("impact", "urgency"), [(0, 1), (4, 1), (1, 9)])
def test_impact_and_urgency_out_of_range_are_refused(requester, desk_team, impact, urgency):
    with pytest.raises(DomainError) as error:
        services.incident_create(actor=requester, title="x", impact=impact, urgency=urgency)
    assert "impact" in error.value.fields
    assert not Incident.objects.exists()


def test_override_needs_a_reason_and_permission_and_is_audited(incident, agent, db):
    manager = UserFactory(roles=["incident_manager"])
    with pytest.raises(NotPermitted):
        services.incident_override_priority(actor=agent, incident=incident, priority=1,
                                            reason="CEO")
    with pytest.raises(DomainError) as error:
        services.incident_override_priority(actor=manager, incident=incident, priority=1,
                                            reason="  ")
    assert "priority_override_reason" in error.value.fields
    changed = services.incident_override_priority(actor=manager, incident=incident,
                                                  priority=1, reason="Board meeting in 1 h")
    assert changed.priority == 1 and changed.priority_overridden
    entry = AuditEntry.objects.filter(object_id=str(incident.pk),
                                      content_type__model="incident").latest("id")
    assert entry.changes == {"priority": [4, 1]} and "Board meeting" in entry.message


# --- Routing --------------------------------------------------------------------------

def test_routing_rules_first_match_wins_with_priority_bump(requester, desk_team):
    network = TeamFactory(name="Network")
    email = TeamFactory(name="Messaging")
    RoutingRule.objects.create(name="VPN", order=10, keywords="vpn, remote access",
                               assignment_group=network, priority_bump=1)
    RoutingRule.objects.create(name="Mail", order=20, keywords="outlook",
                               assignment_group=email)
    routed = services.incident_create(actor=requester, title="VPN drops",
                                      description="remote access fails at home")
    assert routed.assignment_group == network and routed.priority == 3  # P4 bumped
    mail = services.incident_create(actor=requester, title="Outlook crashes")
    assert mail.assignment_group == email and mail.priority == 4
    entry = AuditEntry.objects.filter(object_id=str(routed.pk),
                                      message__startswith="Routed").get()
    assert "VPN" in entry.message


def test_routing_on_vip_and_location(requester, desk_team):
    vip_team = TeamFactory(name="VIP support")
    RoutingRule.objects.create(name="VIPs", caller_vip=True, assignment_group=vip_team)
    assert services.incident_create(actor=requester, title="x").assignment_group == desk_team
    requester.profile.vip = True
    requester.profile.save()
    assert services.incident_create(actor=requester, title="x").assignment_group == vip_team


def test_routing_falls_back_to_ci_owner_then_service_owner_then_desk(requester, desk_team):
    admin = UserFactory(roles=["administrator"])
    servers = TeamFactory(name="Servers")
    apps = TeamFactory(name="Apps")
    host = cmdb.ci_create(actor=admin, name="esx", ci_class=ci_class("server"),
                          attributes={"os": "RHEL 9"}, owner_team=servers)
    service = cmdb.ci_create(actor=admin, name="Payroll", ci_class=ci_class("business_service"),
                             owner_team=apps)
    assert services.incident_create(actor=requester, title="a", ci=host,
                                    service=service).assignment_group == servers
    assert services.incident_create(actor=requester, title="b",
                                    service=service).assignment_group == apps
    assert services.incident_create(actor=requester, title="c").assignment_group == desk_team


def test_category_rules_and_tree(requester, desk_team):
    hardware = Category.objects.create(name="Hardware")
    printer = Category.objects.create(name="Printer", parent=hardware)
    software = Category.objects.create(name="Software")
    field = TeamFactory(name="Field services")
    RoutingRule.objects.create(name="HW", category=hardware, assignment_group=field)
    created = services.incident_create(actor=requester, title="x", category=hardware,
                                       subcategory=printer)
    assert created.assignment_group == field
    with pytest.raises(DomainError) as error:
        services.incident_create(actor=requester, title="x", category=software,
                                 subcategory=printer)
    assert "subcategory" in error.value.fields


def test_suggested_assignee_has_the_fewest_open_incidents(requester, desk_team):
    busy, free = UserFactory(), UserFactory()
    MembershipFactory(team=desk_team, user=busy)
    MembershipFactory(team=desk_team, user=free)
    services.incident_create(actor=requester, title="x", assignee=busy)
    assert services.suggest_assignee(desk_team) == free


# --- Assignment -----------------------------------------------------------------------

def test_assignee_must_be_in_the_group(incident, agent, desk_team):
    outsider = UserFactory()
    with pytest.raises(DomainError) as error:
        services.incident_assign(actor=agent, incident=incident, group=desk_team,
                                 assignee=outsider)
    assert "assignee" in error.value.fields


def test_assigning_a_person_acknowledges_and_moves_to_assigned(incident, agent, desk_team):
    MembershipFactory(team=desk_team, user=agent)
    assigned = services.incident_assign(actor=agent, incident=incident, group=desk_team,
                                        assignee=agent)
    assert assigned.state == IncidentState.ASSIGNED and assigned.acknowledged_at is not None


def test_moving_to_another_group_counts_as_reassignment(incident, agent):
    network = TeamFactory(name="Network")
    moved = services.incident_assign(actor=agent, incident=incident, group=network)
    assert moved.reassignment_count == 1 and moved.assignment_group == network
    entry = AuditEntry.objects.filter(object_id=str(incident.pk), action="update",
                                      content_type__model="incident").latest("id")
    assert entry.changes["assignment_group"][1] == network.pk


def test_requesters_cannot_assign(incident, requester, desk_team):
    with pytest.raises(NotPermitted):
        services.incident_assign(actor=requester, incident=incident, group=desk_team)


# --- Lifecycle ------------------------------------------------------------------------

STATES = [s.value for s in IncidentState]


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(STATES, 2)))
def test_every_pair_of_states(incident, admin_user, source, target):
    Incident.objects.filter(pk=incident.pk).update(
        state=source, resolution_code="user_error", resolution_notes="Advice given",
        hold_reason="awaiting_caller", resolved_at=timezone.now())
    incident.refresh_from_db()
    if Incident.workflow.find(source, target) is not None:
        moved = services.incident_transition(actor=admin_user, incident=incident,
                                             to_state=target)
        assert moved.state == target
    else:
        with pytest.raises(DomainError) as error:
            services.incident_transition(actor=admin_user, incident=incident,
                                         to_state=target)
        assert error.value.code == "invalid_transition"
        incident.refresh_from_db()
        assert incident.state == source


def test_resolving_needs_code_and_notes(incident, agent):
    with pytest.raises(DomainError) as error:
        services.incident_transition(actor=agent, incident=incident, to_state="resolved")
    assert set(error.value.fields) == {"resolution_code", "resolution_notes"}
    resolved = services.incident_transition(
        actor=agent, incident=incident, to_state="resolved", resolution_code="user_error",
        resolution_notes="Cleared the profile cache")
    assert resolved.resolved_at is not None


def test_hold_needs_a_reason_and_resuming_clears_it(incident, agent):
    services.incident_transition(actor=agent, incident=incident, to_state="in_progress")
    with pytest.raises(DomainError) as error:
        services.incident_transition(actor=agent, incident=incident, to_state="on_hold")
    assert "hold_reason" in error.value.fields
    held = services.incident_transition(actor=agent, incident=incident, to_state="on_hold",
                                        hold_reason="awaiting_vendor")
    assert held.hold_reason == "awaiting_vendor"
    resumed = services.incident_transition(actor=agent, incident=incident,
                                           to_state="in_progress")
    assert resumed.hold_reason == ""


def resolve(incident, agent):
    return services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                        resolution_code="user_error", resolution_notes="ok")


def test_caller_reopens_within_the_window_only(incident, requester, agent):
    resolve(incident, agent)
    reopened = services.incident_transition(actor=requester, incident=incident,
                                            to_state="in_progress", note="Still broken")
    assert reopened.reopened_count == 1 and reopened.resolved_at is None
    resolve(incident, agent)
    Incident.objects.filter(pk=incident.pk).update(
        resolved_at=timezone.now() - datetime.timedelta(days=8))
    with pytest.raises(DomainError) as error:
        services.incident_transition(actor=requester, incident=incident,
                                     to_state="in_progress")
    assert error.value.code == "reopen_window_passed"
    stranger = UserFactory(roles=["requester"])
    with pytest.raises(NotPermitted):
        services.incident_transition(actor=stranger, incident=incident,
                                     to_state="in_progress")


def test_caller_cannot_resolve_or_close(incident, requester):
    with pytest.raises(NotPermitted):
        services.incident_transition(actor=requester, incident=incident, to_state="cancelled")


def test_auto_close_after_the_configured_period(incident, agent, db):
    resolve(incident, agent)
    IncidentSettings.objects.update(auto_close_days=3)
    assert services.incidents_auto_close(now=timezone.now() + datetime.timedelta(days=2)) == 0
    closed = services.incidents_auto_close(now=timezone.now() + datetime.timedelta(days=4))
    incident.refresh_from_db()
    assert closed == 1 and incident.state == "closed" and incident.closed_at is not None
    entry = AuditEntry.objects.filter(object_id=str(incident.pk), action="transition"
                                      ).latest("id")
    assert entry.actor is None and entry.changes["state"] == ["resolved", "closed"]


def test_first_desk_reply_stamps_first_response(incident, requester, agent):
    services.incident_respond(actor=requester, incident=incident, body="Any news?")
    services.incident_respond(actor=agent, incident=incident, body="Looking", internal=True)
    incident.refresh_from_db()
    assert incident.first_response_at is None
    services.incident_respond(actor=agent, incident=incident, body="On it")
    incident.refresh_from_db()
    assert incident.first_response_at is not None


def test_no_comments_on_closed_incidents(incident, agent, requester):
    resolve(incident, agent)
    services.incident_transition(actor=agent, incident=incident, to_state="closed")
    incident.refresh_from_db()
    with pytest.raises(DomainError) as error:
        services.incident_respond(actor=requester, incident=incident, body="hello?")
    assert error.value.code == "closed"


def test_numbers_use_the_inc_prefix(incident):
    assert incident.number.startswith("INC") and len(incident.number) == 10


def test_service_health_follows_open_p1_p2_incidents(requester, desk_team):
    from cmdb.models import Relationship
    from cmdb.selectors import service_health
    from tests.cmdb.factories import CIFactory, rel_type

    service = CIFactory(name="Payroll", ci_class=ci_class("business_service"))
    database = CIFactory(name="payroll-db", ci_class=ci_class("database"),
                         attributes={"engine": "PostgreSQL"})
    Relationship.objects.create(source=service, target=database, type=rel_type("depends_on"))
    assert service_health(service)["status"] == "operational"
    low = services.incident_create(actor=requester, title="slow report", ci=database)
    assert service_health(service)["status"] == "operational"  # P4 is no outage
    services.incident_create(actor=requester, title="DB down", ci=database, impact=1,
                             urgency=1)
    health = service_health(service)
    assert health["status"] == "degraded" and "DB down" in health["causes"][database.pk]
    services.incident_create(actor=requester, title="Payroll unusable", service=service,
                             impact=1, urgency=2)
    assert service_health(service)["status"] == "down"
    assert low.priority == 4


def test_admin_edits_the_matrix_and_it_is_audited(client, admin_user):
    entry = PriorityMatrixEntry.objects.get(impact=3, urgency=3)
    client.force_login(admin_user)
    response = client.get("/admin/incidents/prioritymatrixentry/")
    assert response.status_code == 200
    client.post(f"/admin/incidents/prioritymatrixentry/{entry.pk}/change/",
                {"impact": 3, "urgency": 3, "priority": 3})
    entry.refresh_from_db()
    assert entry.priority == 3
    assert AuditEntry.objects.filter(content_type__model="prioritymatrixentry",
                                     actor=admin_user).exists()


def test_caller_confirms_the_resolution_others_cannot(incident, requester, agent):
    resolve(incident, agent)
    with pytest.raises(NotPermitted):
        services.incident_transition(actor=UserFactory(roles=["requester"]),
                                     incident=incident, to_state="closed")
    closed = services.incident_transition(actor=requester, incident=incident,
                                          to_state="closed", note="Works now, thanks")
    assert closed.state == "closed"


def test_suggestion_is_one_query_and_ties_go_to_the_longest_serving(
    requester, desk_team, django_assert_num_queries
):
    first, second, gone = UserFactory(), UserFactory(), UserFactory(is_active=False)
    for person in (first, second, gone):
        MembershipFactory(team=desk_team, user=person)
    other_team = TeamFactory(name="Elsewhere")
    MembershipFactory(team=other_team, user=second)
    with django_assert_num_queries(1):
        assert services.suggest_assignee(desk_team) == first
    services.incident_create(actor=requester, title="x", assignee=first)
    assert services.suggest_assignee(desk_team) == second
    assert services.suggest_assignee(TeamFactory(name="Empty")) is None
