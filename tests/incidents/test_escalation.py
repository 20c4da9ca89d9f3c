"""Hierarchical escalation: the levels and who each tells, the refusals (naming the
field, never a partial write), the SLA hook's idempotency, the desk control, the queue
badge and filter, and the API action."""

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEntry
from incidents import services
from incidents.escalation import escalation_history, incident_escalate
from incidents.models import Incident
from itsm.errors import DomainError, NotPermitted
from notifications.models import Notification
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tickets.models import Activity


@pytest.fixture
def manager(db):
    return UserFactory(username="gm", first_name="Gita", last_name="Manager",
                       roles=["resolver"])


@pytest.fixture
def incident_manager(db):
    return UserFactory(username="im", first_name="Ines", last_name="Boss",
                       roles=["incident_manager"])


@pytest.fixture
def desk_team(db, manager):
    return TeamFactory(name="Service Desk", is_service_desk=True, manager=manager)


@pytest.fixture
def incident(requester, desk_team):
    return services.incident_create(actor=requester, title="Payroll run fails")


def escalation_entries(incident):
    return AuditEntry.objects.filter(content_type__model="incident",
                                     object_id=str(incident.pk),
                                     changes__has_key="escalation_level")


def told(kind="incident.escalated"):
    return sorted(Notification.objects.filter(kind=kind).values_list(
        "recipient__username", flat=True))


# --- Levels ---------------------------------------------------------------------------

def test_level_one_tells_the_group_manager_and_is_audited(agent, incident, manager,
                                                          incident_manager):
    escalated = incident_escalate(actor=agent, incident=incident,
                                  reason="  No progress in two hours  ")
    assert escalated.escalation_level == 1 and escalated.escalated_at is not None
    assert escalated.updated_at == escalated.escalated_at
    assert told() == ["gm"]
    note = Notification.objects.get(kind="incident.escalated")
    assert note.url == f"/desk/incidents/{incident.number}/"
    assert incident.number in note.subject and "No progress in two hours" in note.body
    entry = escalation_entries(incident).get()
    assert entry.actor_id == agent.pk
    assert entry.changes["escalation_level"] == [0, 1]
    assert entry.changes["escalation_source"] == [None, "manual"]
    assert entry.changes["escalation_reason"] == [None, "No progress in two hours"]
    assert entry.changes["escalation_told"] == [None, [{"id": manager.pk,
                                                        "repr": "Gita Manager"}]]
    work_note = Activity.objects.filter(object_id=incident.pk, kind="work_note").get()
    assert not work_note.public and work_note.author_id == agent.pk
    assert "level 1" in work_note.body and "Gita Manager" in work_note.body
    assert "No progress in two hours" in work_note.body


def test_level_two_tells_the_incident_managers_but_not_the_actor(agent, incident,
                                                                 incident_manager):
    other_manager = UserFactory(username="im2", roles=["incident_manager"])
    UserFactory(username="gone", roles=["incident_manager"], is_active=False)
    incident_escalate(actor=agent, incident=incident, reason="Stuck")
    Notification.objects.all().delete()
    escalated = incident_escalate(actor=other_manager, incident=incident,
                                  reason="Customers affected")
    assert escalated.escalation_level == 2
    assert told() == ["im"]  # not the inactive one, not the one who escalated
    steps = escalation_history(escalated)
    assert [(s.from_level, s.to_level) for s in steps] == [(0, 1), (1, 2)]
    assert steps[1].told == ["Ines Boss"] and steps[1].reason == "Customers affected"


def test_a_group_without_manager_goes_straight_to_level_two(agent, requester,
                                                            incident_manager):
    network = TeamFactory(name="Network")
    incident = services.incident_create(actor=agent, title="Switch down",
                                        requester=requester, assignment_group=network)
    escalated = incident_escalate(actor=agent, incident=incident, reason="Site down")
    assert escalated.escalation_level == 2
    assert told() == ["im"]


def test_an_inactive_manager_counts_as_no_manager(agent, incident, manager, incident_manager):
    manager.is_active = False
    manager.save()
    assert incident_escalate(actor=agent, incident=incident,
                             reason="x").escalation_level == 2
    assert told() == ["im"]


def test_without_incident_managers_the_permission_holders_are_told(agent, requester, db):
    admin = UserFactory(username="admin1", roles=["administrator"])
    incident = services.incident_create(actor=agent, title="x", requester=requester,
                                        assignment_group=TeamFactory())
    incident_escalate(actor=agent, incident=incident, reason="Nobody owns this")
    assert told() == [admin.username]


# --- Refusals -------------------------------------------------------------------------

def test_beyond_the_last_level_is_refused_naming_the_field(agent, incident, incident_manager):
    incident_escalate(actor=agent, incident=incident, reason="one")
    incident_escalate(actor=agent, incident=incident, reason="two")
    entries, notes = escalation_entries(incident).count(), Notification.objects.count()
    with pytest.raises(DomainError) as error:
        incident_escalate(actor=agent, incident=incident, reason="three")
    assert error.value.code == "max_escalation" and "escalation_level" in error.value.fields
    assert escalation_entries(incident).count() == entries
    assert Notification.objects.count() == notes


