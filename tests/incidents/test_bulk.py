"""Bulk actions on the queue: each incident through its own service and transaction, a
refusal per incident with the reason, a batch refused as a whole writes nothing, and the
pages around it (the form on the queue, the result page, the assignee options)."""

import pytest
from django.db import transaction
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from incidents import bulk, services
from incidents.models import Incident, IncidentState
from itsm.errors import DomainError, NotPermitted
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tickets.models import Activity

LIST = reverse("incidents:list")
BULK = reverse("incidents:bulk")


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def network(db):
    return TeamFactory(name="Network")


@pytest.fixture
def make(requester, desk_team):
    return lambda title="x": services.incident_create(actor=requester, title=title)


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def close(agent, incident):
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")
    return services.incident_transition(actor=agent, incident=incident, to_state="closed")


def counts():
    return AuditEntry.objects.count(), Activity.objects.count()


def ids(*incidents):
    return [incident.pk for incident in incidents]


def refused(service, **kwargs):
    """The DomainError ``service`` raises for the whole batch."""
    with pytest.raises(DomainError) as caught:
        service(**kwargs)
    return caught.value


# --- Assign ---------------------------------------------------------------------------

def test_bulk_assign_changes_the_open_ones_and_says_why_the_others_were_refused(
        make, agent, network):
    member = UserFactory(roles=["resolver"], first_name="Tomás", last_name="Ferreira")
    MembershipFactory(team=network, user=member)
    first, closed, second = make("a"), make("b"), make("c")
    close(agent, closed)
    closed_audits = AuditEntry.objects.filter(object_id=str(closed.pk)).count()

    result = bulk.incidents_bulk_assign(actor=agent, incident_ids=ids(first, closed, second),
                                        group=network, assignee=member)

    assert [(o.number, o.done) for o in result.outcomes] == [
        (first.number, True), (closed.number, False), (second.number, True)]
    assert result.refused[0].message == "Only open incidents can be assigned."
    assert result.done[0].message == "Assigned to Network · Tomás Ferreira"
    for incident in (first, second):
        incident.refresh_from_db()
        assert (incident.assignment_group, incident.assignee, incident.state) == (
            network, member, IncidentState.ASSIGNED)
        assert AuditEntry.objects.filter(object_id=str(incident.pk),
                                         changes__has_key="assignee").exists()
    closed.refresh_from_db()
    assert closed.assignee is None and closed.state == IncidentState.CLOSED
    assert AuditEntry.objects.filter(object_id=str(closed.pk)).count() == closed_audits


def test_an_assignee_outside_the_group_refuses_the_whole_batch(make, agent, network):
    incidents = [make(), make()]
    outsider = UserFactory(roles=["resolver"])
    before = counts()
    error = refused(bulk.incidents_bulk_assign, actor=agent,
                    incident_ids=ids(*incidents), group=network,
                    assignee=outsider)
    assert error.fields == {"assignee": ["Choose a member of the group."]}
    assert counts() == before
    assert not Incident.objects.filter(assignment_group=network).exists()


def test_the_batch_is_capped_and_must_not_be_empty(make, agent, network):
    incident = make()
    before = counts()
    too_many = [incident.pk, *range(10_000, 10_000 + bulk.BULK_LIMIT)]
    error = refused(bulk.incidents_bulk_assign, actor=agent,
                    incident_ids=too_many, group=network)
    assert error.code == "too_many"
    assert error.fields["incidents"] == [
        f"At most {bulk.BULK_LIMIT} incidents at a time: {bulk.BULK_LIMIT + 1} are selected."]
    error = refused(bulk.incidents_bulk_assign, actor=agent,
                    incident_ids=[], group=network)
    assert error.fields == {"incidents": ["Select at least one incident."]}
    assert counts() == before
    incident.refresh_from_db()
    assert incident.assignment_group != network


def test_an_unknown_id_is_reported_and_the_rest_go_ahead(make, agent, network):
    incident = make()
    result = bulk.incidents_bulk_assign(actor=agent, incident_ids=[incident.pk, 999_999],
                                        group=network)
    assert [(o.number, o.done, o.message) for o in result.outcomes] == [
        ("#999999", False, "No such incident."), (incident.number, True, "Assigned to Network")]


def test_only_the_desk_acts_in_bulk(make, requester, network):
    with pytest.raises(NotPermitted):
        bulk.incidents_bulk_assign(actor=requester, incident_ids=ids(make()), group=network)


