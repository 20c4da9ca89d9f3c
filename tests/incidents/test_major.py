"""Major incidents: declaring and standing down, stakeholder updates and who receives them,
subscriptions, parent resolution cascading to children, the post-incident review and its
timeline; through the services, the desk pages, the portal banner and the API."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit.models import AuditEntry
from incidents import major, major_selectors, services
from incidents.models import (
    IncidentState,
    PostIncidentReview,
    ReviewAction,
    StakeholderUpdate,
)
from itsm.errors import Conflict, DomainError, NotPermitted
from notifications.models import Notification
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory
from tickets.models import Activity, Watcher

RESOLUTION = {"resolution_code": "solved_workaround",
              "resolution_notes": "Failed over to the secondary mail cluster."}


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def manager(db):
    return UserFactory(username="grace", first_name="Grace", last_name="Okafor",
                       roles=["incident_manager"])


@pytest.fixture
def other_manager(db):
    return UserFactory(username="ian", roles=["incident_manager"])


@pytest.fixture
def email_service(db):
    return CIFactory(name="Email & Collaboration", ci_class=ci_class("business_service"))


@pytest.fixture
def outage(requester, desk_team, email_service):
    return services.incident_create(actor=requester, title="Email is down",
                                    service=email_service, impact=1, urgency=1)


def log(caller, title, **fields):
    return services.incident_create(actor=caller, title=title, **fields)


def declare(outage, manager, actor=None):
    return major.incident_declare_major(actor=actor or manager, incident=outage,
                                        manager=manager, reason="Whole company without mail")


def audit_of(target):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(target), object_id=str(target.pk))


def kinds(user):
    return list(Notification.objects.filter(recipient=user).values_list("kind", flat=True))


# --- Declare and stand down -----------------------------------------------------------

def test_declare_stamps_audits_writes_activity_and_notifies(outage, manager, other_manager,
                                                           agent):
    incident = declare(outage, other_manager, actor=manager)
    incident.refresh_from_db()
    assert incident.is_major and incident.major_manager == other_manager
    assert incident.major_declared_at is not None
    entry = audit_of(incident).get(message__startswith="Declared a major incident")
    assert "Whole company without mail" in entry.message
    assert entry.changes["is_major"] == [False, True]
    assert entry.changes["major_manager"] == [None, other_manager.pk]
    assert entry.actor_id == manager.pk
    public = incident.activities.get(kind="system", body__startswith="Declared a major")
    note = incident.activities.get(kind="work_note")
    assert public.public and not note.public and "Whole company without mail" in note.body
    # The named manager and the other incident managers hear of it; not who declared it.
    assert kinds(other_manager) == ["major.declared"]
    assert kinds(manager) == [] and kinds(agent) == []
    assert Notification.objects.get(recipient=other_manager).url == reverse(
        "incidents:detail", kwargs={"key": incident.number})


def test_declare_needs_the_permission(outage, agent, manager):
    with pytest.raises(NotPermitted):
        major.incident_declare_major(actor=agent, incident=outage, manager=manager,
                                     reason="x")
    outage.refresh_from_db()
    assert not outage.is_major and not Notification.objects.exists()


@pytest.mark.parametrize("case", ["no_reason", "no_manager", "manager_is_an_agent",
                                  "manager_is_inactive", "manager_is_a_requester"])
def test_declare_refuses_bad_input_at_the_field_and_writes_nothing(outage, manager, agent,
                                                                  requester, case):
    inactive = UserFactory(roles=["incident_manager"], is_active=False)
    who, reason, field = {
        "no_reason": (manager, "  ", "reason"),
        "no_manager": (None, "Mail down", "manager"),
        "manager_is_an_agent": (agent, "Mail down", "manager"),
        "manager_is_inactive": (inactive, "Mail down", "manager"),
        "manager_is_a_requester": (requester, "Mail down", "manager"),
    }[case]
    before = AuditEntry.objects.count()
    with pytest.raises(DomainError) as error:
        major.incident_declare_major(actor=manager, incident=outage, manager=who,
                                     reason=reason)
    assert field in error.value.fields
    outage.refresh_from_db()
    assert not outage.is_major and outage.major_manager is None
    assert AuditEntry.objects.count() == before and not Notification.objects.exists()


def test_declare_refuses_a_child_a_closed_one_and_twice(outage, manager, requester):
    child = log(requester, "No mail on my phone")
    services.incident_link_parent(actor=manager, incident=child, parent=outage)
    with pytest.raises(DomainError) as error:
        declare(child, manager)
    assert "parent" in error.value.fields
    declare(outage, manager)
    with pytest.raises(Conflict):
        declare(outage, manager)
    done = log(requester, "Old one")
    services.incident_transition(actor=manager, incident=done, to_state="resolved",
                                 **RESOLUTION)
    with pytest.raises(DomainError) as error:
        declare(done, manager)
    assert "state" in error.value.fields


def test_stand_down_needs_a_reason_and_is_audited(outage, manager, other_manager):
    declare(outage, other_manager, actor=manager)
    with pytest.raises(DomainError) as error:
        major.incident_stand_down(actor=manager, incident=outage, reason="")
    assert "reason" in error.value.fields
    outage.refresh_from_db()
    assert outage.is_major
    incident = major.incident_stand_down(actor=manager, incident=outage,
                                         reason="Only one mailbox affected")
    incident.refresh_from_db()
    assert not incident.is_major and incident.major_manager is None
    entry = audit_of(incident).get(message__startswith="Stood down")
    assert entry.changes["is_major"] == [True, False]
    assert "major.stood_down" in kinds(other_manager)
    assert incident.activities.filter(kind="work_note",
                                      body__contains="Only one mailbox").exists()
    with pytest.raises(DomainError) as error:
        major.incident_stand_down(actor=manager, incident=incident, reason="again")
    assert "is_major" in error.value.fields


def test_eligible_managers_are_desk_users_with_the_permission(manager, agent, requester):
    admin = UserFactory(roles=["administrator"])
    UserFactory(roles=["incident_manager"], is_active=False)
    assert set(major_selectors.major_managers()) == {manager, admin}


# --- Stakeholder updates and subscriptions --------------------------------------------

def test_an_update_reaches_watchers_child_callers_and_the_caller_once(
        outage, manager, requester, agent):
    declare(outage, manager)
    watcher = UserFactory(roles=["requester"])
    alice, bob = UserFactory(roles=["requester"]), UserFactory(roles=["requester"])
    for caller in (alice, bob, alice):
        child = log(caller, f"{caller.username}: no mail")
        services.incident_link_parent(actor=agent, incident=child, parent=outage)
    major.incident_subscribe(actor=watcher, incident=outage)
    major.incident_subscribe(actor=alice, incident=outage)  # caller of a child, and watcher
    major.incident_subscribe(actor=manager, incident=outage)  # the author: not told
    Notification.objects.all().delete()

    update = major.stakeholder_update_post(
        actor=manager, incident=outage, body="Mail is failing over to the secondary site.")

    assert StakeholderUpdate.objects.get() == update and update.author == manager
    told = Notification.objects.filter(kind="major.update")
    assert sorted(n.recipient_id for n in told) == sorted(
        [watcher.pk, alice.pk, bob.pk, requester.pk])
    bobs = outage.children.get(requester=bob)
    assert told.get(recipient=bob).url == f"/portal/incidents/{bobs.pk}/"
    assert told.get(recipient=watcher).url == f"/portal/incidents/{outage.pk}/"
    assert "secondary site" in told.get(recipient=requester).body
    assert outage.activities.filter(kind="system", public=False,
                                    body__contains="secondary site").exists()
    assert audit_of(outage).filter(changes__has_key="stakeholder_update").exists()


def test_updates_need_the_permission_a_body_and_a_major_incident(outage, manager, agent):
    with pytest.raises(DomainError) as error:
        major.stakeholder_update_post(actor=manager, incident=outage, body="Hello")
    assert "is_major" in error.value.fields
    declare(outage, manager)
    with pytest.raises(NotPermitted):
        major.stakeholder_update_post(actor=agent, incident=outage, body="Hello")
    with pytest.raises(DomainError) as error:
        major.stakeholder_update_post(actor=manager, incident=outage, body="   ")
    assert "body" in error.value.fields
    assert not StakeholderUpdate.objects.exists() and not Notification.objects.filter(
        kind="major.update").exists()


def test_subscribe_and_unsubscribe_use_watchers_and_are_audited(outage, manager):
    declare(outage, manager)
    person = UserFactory(roles=["requester"])
    major.incident_subscribe(actor=person, incident=outage)
    assert major_selectors.is_subscribed(outage, person)
    assert outage.is_visible_to(person)  # a follower sees it in the portal
    with pytest.raises(Conflict):
        major.incident_subscribe(actor=person, incident=outage)
    entries = audit_of(outage).filter(changes__has_key="watchers")
    assert entries.get().actor_id == person.pk
    major.incident_unsubscribe(actor=person, incident=outage)
    assert not major_selectors.is_subscribed(outage, person)
    assert entries.count() == 2


def test_subscribing_needs_an_ongoing_major_incident_on_the_banner(outage, manager, requester,
                                                                  desk_team):
    person = UserFactory(roles=["requester"])
    with pytest.raises(DomainError):
        major.incident_subscribe(actor=person, incident=outage)  # not major yet
    hidden = log(requester, "Internal only, no service")
    declare(hidden, manager)
    with pytest.raises(NotPermitted):
        major.incident_subscribe(actor=person, incident=hidden)  # not on the banner
    with pytest.raises(NotPermitted):  # only the desk subscribes someone else
        major.incident_subscribe(actor=requester, incident=hidden, user=person)
    major.incident_subscribe(actor=manager, incident=hidden, user=person)
    assert major_selectors.is_subscribed(hidden, person)
    assert not Watcher.objects.filter(object_id=outage.pk).exists()


# --- Parent resolution cascades -------------------------------------------------------

def test_resolving_a_parent_resolves_its_open_children(outage, manager, agent, requester):
    alice = UserFactory(roles=["requester"])
    open_child = log(alice, "Outlook offline")
    held = log(requester, "Cannot send invoices by mail")
    done = log(alice, "Shared mailbox empty")
    for child in (open_child, held, done):
        services.incident_link_parent(actor=agent, incident=child, parent=outage)
    services.incident_transition(actor=agent, incident=held, to_state="in_progress")
    services.incident_transition(actor=agent, incident=held, to_state="on_hold",
                                 hold_reason="awaiting_vendor")
    services.incident_transition(actor=agent, incident=done, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")
    services.incident_transition(actor=agent, incident=done, to_state="closed")

    services.incident_transition(actor=manager, incident=outage, to_state="resolved",
                                 **RESOLUTION)

    for child in (open_child, held):
        child.refresh_from_db()
        assert child.state == IncidentState.RESOLVED and child.resolved_at is not None
        assert (child.resolution_code, child.resolution_notes) == (
            RESOLUTION["resolution_code"], RESOLUTION["resolution_notes"])
        assert child.hold_reason == ""
        note = child.activities.filter(public=True, body=f"Resolved with {outage.number}")
        assert note.exists()
        entry = audit_of(child).get(action="transition", changes__state__1="resolved")
        assert entry.actor_id == manager.pk
    done.refresh_from_db()
    assert done.state == IncidentState.CLOSED and done.resolution_code == "user_error"


def test_a_refused_child_resolution_rolls_the_parent_back(outage, agent, requester,
                                                          monkeypatch):
    child = log(requester, "Outlook offline")
    services.incident_link_parent(actor=agent, incident=child, parent=outage)
    real = services.incident_transition

    def failing(*, incident, **kwargs):
        if incident.pk == child.pk:
            raise DomainError("refused")
        return real(incident=incident, **kwargs)

    monkeypatch.setattr(services, "incident_transition", failing)
    with pytest.raises(DomainError):
        real(actor=agent, incident=outage, to_state="resolved", **RESOLUTION)
    outage.refresh_from_db()
    child.refresh_from_db()
    assert outage.state == "new" and child.state == "new"


def test_the_api_resolve_cascades_too(api, outage, agent, requester):
    child = log(requester, "Outlook offline")
    services.incident_link_parent(actor=agent, incident=child, parent=outage)
    api.force_authenticate(agent)
    response = api.post(f"/api/v1/incidents/{outage.pk}/resolve/", RESOLUTION, format="json")
    assert response.status_code == 200 and response.json()["children_count"] == 1
    child.refresh_from_db()
    assert child.state == "resolved"


# --- Review ---------------------------------------------------------------------------

@pytest.fixture
def resolved_major(outage, manager, agent, requester):
    declare(outage, manager)
    child = log(UserFactory(roles=["requester"]), "Outlook offline")
    services.incident_link_parent(actor=agent, incident=child, parent=outage)
    major.stakeholder_update_post(actor=manager, incident=outage, body="Investigating.")
    services.incident_transition(actor=manager, incident=outage, to_state="resolved",
                                 **RESOLUTION)
    outage.refresh_from_db()
    return outage


def test_a_review_only_for_major_incidents_and_once(outage, manager, requester):
    with pytest.raises(DomainError) as error:
        major.review_start(actor=manager, incident=outage)
    assert "is_major" in error.value.fields
    declare(outage, manager)
    review = major.review_start(actor=manager, incident=outage)
    assert review.status == "draft" and review.created_by == manager
    assert audit_of(review).filter(action="create").exists()
    with pytest.raises(Conflict):
        major.review_start(actor=manager, incident=outage)
    with pytest.raises(DomainError) as error:  # a review keeps it major
        major.incident_stand_down(actor=manager, incident=outage, reason="x")
    assert "is_major" in error.value.fields


def test_completing_needs_summary_root_cause_and_a_resolved_incident(outage, manager):
    declare(outage, manager)
    review = major.review_start(actor=manager, incident=outage)
    with pytest.raises(DomainError) as error:
        major.review_complete(actor=manager, review=review)
    assert set(error.value.fields) == {"summary", "root_cause", "state"}
    review = major.review_update(actor=manager, review=review, summary="Mail down 2h",
                                 root_cause="Certificate expired on the mail gateway")
    with pytest.raises(DomainError) as error:
        major.review_complete(actor=manager, review=review)
    assert set(error.value.fields) == {"state"}
    review.refresh_from_db()
    assert review.status == "draft" and review.completed_at is None
    services.incident_transition(actor=manager, incident=outage, to_state="resolved",
                                 **RESOLUTION)
    review = major.review_complete(actor=manager, review=review)
    assert review.status == "completed" and review.completed_at is not None
    assert audit_of(review).filter(changes__status=["draft", "completed"]).exists()
    with pytest.raises(DomainError) as error:
        major.review_update(actor=manager, review=review, lessons="late edit")
    assert error.value.code == "review_completed"


def test_review_actions_add_edit_complete_delete_audited(resolved_major, manager, agent):
    review = major.review_start(actor=manager, incident=resolved_major)
    owner = UserFactory(roles=["resolver"])
    action = major.review_action_add(actor=manager, review=review,
                                     description="Monitor certificate expiry", owner=owner,
                                     due_on=datetime.date(2030, 1, 31))
    assert kinds(owner) == ["major.review_action"]
    with pytest.raises(DomainError) as error:
        major.review_action_add(actor=manager, review=review, description=" ")
    assert "description" in error.value.fields
    with pytest.raises(NotPermitted):
        major.review_action_add(actor=agent, review=review, description="x")
    assert review.actions.count() == 1
    action = major.review_action_update(actor=manager, action=action,
                                        description="Alert 30 days before expiry")
    # The owner may tick their own action off, and nothing else.
    action = major.review_action_update(actor=owner, action=action, done=True)
    assert action.done
    with pytest.raises(NotPermitted):
        major.review_action_update(actor=owner, action=action, description="mine now")
    assert {e.action for e in audit_of(action)} == {"create", "update"}
    major.review_action_delete(actor=manager, action=action)
    assert not ReviewAction.objects.exists()
    assert audit_of(action).filter(action="delete",
                                   changes__description__0="Alert 30 days before expiry")


def test_the_timeline_reads_the_audit_log_of_the_family_in_order(resolved_major, manager):
    timeline = major_selectors.review_timeline(resolved_major)
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline)
    titles = [entry.title for entry in timeline]
    assert titles[0] == "Opened: Email is down"
    assert any(t.startswith("Declared a major incident") for t in titles)
    update = next(e for e in timeline if e.kind == "stakeholder")
    assert update.details == ("Investigating.",)
    child_entries = [e for e in timeline if e.is_child]
    assert any(e.title == "New → Resolved" for e in child_entries)
    declared = next(e for e in timeline if e.kind == "major")
    assert declared.actor == "Grace Okafor"
    assert "Major incident manager: — → Grace Okafor" in declared.details
    resolved = next(e for e in timeline if e.title == "New → Resolved" and not e.is_child)
    assert "Resolution code: — → Solved (workaround)" in resolved.details
    # The stakeholder update is shown once, from its own row.
    assert sum(e.kind == "stakeholder" for e in timeline) == 1


# --- Desk pages -----------------------------------------------------------------------

def detail(incident, suffix=""):
    return reverse("incidents:detail", kwargs={"key": incident.number}) + suffix


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def test_the_panel_offers_eligible_managers_and_declares(manager_client, outage, manager,
                                                         agent):
    page = manager_client.get(detail(outage))
    html = page.content.decode()
    assert "Declare a major incident" in html
    choices = [str(c[0]) for c in page.context["declare_form"].fields["manager"].choices]
    assert str(manager.pk) in choices and str(agent.pk) not in choices
    response = manager_client.post(detail(outage, "major/declare/"),
                                   {"manager": manager.pk, "reason": "Company-wide"})
    assert response.status_code == 302
    outage.refresh_from_db()
    assert outage.is_major
    html = manager_client.get(detail(outage)).content.decode()
    assert "Stakeholder updates" in html and "Stand down" in html


def test_the_panel_copes_with_a_manager_who_left(manager_client, outage, manager,
                                                 other_manager):
    declare(outage, other_manager, actor=manager)
    other_manager.delete()  # the manager's account is removed: the field is emptied
    outage.refresh_from_db()
    assert outage.is_major and outage.major_manager is None
    page = manager_client.get(detail(outage))
    assert page.status_code == 200
    assert "Stakeholder updates" in page.content.decode()


def test_declare_errors_are_at_the_field(manager_client, outage, agent):
    response = manager_client.post(detail(outage, "major/declare/"),
                                   {"manager": agent.pk, "reason": ""})
    assert response.status_code == 400
    form = response.context["declare_form"]
    assert form.errors["manager"] and form.errors["reason"]
    assert 'id="id_reason_error_1"' in response.content.decode()
    outage.refresh_from_db()
    assert not outage.is_major


def test_agents_see_no_declare_form_and_are_refused(client, agent, outage, manager):
    client.force_login(agent)
    html = client.get(detail(outage)).content.decode()
    assert "Declare a major incident" not in html and "Related incidents" in html
    response = client.post(detail(outage, "major/declare/"),
                           {"manager": manager.pk, "reason": "x"})
    assert response.status_code == 403
    outage.refresh_from_db()
    assert not outage.is_major


def test_posting_an_update_from_the_desk(manager_client, outage, manager, requester):
    declare(outage, manager)
    response = manager_client.post(detail(outage, "major/updates/"), {"body": ""})
    assert response.status_code == 400 and response.context["update_form"].errors["body"]
    response = manager_client.post(detail(outage, "major/updates/"),
                                   {"body": "Fix deployed, monitoring."})
    assert response.status_code == 302
    html = manager_client.get(detail(outage)).content.decode()
    assert "Fix deployed, monitoring." in html
    assert kinds(requester) == ["major.update"]


def test_link_to_parent_by_number_and_unlink(client, agent, outage, requester):
    client.force_login(agent)
    child = log(requester, "No mail")
    response = client.post(detail(child, "parent/"), {"parent": "INC9999999"})
    assert response.status_code == 400
    assert response.context["link_parent_form"].errors["parent"] == [
        "There is no incident INC9999999."]
    response = client.post(detail(child, "parent/"), {"parent": child.number.lower()})
    assert response.status_code == 400  # its own parent: the service's reason, at the field
    assert "cannot be its own parent" in response.context["link_parent_form"].errors[
        "parent"][0]
    response = client.post(detail(child, "parent/"), {"parent": outage.number})
    assert response.status_code == 302
    child.refresh_from_db()
    assert child.parent == outage
    html = client.get(detail(outage)).content.decode()
    assert child.number in html and "1 child incident" in html
    response = client.post(reverse("incidents:unlink_child", kwargs={
        "key": outage.number, "child": child.number}))
    assert response.url == detail(outage)
    child.refresh_from_db()
    assert child.parent is None


def test_review_page_start_edit_actions_complete(manager_client, resolved_major, manager):
    review_url = reverse("incidents:review", kwargs={"key": resolved_major.number})
    page = manager_client.get(review_url)
    assert page.status_code == 200 and "Start the review" in page.content.decode()
    assert "Opened: Email is down" in page.content.decode()  # the timeline is already there
    manager_client.post(review_url + "start/")
    review = PostIncidentReview.objects.get(incident=resolved_major)
    # Completing an empty review: the missing fields are flagged at their inputs.
    response = manager_client.post(review_url + "complete/")
    assert response.status_code == 400
    assert set(response.context["review_form"].errors) == {"summary", "root_cause"}
    response = manager_client.post(review_url, {"summary": "Mail down for 2 hours",
                                                "root_cause": "Expired certificate",
                                                "lessons": ""})
    assert response.status_code == 302
    response = manager_client.post(review_url + "actions/", {"new-description": "",
                                                             "new-owner": manager.pk})
    assert response.status_code == 400
    assert response.context["action_form"].errors["description"]
    manager_client.post(review_url + "actions/", {"new-description": "Alert on expiry",
                                                  "new-owner": manager.pk,
                                                  "new-due_on": "2030-02-01"})
    action = review.actions.get()
    assert action.due_on == datetime.date(2030, 2, 1) and action.owner == manager
    prefix = f"action-{action.pk}"
    response = manager_client.post(review_url + f"actions/{action.pk}/", {
        f"{prefix}-description": "Alert 30 days before expiry", f"{prefix}-owner": "",
        f"{prefix}-due_on": ""})
    assert response.status_code == 302
    manager_client.post(review_url + f"actions/{action.pk}/", {"done": "1"})
    action.refresh_from_db()
    assert action.done and action.owner is None and action.description.startswith("Alert 30")
    response = manager_client.post(review_url + "complete/")
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == "completed"
    html = manager_client.get(review_url).content.decode()
    assert "Expired certificate" in html and "Completed" in html
    assert "Add an action" not in html


def test_desk_follow_unfollow_and_manager_only_actions(client, agent, outage, manager,
                                                       requester):
    declare(outage, manager)
    client.force_login(agent)
    url = detail(outage, "major/subscribe/")
    assert client.post(url).status_code == 302
    assert major_selectors.is_subscribed(outage, agent)
    assert "Stop updates" in client.get(detail(outage)).content.decode()
    client.post(url, {"stop": "1"})
    assert not major_selectors.is_subscribed(outage, agent)
    # An agent neither posts updates, stands it down nor runs the review.
    assert client.post(detail(outage, "major/updates/"), {"body": "x"}).status_code == 403
    assert client.post(detail(outage, "major/stand-down/"),
                       {"reason": "x"}).status_code == 403
    assert client.post(detail(outage, "review/start/")).status_code == 403
    assert not StakeholderUpdate.objects.exists() and not PostIncidentReview.objects.exists()
    # Unlinking something that is not a child of this incident is a 404.
    stranger = log(requester, "Unrelated")
    assert client.post(reverse("incidents:unlink_child", kwargs={
        "key": outage.number, "child": stranger.number})).status_code == 404


def test_review_page_404_for_an_ordinary_incident(manager_client, outage):
    response = manager_client.get(reverse("incidents:review", kwargs={"key": outage.number}))
    assert response.status_code == 404


def test_the_detail_page_of_a_major_incident_keeps_a_flat_query_count(
        manager_client, outage, manager, agent):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    declare(outage, manager)

    def grow(count):
        for index in range(count):
            child = log(UserFactory(), f"child {index}")
            services.incident_link_parent(actor=agent, incident=child, parent=outage)
            major.stakeholder_update_post(actor=manager, incident=outage, body=f"u{index}")

    def queries():
        manager_client.get(detail(outage))  # warm the caches
        with CaptureQueriesContext(connection) as captured:
            response = manager_client.get(detail(outage))
        assert response.status_code == 200
        return len(captured)

    grow(1)
    few = queries()
    grow(4)
    assert queries() == few <= 16  # with the header bell and the escalation card


# --- Portal ---------------------------------------------------------------------------

def test_the_banner_shows_ongoing_major_incidents_on_services(client, outage, manager,
                                                             desk_team):
    person = UserFactory(roles=["requester"])
    client.force_login(person)
    assert "Known problem" not in client.get("/portal/").content.decode()
    declare(outage, manager)
    major.stakeholder_update_post(actor=manager, incident=outage,
                                  body="Failover in progress.")
    unrelated = log(person, "No service recorded")
    declare(unrelated, manager)
    html = client.get("/portal/").content.decode()
    assert "Email &amp; Collaboration: Email is down" in html
    assert "Failover in progress." in html and "Get updates" in html
    assert "No service recorded" not in html
    # Every portal page has it.
    assert "Email is down" in client.get("/portal/incidents/").content.decode()


def test_the_banner_leaves_out_resolved_and_retired(client, outage, manager, email_service):
    declare(outage, manager)
    person = UserFactory(roles=["requester"])
    client.force_login(person)
    email_service.status = "retired"
    email_service.save()
    assert "Email is down" not in client.get("/portal/").content.decode()
    email_service.status = "operational"
    email_service.save()
    services.incident_transition(actor=manager, incident=outage, to_state="resolved",
                                 **RESOLUTION)
    assert "Email is down" not in client.get("/portal/").content.decode()


def test_get_and_stop_updates_from_the_portal(client, outage, manager):
    declare(outage, manager)
    person = UserFactory(roles=["requester"])
    client.force_login(person)
    response = client.post(reverse("portal:major_subscribe", args=[outage.pk]),
                           {"next": "/portal/incidents/"})
    assert response.url == "/portal/incidents/"
    assert major_selectors.is_subscribed(outage, person)
    html = client.get("/portal/").content.decode()
    assert "Stop updates" in html
    major.stakeholder_update_post(actor=manager, incident=outage, body="Back at 14:00.")
    assert kinds(person) == ["major.update"]
    # The followed incident's portal page shows the updates.
    page = client.get(f"/portal/incidents/{outage.pk}/").content.decode()
    assert "Status updates" in page and "Back at 14:00." in page
    # Once, in its box: the conversation does not repeat it (the desk timeline has it).
    assert "Stakeholder update: Back at 14:00." not in page
    assert Activity.objects.filter(object_id=outage.pk, public=False,
                                   body="Stakeholder update: Back at 14:00.").exists()
    response = client.post(reverse("portal:major_unsubscribe", args=[outage.pk]),
                           {"next": "https://evil.example/"})
    assert response.url == "/portal/"
    assert not major_selectors.is_subscribed(outage, person)
    assert client.post(reverse("portal:major_unsubscribe",
                               args=[outage.pk])).status_code == 404


def test_portal_cannot_follow_what_is_not_on_its_banner(client, requester, manager, desk_team):
    hidden = log(manager, "Internal: no service")
    declare(hidden, manager)
    client.force_login(requester)
    response = client.post(reverse("portal:major_subscribe", args=[hidden.pk]))
    assert response.status_code == 404 and not Watcher.objects.exists()


def test_a_child_caller_sees_the_parent_updates_on_their_issue(client, outage, manager,
                                                               agent):
    alice = UserFactory(roles=["requester"])
    child = log(alice, "No mail on my phone")
    services.incident_link_parent(actor=agent, incident=child, parent=outage)
    declare(outage, manager)
    major.stakeholder_update_post(actor=manager, incident=outage, body="ETA 30 minutes.")
    client.force_login(alice)
    page = client.get(f"/portal/incidents/{child.pk}/").content.decode()
    assert "part of a wider incident" in page and "ETA 30 minutes." in page
    assert "You get updates: you reported it." in client.get("/portal/").content.decode()


# --- API ------------------------------------------------------------------------------

def api_url(key, action=""):
    return f"/api/v1/incidents/{key}/" + (f"{action}/" if action else "")


def test_api_link_parent_by_number_and_unlink(api, agent, outage, requester):
    child = log(requester, "No mail")
    api.force_authenticate(agent)
    response = api.post(api_url(child.number, "link-parent"), {"parent": outage.number},
                        format="json")
    assert response.status_code == 200
    assert response.json()["parent_number"] == outage.number
    assert api.get(api_url(outage.pk)).json()["children_count"] == 1
    response = api.post(api_url(child.pk, "link-parent"), {"parent": "INC0000000"},
                        format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["parent"] == ["There is no incident INC0000000."]
    response = api.post(api_url(outage.pk, "link-parent"), {"parent": child.number},
                        format="json")
    assert response.status_code == 400 and "parent" in response.json()["fields"]
    response = api.post(api_url(child.pk, "link-parent"), {"parent": None}, format="json")
    assert response.status_code == 200 and response.json()["parent"] is None


def test_api_declare_update_and_stand_down(api, manager, outage, requester, agent):
    api.force_authenticate(agent)
    response = api.post(api_url(outage.number, "declare-major"),
                        {"manager": manager.pk, "reason": "x"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    api.force_authenticate(manager)
    response = api.post(api_url(outage.number, "declare-major"),
                        {"manager": agent.pk, "reason": "Company-wide"}, format="json")
    assert response.status_code == 400 and "manager" in response.json()["fields"]
    response = api.post(api_url(outage.number, "declare-major"), {"manager": manager.pk},
                        format="json")
    assert response.status_code == 400 and "reason" in response.json()["fields"]
    outage.refresh_from_db()
    assert not outage.is_major and not audit_of(outage).filter(changes__has_key="is_major")
    response = api.post(api_url(outage.number, "declare-major"),
                        {"manager": manager.pk, "reason": "Company-wide"}, format="json")
    body = response.json()
    assert response.status_code == 200 and body["is_major"] and body["major_manager"] == (
        manager.pk) and body["major_declared_at"]
    response = api.post(api_url(outage.pk, "stakeholder-updates"), {"body": ""},
                        format="json")
    assert response.status_code == 400 and "body" in response.json()["fields"]
    response = api.post(api_url(outage.pk, "stakeholder-updates"),
                        {"body": "Investigating"}, format="json")
    assert response.status_code == 201 and response.json()["body"] == "Investigating"
    api.force_authenticate(requester)  # the caller reads the updates of their incident
    listed = api.get(api_url(outage.pk, "stakeholder-updates")).json()
    assert [u["body"] for u in listed] == ["Investigating"]
    assert api.post(api_url(outage.pk, "stakeholder-updates"), {"body": "x"},
                    format="json").status_code == 403
    api.force_authenticate(manager)
    response = api.post(api_url(outage.pk, "stand-down"), {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["fields"]
    response = api.post(api_url(outage.pk, "stand-down"), {"reason": "Contained"},
                        format="json")
    assert response.status_code == 200 and response.json()["is_major"] is False


def test_api_review_and_actions(api, manager, resolved_major, requester):
    api.force_authenticate(manager)
    key = resolved_major.number
    assert api.get(api_url(key, "review")).status_code == 404
    response = api.put(api_url(key, "review"), {"summary": "Mail down 2h"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "draft" and body["summary"] == "Mail down 2h"
    assert body["timeline"][0]["title"] == "Opened: Email is down"
    response = api.post(api_url(key, "review/complete"), format="json")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["root_cause"]
    response = api.post(api_url(key, "review/actions"), {"description": "",
                                                         "owner": manager.pk},
                        format="json")
    assert response.status_code == 400 and "description" in response.json()["fields"]
    created = api.post(api_url(key, "review/actions"), {
        "description": "Alert on expiry", "owner": manager.pk, "due_on": "2030-03-01"},
        format="json").json()
    assert created["owner_name"] == "Grace Okafor" and created["done"] is False
    action_url = api_url(key, f"review/actions/{created['id']}")
    assert api.patch(action_url, {"done": True}, format="json").json()["done"] is True
    api.put(api_url(key, "review"), {"root_cause": "Expired certificate"}, format="json")
    assert api.post(api_url(key, "review/complete"), format="json").json()[
        "status"] == "completed"
    response = api.delete(action_url)
    assert response.status_code == 400 and response.json()["code"] == "review_completed"
    api.force_authenticate(requester)  # a caller of the incident, not the desk
    assert api.get(api_url(key, "review")).status_code == 403


def test_api_list_shows_family_without_extra_queries(api, agent, outage, requester,
                                                     django_assert_max_num_queries):
    for index in range(5):
        child = log(requester, f"child {index}")
        services.incident_link_parent(actor=agent, incident=child, parent=outage)
    api.force_authenticate(agent)
    with django_assert_max_num_queries(8):
        rows = api.get("/api/v1/incidents/").json()["results"]
    by_number = {row["number"]: row for row in rows}
    assert by_number[outage.number]["children_count"] == 5
    assert {row["parent_number"] for row in rows if row["number"] != outage.number} == {
        outage.number}


def test_other_incidents_stay_invisible_through_the_new_endpoints(api, requester, outage,
                                                                 manager):
    declare(outage, manager)
    stranger = UserFactory(roles=["requester"])
    api.force_authenticate(stranger)
    assert api.get(api_url(outage.number, "stakeholder-updates")).status_code == 404
    assert api.get(api_url(outage.number, "review")).status_code == 404
    assert api.post(api_url(outage.number, "link-parent"), {"parent": None},
                    format="json").status_code == 404
    assert not Activity.objects.filter(author=stranger).exists()