@pytest.mark.parametrize("state", ["resolved", "closed", "cancelled"])
def test_finished_incidents_are_refused(agent, incident, state):
    values = {"resolution_code": "user_error", "resolution_notes": "Advised."}
    services.incident_transition(actor=agent, incident=incident,
                                 to_state="cancelled" if state == "cancelled" else "resolved",
                                 **({} if state == "cancelled" else values))
    if state == "closed":
        services.incident_transition(actor=agent, incident=incident, to_state="closed")
    with pytest.raises(DomainError) as error:
        incident_escalate(actor=agent, incident=incident, reason="Too late")
    assert error.value.code == "not_open" and "state" in error.value.fields
    incident.refresh_from_db()
    assert incident.escalation_level == 0 and incident.escalated_at is None
    assert not escalation_entries(incident).exists() and not Notification.objects.exists()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"reason": ""}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": "x" * 501}, "reason"),
    ({"reason": "ok", "source": "moon"}, "source"),
    ({"reason": "ok", "to_level": 0}, "to_level"),
    ({"reason": "ok", "to_level": 3}, "to_level"),
])
def test_bad_input_is_refused_at_its_field_without_writing(agent, incident, kwargs, field):
    with pytest.raises(DomainError) as error:
        incident_escalate(actor=agent, incident=incident, **kwargs)
    assert list(error.value.fields) == [field]
    incident.refresh_from_db()
    assert incident.escalation_level == 0
    assert not escalation_entries(incident).exists() and not Notification.objects.exists()


def test_the_portal_cannot_escalate(requester, incident):
    with pytest.raises(NotPermitted):
        incident_escalate(actor=requester, incident=incident, reason="Hurry up")
    assert Incident.objects.get(pk=incident.pk).escalation_level == 0


# --- The SLA hook ---------------------------------------------------------------------

def test_the_system_escalates_and_a_redelivered_task_does_not_escalate_twice(
        incident, manager, incident_manager, django_capture_on_commit_callbacks):
    for _delivery in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            escalated = incident_escalate(actor=None, incident=incident, source="sla",
                                          to_level=1, reason="Response target at 75%")
    assert escalated.escalation_level == 1
    assert escalation_entries(incident).count() == 1
    assert told() == ["gm"]
    assert [m.to for m in mail.outbox] == [[manager.email]]
    entry = escalation_entries(incident).get()
    assert entry.actor_id is None and entry.changes["escalation_source"] == [None, "sla"]
    note = Activity.objects.get(object_id=incident.pk, kind="work_note")
    assert note.author_id is None and note.author_label.startswith("system")
    # The breach: straight to level 2, telling only the level it reaches.
    incident_escalate(actor=None, incident=incident, source="sla", to_level=2,
                      reason="Response target breached")
    incident_escalate(actor=None, incident=incident, source="sla", to_level=2,
                      reason="Response target breached")
    incident_escalate(actor=None, incident=incident, source="sla", to_level=1,
                      reason="A late warning")
    assert escalation_entries(incident).count() == 2
    assert told() == ["gm", "im"]


def test_jumping_to_level_two_tells_every_level_it_passes(incident, incident_manager):
    escalated = incident_escalate(actor=None, incident=incident, source="sla", to_level=2,
                                  reason="Breached")
    assert escalated.escalation_level == 2
    assert told() == ["gm", "im"]


def test_a_redelivered_task_on_a_resolved_incident_is_a_no_op_once_reached(agent, incident):
    incident_escalate(actor=None, incident=incident, source="sla", to_level=1, reason="75%")
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")
    again = incident_escalate(actor=None, incident=incident, source="sla", to_level=1,
                              reason="75%")
    assert again.escalation_level == 1 and escalation_entries(incident).count() == 1


# --- Functional escalation ------------------------------------------------------------

def test_moving_to_another_group_is_counted_and_audited(agent, incident):
    network = TeamFactory(name="Network")
    services.incident_assign(actor=agent, incident=incident, group=network)
    incident.refresh_from_db()
    assert incident.reassignment_count == 1
    entry = AuditEntry.objects.filter(object_id=str(incident.pk),
                                      changes__has_key="reassignment_count").get()
    assert entry.changes["reassignment_count"] == [0, 1]
    assert "Service Desk" in entry.message and "Network" in entry.message


# --- Desk -----------------------------------------------------------------------------

def detail(incident, suffix=""):
    return reverse("incidents:detail", kwargs={"key": incident.number}) + suffix


