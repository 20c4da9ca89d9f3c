import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import services as accounts
from incidents import services
from incidents.models import Incident
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_report_an_issue_with_a_screenshot(client, requester, desk_team, media):
    client.force_login(requester)
    response = client.post("/portal/incidents/report/", {
        "title": "Screen goes black", "description": "Since this morning",
        "attachment": SimpleUploadedFile("shot.png", b"\x89PNG fake", "image/png")})
    incident = Incident.objects.get()
    assert response.url == f"/portal/incidents/{incident.pk}/"
    assert incident.channel == "portal" and incident.requester == requester
    assert incident.assignment_group == desk_team
    assert incident.attachments.get().filename == "shot.png"
    page = client.get(response.url).content.decode()
    assert "Screen goes black" in page and "shot.png" in page


def test_report_errors_are_at_the_field_and_nothing_is_written(client, requester, desk_team,
                                                              media):
    client.force_login(requester)
    response = client.post("/portal/incidents/report/", {
        "title": "", "attachment": SimpleUploadedFile("run.exe", b"MZ", "application/x-exe")})
    html = response.content.decode()
    assert response.status_code == 400 and 'id="id_title_error_1"' in html
    response = client.post("/portal/incidents/report/", {
        "title": "x", "attachment": SimpleUploadedFile("run.exe", b"MZ", "application/x-exe")})
    assert 'id="id_attachment_error_1"' in response.content.decode()
    assert not Incident.objects.exists()


def test_others_incidents_are_404(client, requester, desk_team):
    other = services.incident_create(actor=UserFactory(), title="Not yours")
    client.force_login(requester)
    assert client.get(f"/portal/incidents/{other.pk}/").status_code == 404
    assert client.post(f"/portal/incidents/{other.pk}/", {"body": "hi"}).status_code == 404
    assert client.post(f"/portal/incidents/{other.pk}/answer/",
                       {"answer": "fixed"}).status_code == 404
    assert "Not yours" not in client.get("/portal/incidents/").content.decode()


def test_managers_see_their_reports_incidents(client, requester, desk_team):
    boss = UserFactory(roles=["requester"])
    accounts.user_update(actor=None, user=requester, manager=boss)
    services.incident_create(actor=requester, title="Team member's issue")
    client.force_login(boss)
    assert "Team member&#x27;s issue" in client.get("/portal/incidents/").content.decode()


def test_team_managers_see_their_members_incidents_and_no_one_elses(client, requester,
                                                                   desk_team):
    boss = UserFactory(roles=["requester"])
    team = TeamFactory(name="Finance", manager=boss)
    MembershipFactory(team=team, user=requester)
    services.incident_create(actor=requester, title="Member issue")
    services.incident_create(actor=UserFactory(roles=["requester"]), title="Outsider issue")
    client.force_login(boss)
    page = client.get("/portal/incidents/").content.decode()
    assert "Member issue" in page and "Outsider issue" not in page


def test_caller_comments_sees_no_work_notes_and_confirms_the_fix(client, requester, agent,
                                                                 desk_team):
    incident = services.incident_create(actor=requester, title="VPN")
    services.incident_respond(actor=agent, incident=incident, body="Secret note",
                              internal=True)
    client.force_login(requester)
    page = client.get(f"/portal/incidents/{incident.pk}/").content.decode()
    assert "Secret note" not in page
    client.post(f"/portal/incidents/{incident.pk}/", {"body": "Still failing"})
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="New profile")
    page = client.get(f"/portal/incidents/{incident.pk}/").content.decode()
    assert "Yes, it's fixed" in page and "Still failing" in page
    client.post(f"/portal/incidents/{incident.pk}/answer/", {"answer": "not_fixed"})
    incident.refresh_from_db()
    assert incident.state == "in_progress" and incident.reopened_count == 1
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Again")
    client.post(f"/portal/incidents/{incident.pk}/answer/", {"answer": "fixed"})
    incident.refresh_from_db()
    assert incident.state == "closed"
    page = client.get(f"/portal/incidents/{incident.pk}/").content.decode()
    assert "This issue is closed" in page


def test_the_portal_is_personal_even_for_desk_staff(client, requester, agent, desk_team):
    theirs = services.incident_create(actor=requester, title="Someone's printer")
    own = services.incident_create(actor=agent, title="My own laptop")
    client.force_login(agent)
    page = client.get("/portal/incidents/").content.decode()
    assert "My own laptop" in page and "Someone&#x27;s printer" not in page
    assert client.get(f"/portal/incidents/{theirs.pk}/").status_code == 404
    assert client.get(f"/portal/incidents/{own.pk}/").status_code == 200


def test_a_reply_from_the_caller_reopens_a_resolved_incident_within_the_window(
        client, requester, agent, desk_team):
    incident = services.incident_create(actor=requester, title="Printer")
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="solved_permanently",
                                 resolution_notes="New toner")
    client.force_login(requester)
    response = client.post(f"/portal/incidents/{incident.pk}/", {"body": "Still streaky"},
                           follow=True)
    incident.refresh_from_db()
    assert incident.state == "in_progress" and incident.reopened_count == 1
    assert incident.resolved_at is None
    assert "open again" in response.content.decode()
    assert incident.activities.filter(body="Reopened: the caller replied.").exists()


def test_a_late_reply_is_kept_but_does_not_reopen(client, requester, agent, desk_team):
    incident = services.incident_create(actor=requester, title="Printer")
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="solved_permanently",
                                 resolution_notes="New toner")
    Incident.objects.filter(pk=incident.pk).update(
        resolved_at=timezone.now() - datetime.timedelta(days=8))
    services.incident_respond(actor=requester, incident=incident, body="Thanks!")
    incident.refresh_from_db()
    assert incident.state == "resolved" and incident.reopened_count == 0
    assert incident.activities.filter(body="Thanks!", public=True).exists()


def test_a_desk_reply_or_work_note_does_not_reopen(requester, agent, desk_team):
    incident = services.incident_create(actor=requester, title="Printer")
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="solved_permanently",
                                 resolution_notes="New toner")
    services.incident_respond(actor=agent, incident=incident, body="Glad it works")
    incident.refresh_from_db()
    assert incident.state == "resolved"