@pytest.mark.django_db(transaction=True)
def test_each_incident_commits_on_its_own(requester, agent, monkeypatch):
    """A refusal raised after an incident's service wrote something rolls back that
    incident only: the ones before and after it stay changed (real commits here)."""
    TeamFactory(name="Service Desk", is_service_desk=True)
    network = TeamFactory(name="Network")
    first, middle, last = (services.incident_create(actor=requester, title=t)
                           for t in ("a", "b", "c"))
    real_assign = services.incident_assign

    def assign_then_fail_for_the_middle_one(**kwargs):
        changed = real_assign(**kwargs)
        if changed.pk == middle.pk:
            raise DomainError("Refused after writing.")
        return changed

    monkeypatch.setattr(services, "incident_assign", assign_then_fail_for_the_middle_one)
    assert not transaction.get_connection().in_atomic_block
    result = bulk.incidents_bulk_assign(actor=agent, incident_ids=ids(first, middle, last),
                                        group=network)
    assert [o.done for o in result.outcomes] == [True, False, True]
    groups = dict(Incident.objects.values_list("pk", "assignment_group__name"))
    assert groups == {first.pk: "Network", middle.pk: "Service Desk", last.pk: "Network"}
    assert not AuditEntry.objects.filter(object_id=str(middle.pk),
                                         changes__assignment_group__1="Network").exists()


# --- Change state ---------------------------------------------------------------------

def test_bulk_resolve_needs_its_values_before_anything_changes(make, agent):
    incidents = [make(), make()]
    before = counts()
    error = refused(bulk.incidents_bulk_transition, actor=agent,
                    incident_ids=ids(*incidents), to_state="resolved",
                    resolution_code="user_error")
    assert error.fields == {"resolution_notes": ["Required to resolve."]}
    error = refused(bulk.incidents_bulk_transition, actor=agent,
                    incident_ids=ids(*incidents), to_state="on_hold")
    assert error.fields == {"hold_reason": ["Say what the incident waits for."]}
    error = refused(bulk.incidents_bulk_transition, actor=agent,
                    incident_ids=ids(*incidents), to_state="new")
    assert error.fields == {"to_state": ["Choose a state."]}
    assert counts() == before
    assert set(Incident.objects.values_list("state", flat=True)) == {IncidentState.NEW}