def test_desk_escalate_control_shows_the_level_and_who_was_told(client, agent, incident,
                                                                incident_manager):
    client.force_login(agent)
    page = client.get(detail(incident))
    assert b"Not escalated" in page.content
    assert "Escalating tells Gita Manager, manager of Service Desk." in page.content.decode()
    response = client.post(detail(incident, "escalate/"), {"reason": "Month-end blocked"})
    assert response.status_code == 302
    page = client.get(detail(incident)).content.decode()
    assert "Escalated L1" in page and "Group manager told" in page
    assert "Told: Gita Manager" in page and "Month-end blocked" in page
    assert "Escalating tells the incident managers." in page
    client.post(detail(incident, "escalate/"), {"reason": "Still blocked"})
    page = client.get(detail(incident)).content.decode()
    assert "Escalated L2" in page and "Told: Ines Boss" in page
    assert "Escalated to the last level" in page


def test_desk_escalate_without_reason_shows_the_error_at_the_field(client, agent, incident):
    client.force_login(agent)
    response = client.post(detail(incident, "escalate/"), {"reason": " "})
    assert response.status_code == 400
    assert response.context["escalate_form"].errors["reason"] == ["A reason is required."]
    incident.refresh_from_db()
    assert incident.escalation_level == 0 and not Notification.objects.exists()


def test_desk_escalate_refusal_on_a_resolved_incident_is_shown(client, agent, incident):
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")
    client.force_login(agent)
    response = client.post(detail(incident, "escalate/"), {"reason": "Late"})
    assert response.status_code == 400
    assert "Only open incidents can be escalated" in str(
        response.context["escalate_form"].non_field_errors())


def test_the_portal_user_cannot_reach_the_desk_control(client, requester, incident):
    client.force_login(requester)
    assert client.post(detail(incident, "escalate/"), {"reason": "x"}).status_code == 403


def test_queue_badge_and_escalated_filter(client, agent, requester, desk_team,
                                          incident_manager):
    calm = services.incident_create(actor=requester, title="Calm one")
    hot = services.incident_create(actor=requester, title="Hot one")
    incident_escalate(actor=agent, incident=hot, reason="VIP")
    client.force_login(agent)
    listing = reverse("incidents:list")
    page = client.get(listing, {"queue": "open"})
    assert "Escalated L1" in page.content.decode()
    escalated = client.get(listing, {"queue": "open", "escalated": "true"})
    assert [i.number for i in escalated.context["items"]] == [hot.number]
    calm_only = client.get(listing, {"queue": "open", "escalated": "false"})
    assert [i.number for i in calm_only.context["items"]] == [calm.number]


# --- API ------------------------------------------------------------------------------

def api_url(incident, action=""):
    return f"/api/v1/incidents/{incident.pk}/" + (f"{action}/" if action else "")


def test_api_escalates_and_shows_the_level(api, agent, incident, incident_manager):
    api.force_authenticate(agent)
    assert api.get(api_url(incident)).json()["escalation_level"] == 0
    response = api.post(api_url(incident, "escalate"), {"reason": "Blocked"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["escalation_level"] == 1 and body["escalated_at"]
    assert told() == ["gm"]
    listed = api.get("/api/v1/incidents/", {"escalated": "true"}).json()["results"]
    assert [i["number"] for i in listed] == [incident.number]
    assert api.get("/api/v1/incidents/", {"escalated": "false"}).json()["results"] == []


def test_api_to_level_is_idempotent(api, agent, incident):
    api.force_authenticate(agent)
    for _attempt in range(2):
        response = api.post(api_url(incident, "escalate"), {"reason": "Retry-safe",
                                                            "to_level": 1}, format="json")
        assert response.status_code == 200 and response.json()["escalation_level"] == 1
    assert escalation_entries(incident).count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "x", "to_level": 5}, "to_level"),
])
def test_api_bad_input_names_the_field(api, agent, incident, body, field):
    api.force_authenticate(agent)
    response = api.post(api_url(incident, "escalate"), body, format="json")
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid" and field in error["fields"] and error["message"]
    assert Incident.objects.get(pk=incident.pk).escalation_level == 0


def test_api_beyond_the_last_level_uses_the_error_shape(api, agent, incident,
                                                        incident_manager):
    api.force_authenticate(agent)
    for reason in ("one", "two"):
        api.post(api_url(incident, "escalate"), {"reason": reason}, format="json")
    response = api.post(api_url(incident, "escalate"), {"reason": "three"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "max_escalation"
    assert "escalation_level" in response.json()["fields"]


def test_api_callers_cannot_escalate(api, requester, incident):
    api.force_authenticate(requester)
    response = api.post(api_url(incident, "escalate"), {"reason": "Now!"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    other = services.incident_create(actor=UserFactory(), title="Not yours")
    assert api.post(api_url(other, "escalate"), {"reason": "x"},
                    format="json").status_code == 404
    assert not Notification.objects.filter(kind="incident.escalated").exists()


def test_the_group_member_who_manages_is_not_told_of_their_own_escalation(
        requester, desk_team, manager, incident_manager):
    MembershipFactory(team=desk_team, user=manager)
    incident = services.incident_create(actor=requester, title="x")
    escalated = incident_escalate(actor=manager, incident=incident, reason="Mine to raise")
    assert escalated.escalation_level == 1 and told() == []
    assert escalation_history(escalated)[0].told == []
