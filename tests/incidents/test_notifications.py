"""What the desk tells people when an incident moves (incidents/notifications.py): after
the commit only, never the person who acted."""

import pytest
from django.core import mail

from incidents import notifications as incident_notifications
from incidents import services
from notifications.models import Notification
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block and then its after-commit hooks, as a real request would."""
    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)
    return run


@pytest.fixture
def desk_team(db, agent):
    team = TeamFactory(name="Service Desk", is_service_desk=True)
    MembershipFactory(team=team, user=agent)
    return team


@pytest.fixture
def colleague(desk_team):
    person = UserFactory(username="colleague", roles=["service_desk_agent"])
    MembershipFactory(team=desk_team, user=person)
    return person


def inbox(user, kind=None):
    notes = Notification.objects.filter(recipient=user)
    if kind:
        notes = notes.filter(kind=kind)
    return list(notes)


def test_nothing_is_sent_for_a_change_that_did_not_commit(requester, desk_team, agent):
    # No on-commit execution here: the test's transaction never commits.
    services.incident_create(actor=requester, title="Outlook broken")
    assert not Notification.objects.exists()


def test_a_portal_report_tells_the_group_it_is_routed_to(committed, requester, desk_team,
                                                         agent, colleague):
    incident = committed(services.incident_create, actor=requester, title="Outlook broken")
    for person in (agent, colleague):
        [note] = inbox(person, "incident.routed")
        assert incident.number in note.subject and "Service Desk" in note.subject
        assert note.url == f"/desk/incidents/{incident.number}/"
    assert inbox(requester) == []


def test_the_desk_member_who_logs_it_is_not_told(committed, agent, requester, desk_team,
                                                 colleague):
    committed(services.incident_create, actor=agent, title="x", requester=requester,
              assignment_group=desk_team)
    assert inbox(agent) == [] and len(inbox(colleague, "incident.routed")) == 1


def test_a_large_group_tells_only_its_manager(committed, monkeypatch, requester, desk_team,
                                              agent, colleague):
    monkeypatch.setattr(incident_notifications, "GROUP_NOTIFY_LIMIT", 1)
    boss = UserFactory(username="boss")
    desk_team.manager = boss
    desk_team.save()
    committed(services.incident_create, actor=requester, title="x")
    assert [n.recipient for n in Notification.objects.all()] == [boss]


def test_assigning_tells_the_assignee_unless_they_took_it(committed, agent, colleague,
                                                          requester, desk_team):
    incident = services.incident_create(actor=requester, title="Slow laptop")
    committed(services.incident_assign, actor=agent, incident=incident, group=desk_team,
              assignee=colleague)
    [note] = inbox(colleague, "incident.assigned")
    assert incident.number in note.subject and note.url.endswith(f"{incident.number}/")
    assert inbox(agent, "incident.assigned") == []
    committed(services.incident_assign, actor=agent, incident=incident, group=desk_team,
              assignee=agent)
    assert inbox(agent, "incident.assigned") == []  # nobody is told about their own move


def test_moving_to_another_group_unassigned_tells_that_group(committed, agent, requester,
                                                             desk_team):
    network = TeamFactory(name="Network")
    engineer = UserFactory(username="net1", roles=["resolver"])
    MembershipFactory(team=network, user=engineer)
    incident = services.incident_create(actor=requester, title="Wi-Fi down")
    committed(services.incident_assign, actor=agent, incident=incident, group=network)
    [note] = inbox(engineer)
    assert note.kind == "incident.routed" and "Network" in note.subject


def test_desk_comments_reach_the_caller_work_notes_do_not(committed, agent, requester,
                                                          desk_team):
    incident = services.incident_create(actor=requester, title="VPN drops")
    committed(services.incident_respond, actor=agent, incident=incident,
              body="Internal: check the concentrator", internal=True)
    assert inbox(requester) == []
    committed(services.incident_respond, actor=agent, incident=incident,
              body="Which Wi-Fi are you on?")
    [note] = inbox(requester, "incident.commented")
    assert note.body == "Which Wi-Fi are you on?"
    assert note.url == f"/portal/incidents/{incident.pk}/"


def test_the_callers_reply_reaches_the_assignee(committed, agent, colleague, requester,
                                                desk_team):
    incident = services.incident_create(actor=requester, title="VPN drops")
    services.incident_assign(actor=agent, incident=incident, group=desk_team,
                             assignee=colleague)
    committed(services.incident_respond, actor=requester, incident=incident,
              body="Home Wi-Fi")
    [note] = inbox(colleague, "incident.caller_commented")
    assert note.body == "Home Wi-Fi" and note.url.startswith("/desk/incidents/")
    assert inbox(requester) == []


def test_a_desk_member_commenting_on_their_own_incident_tells_nobody(committed, agent,
                                                                     desk_team):
    incident = services.incident_create(actor=agent, title="My own", requester=agent)
    Notification.objects.all().delete()
    committed(services.incident_respond, actor=agent, incident=incident, body="Note to self")
    assert not Notification.objects.exists()


def test_resolving_tells_the_caller_with_the_portal_link_and_reopen_tells_the_assignee(
        committed, agent, colleague, requester, desk_team):
    incident = services.incident_create(actor=requester, title="Printer jams")
    services.incident_assign(actor=agent, incident=incident, group=desk_team,
                             assignee=colleague)
    committed(services.incident_transition, actor=colleague, incident=incident,
              to_state="resolved", resolution_code="solved_permanently",
              resolution_notes="Replaced the roller.")
    [note] = inbox(requester, "incident.resolved")
    assert note.url == f"/portal/incidents/{incident.pk}/"
    assert "Replaced the roller." in note.body and "reopen" in note.body
    assert inbox(colleague, "incident.resolved") == []
    committed(services.incident_transition, actor=requester, incident=incident,
              to_state="in_progress", note="Still jams")
    [reopened] = inbox(colleague, "incident.reopened")
    assert incident.number in reopened.subject


@pytest.mark.django_db(transaction=True)
def test_the_assignee_gets_an_email_after_the_commit():
    team = TeamFactory(name="Desk", is_service_desk=True)
    agent = UserFactory(username="a1", roles=["service_desk_agent"])
    other = UserFactory(username="a2", email="a2@example.com", roles=["service_desk_agent"])
    for person in (agent, other):
        MembershipFactory(team=team, user=person)
    incident = services.incident_create(actor=agent, title="Laptop", requester=agent)
    mail.outbox.clear()
    services.incident_assign(actor=agent, incident=incident, group=team, assignee=other)
    assigned = [m for m in mail.outbox if "assigned to you" in m.subject]
    assert [m.to for m in assigned] == [["a2@example.com"]]
    assert f"/desk/incidents/{incident.number}/" in assigned[0].body


def test_a_failing_notification_never_fails_the_change(committed, monkeypatch, agent,
                                                       colleague, requester, desk_team,
                                                       caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("mail server on fire")

    monkeypatch.setattr(incident_notifications, "notify", broken)
    incident = services.incident_create(actor=requester, title="x")
    committed(services.incident_assign, actor=agent, incident=incident, group=desk_team,
              assignee=colleague)
    incident.refresh_from_db()
    assert incident.assignee == colleague
    assert "Incident notifications failed" in caplog.text


def test_ticket_hooks_are_told_who_acted(committed, monkeypatch, agent, requester, desk_team):
    from tickets import services as ticket_services

    seen = []
    monkeypatch.setattr(ticket_services, "_hooks",
                        [lambda event, ticket, details: seen.append((event, details))])
    incident = committed(services.incident_create, actor=requester, title="x")
    committed(services.incident_respond, actor=agent, incident=incident, body="Hi")
    committed(services.incident_transition, actor=None, incident=incident,
              to_state="cancelled")
    assert [(event, details["actor_id"]) for event, details in seen] == [
        ("created", requester.pk), ("commented", agent.pk), ("transitioned", None)]


def test_events_that_concern_nobody_cost_no_query(agent, requester, desk_team,
                                                  django_assert_num_queries):
    incident = services.incident_create(actor=requester, title="x")
    with django_assert_num_queries(0):
        incident_notifications.incident_notifications(
            "updated", incident, {"changes": {"title": ["x", "y"]}, "actor_id": agent.pk})
        incident_notifications.incident_notifications(
            "commented", incident, {"activity_id": 1, "internal": True, "actor_id": agent.pk})
        incident_notifications.incident_notifications(
            "transitioned", incident, {"from": "new", "to": "in_progress",
                                       "actor_id": agent.pk})