def test_bulk_resolve_moves_each_along_the_lifecycle(make, agent):
    new, started, resolved = make("new"), make("started"), make("resolved")
    services.incident_transition(actor=agent, incident=started, to_state="in_progress")
    services.incident_transition(actor=agent, incident=resolved, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")
    result = bulk.incidents_bulk_transition(
        actor=agent, incident_ids=ids(new, started, resolved), to_state="resolved",
        note="Mass fix", resolution_code="solved_workaround", resolution_notes="Rebooted.")
    assert [(o.number, o.done, o.message) for o in result.outcomes] == [
        (new.number, True, "Now Resolved"), (started.number, True, "Now Resolved"),
        (resolved.number, False, "Cannot move from Resolved to Resolved.")]
    for incident in (new, started):
        incident.refresh_from_db()
        assert (incident.state, incident.resolution_code, incident.resolution_notes) == (
            "resolved", "solved_workaround", "Rebooted.")
        assert AuditEntry.objects.filter(object_id=str(incident.pk),
                                         action=AuditAction.TRANSITION).exists()
    resolved.refresh_from_db()
    assert resolved.resolution_code == "user_error"


def test_bulk_hold_with_a_reason(make, agent):
    incidents = [make(), make()]
    for incident in incidents:
        services.incident_transition(actor=agent, incident=incident, to_state="in_progress")
    result = bulk.incidents_bulk_transition(actor=agent, incident_ids=ids(*incidents),
                                            to_state="on_hold", hold_reason="awaiting_vendor")
    assert len(result.done) == 2
    assert set(Incident.objects.values_list("state", "hold_reason")) == {
        ("on_hold", "awaiting_vendor")}


# --- Link to parent -------------------------------------------------------------------

def test_bulk_link_to_a_parent(make, agent):
    parent, child, other, cancelled = make("Mail down"), make("no mail"), make("no mail 2"), \
        make("dup")
    services.incident_transition(actor=agent, incident=cancelled, to_state="cancelled")
    result = bulk.incidents_bulk_link_parent(
        actor=agent, incident_ids=ids(child, parent, other, cancelled), parent=parent)
    messages = {o.number: (o.done, o.message) for o in result.outcomes}
    assert messages == {
        parent.number: (False, "An incident cannot be its own parent."),
        child.number: (True, f"Linked to {parent.number}"),
        other.number: (True, f"Linked to {parent.number}"),
        cancelled.number: (False, "Only open incidents can be linked to a parent."),
    }
    assert set(parent.children.all()) == {child, other}
    cancelled.refresh_from_db()
    assert cancelled.parent is None


# --- Pages ----------------------------------------------------------------------------

def test_the_queue_offers_checkboxes_select_all_and_the_actions(agent_client, make):
    incident = make()
    page = agent_client.get(LIST, {"queue": "open"}).text
    assert f'name="incidents" value="{incident.pk}" form="bulk-form"' in page
    assert 'data-select-all="incidents"' in page and "Select all on this page" in page
    for button in ('value="assign"', 'value="transition"', 'value="link_parent"'):
        assert button in page
    assert 'name="return_query" value="queue=open"' in page


def test_the_result_page_lists_what_was_done_and_each_refusal(agent_client, agent, make,
                                                              network):
    done, closed = make("a"), make("b")
    close(agent, closed)
    response = agent_client.post(BULK, {
        "action": "assign", "incidents": ids(done, closed), "group": network.pk,
        "return_query": "queue=open&priority=4"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 incident changed, 1 refused." in text
    assert f"{done.number}</a>: Assigned to Network" in text
    assert f"{closed.number}</a>: Only open incidents can be assigned." in text
    assert f'href="{LIST}?queue=open&amp;priority=4"' in text
    done.refresh_from_db()
    assert done.assignment_group == network


def test_a_batch_refused_as_a_whole_shows_the_queue_again_with_the_ticks(agent_client,
                                                                          make):
    first, second = make("a"), make("b")
    before = counts()
    response = agent_client.post(BULK, {"action": "transition", "incidents": [first.pk],
                                        "to_state": "resolved", "resolution_code": "",
                                        "return_query": "queue=open"})
    assert response.status_code == 400
    assert response.context["bulk_form"].errors["resolution_code"] == ["Required to resolve."]
    text = response.content.decode()
    assert f'value="{first.pk}" form="bulk-form" aria-label="Select {first.number}" checked' \
        in text
    assert f'value="{second.pk}" form="bulk-form" aria-label="Select {second.number}">' in text
    assert "<details name=\"bulk-action\" open>" in text
    assert counts() == before

    response = agent_client.post(BULK, {"action": "assign", "return_query": "queue=open"})
    assert response.status_code == 400
    assert response.context["bulk_form"].errors["group"] == ["Choose the group to assign to."]
    response = agent_client.post(BULK, {"action": "link_parent", "incidents": [first.pk],
                                        "parent": "INC9999999"})
    assert response.context["bulk_form"].errors["parent"] == [
        "There is no incident INC9999999."]
    response = agent_client.post(BULK, {"action": "assign", "group": TeamFactory().pk})
    assert "Select at least one incident." in response.content.decode()
    assert counts() == before


def test_too_many_selected_is_a_clear_error(agent_client, make, network):
    incident = make()
    response = agent_client.post(BULK, {
        "action": "assign", "group": network.pk,
        "incidents": [incident.pk, *range(50_000, 50_000 + bulk.BULK_LIMIT)]})
    assert response.status_code == 400
    assert (f"At most {bulk.BULK_LIMIT} incidents at a time: {bulk.BULK_LIMIT + 1} are "
            "selected.") in response.content.decode()
    incident.refresh_from_db()
    assert incident.assignment_group != network


def test_choosing_the_group_lists_its_members(agent_client, network):
    member = UserFactory(roles=["resolver"], first_name="Ana", last_name="Lopes",
                         username="ana")
    MembershipFactory(team=network, user=member)
    MembershipFactory(team=TeamFactory(name="Other"), user=UserFactory(username="zed"))
    response = agent_client.get(reverse("incidents:group_members"), {"group": network.pk},
                                headers={"HX-Request": "true"})
    text = response.content.decode()
    assert f'<option value="{member.pk}">Ana Lopes (ana)</option>' in text
    assert "zed" not in text
    everyone = agent_client.get(reverse("incidents:group_members")).content.decode()
    assert '<optgroup label="Network">' in everyone and '<optgroup label="Other">' in everyone


def test_requesters_cannot_use_bulk_actions(client, requester, make, network):
    incident = make()
    client.force_login(requester)
    response = client.post(BULK, {"action": "assign", "incidents": [incident.pk],
                                  "group": network.pk})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.assignment_group != network
