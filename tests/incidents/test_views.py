"""The desk pages of incident management: queues, the form to log an incident, the
detail page (lifecycle buttons, values a move needs, assignment, composer) and access."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from incidents import services
from incidents.models import Category, Incident, IncidentState
from incidents.views import PAGE_SIZE
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tickets.models import Activity

LIST = reverse("incidents:list")
CREATE = reverse("incidents:create")


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def network(db):
    return TeamFactory(name="Network")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def log(actor, title, **fields):
    return services.incident_create(actor=actor, title=title, **fields)


def detail(incident, suffix=""):
    url = reverse("incidents:detail", kwargs={"key": incident.number})
    return url + suffix


def numbers(response):
    return [incident.number for incident in response.context["items"]]


# --- Queues ---------------------------------------------------------------------------

def test_queues_return_the_right_incidents(agent_client, agent, requester, desk_team, network):
    MembershipFactory(team=network, user=agent)
    mine = log(agent, "Mine", requester=requester, assignment_group=network)
    services.incident_assign(actor=agent, incident=mine, group=network, assignee=agent)
    group_only = log(agent, "Group, nobody", requester=requester, assignment_group=network)
    elsewhere = log(agent, "Desk's", requester=requester)
    major = log(agent, "Major", requester=requester)
    Incident.objects.filter(pk=major.pk).update(is_major=True)
    resolved = log(agent, "Done", requester=requester)
    services.incident_transition(actor=agent, incident=resolved, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")

    def queue(name):
        return set(numbers(agent_client.get(LIST, {"queue": name})))

    assert queue("mine") == {mine.number}
    assert queue("my_groups") == {mine.number, group_only.number}
    assert queue("unassigned") == {group_only.number, elsewhere.number, major.number}
    assert queue("open") == {mine.number, group_only.number, elsewhere.number, major.number}
    assert queue("major") == {major.number}
    assert queue("recently_resolved") == {resolved.number}


def row_of(response, incident):
    """The queue row (its HTML, without the spaces between tags) of ``incident``."""
    page = response.content.decode()
    start = page.index(f'value="{incident.pk}" form="bulk-form"')
    return re.sub(r">\s+<", "><", page[page.rindex("<tr>", 0, start):page.index("</tr>", start)])


def test_a_queue_row_shows_names_badges_the_link_and_local_time(agent_client, agent,
                                                                 desk_team, network):
    from zoneinfo import ZoneInfo

    agent.profile.time_zone = "Asia/Tokyo"
    agent.profile.save()
    named = UserFactory(first_name="Ada", last_name="Lovelace")
    named.profile.display_name = "Countess"
    named.profile.save()
    plain = UserFactory(username="plain", first_name="Grace", last_name="Hopper")
    bare = UserFactory(username="bare", first_name="No", last_name="Profile")
    bare.profile.delete()
    MembershipFactory(team=network, user=plain)
    assigned = log(agent, "Assigned", requester=named, impact=1, urgency=1)
    services.incident_assign(actor=agent, incident=assigned, group=network, assignee=plain)
    waiting = log(agent, "Waiting", requester=bare)
    response = agent_client.get(LIST, {"queue": "open"})

    row = row_of(response, assigned)
    assigned.refresh_from_db()
    local = assigned.updated_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f'<a href="{detail(assigned)}">{assigned.number}</a>' in row
    assert f'aria-label="Select {assigned.number}"' in row
    assert '<span class="badge badge-red" title="P1 – Critical">P1</span>' in row
    assert '<span class="badge badge-blue">Assigned</span>' in row
    # The caller by display name, the group, the assignee by full name (no display name).
    assert "<td>Countess</td><td>Network</td><td>Grace Hopper</td>" in row
    assert (f'<time datetime="{local.isoformat()}">{local.day} {local:%b %Y %H:%M}</time>'
            in row)
    # A caller without a profile shows as the username; nobody assigned: a dash.
    row = row_of(response, waiting)
    assert "<td>bare</td><td>Service Desk</td><td>—</td>" in row


def test_the_bulk_assignee_options_are_the_team_members_as_the_person_field_names_them(
        agent_client, agent, desk_team, network):
    from accounts.forms import PersonChoiceField
    from incidents.bulk_forms import assignee_choices

    display = UserFactory(first_name="Ada", last_name="Lovelace")
    display.profile.display_name = "Countess"
    display.profile.save()
    nameless = UserFactory(username="zed", first_name="", last_name="")
    bare = UserFactory(username="bare", first_name="No", last_name="Profile")
    bare.profile.delete()
    gone = UserFactory(username="gone")
    gone.is_active = False
    gone.save()
    for person in (display, nameless, bare, gone, agent):
        MembershipFactory(team=network, user=person)
    MembershipFactory(team=desk_team, user=agent)
    label = PersonChoiceField().label_from_instance
    people = {p.pk: p for p in (display, nameless, bare, agent)}
    for person in people.values():
        person.refresh_from_db()  # without the deleted profile cached

    def expected(team):
        members = sorted((m for m in team.memberships.all() if m.user.is_active),
                         key=lambda m: (m.user.first_name, m.user.last_name, m.user.username))
        return [(m.user_id, label(people[m.user_id])) for m in members]

    assert assignee_choices() == [("", "—"), ("Network", expected(network)),
                                  ("Service Desk", expected(desk_team))]
    assert assignee_choices(network) == [("", "—"), *expected(network)]
    page = agent_client.get(LIST, {"queue": "open"}).content.decode()
    assert f'<option value="{display.pk}">Countess ({display.username})</option>' in page
    assert f'<option value="{bare.pk}">No Profile (bare)</option>' in page
    assert f'<option value="{gone.pk}"' not in page


def test_the_default_queue_depends_on_team_membership(agent_client, agent, requester,
                                                      desk_team, network):
    log(agent, "Open", requester=requester)
    response = agent_client.get(LIST)
    assert response.context["queue"] == "open"
    assert len(response.context["items"]) == 1
    MembershipFactory(team=network, user=agent)
    response = agent_client.get(LIST)
    assert response.context["queue"] == "my_groups"
    assert response.context["items"] == []


def test_the_list_filters_and_sorts_by_priority_then_age(agent_client, agent, requester,
                                                          desk_team):
    low = log(agent, "Printer jam", requester=requester)
    high = log(agent, "Email down", requester=requester, impact=1, urgency=1)
    older_high = log(agent, "VPN down", requester=requester, impact=1, urgency=1)
    Incident.objects.filter(pk=older_high.pk).update(created_at=high.created_at.replace(
        year=high.created_at.year - 1))
    response = agent_client.get(LIST, {"queue": "open"})
    assert numbers(response) == [older_high.number, high.number, low.number]
    assert numbers(agent_client.get(LIST, {"queue": "open", "q": "email"})) == [high.number]
    assert numbers(agent_client.get(LIST, {"queue": "open", "priority": "4"})) == [low.number]
    assert agent_client.get(LIST, {"queue": "open", "priority": "9"}).status_code == 400


def test_the_list_pages_by_keyset(agent_client, agent, requester, desk_team):
    for number in range(PAGE_SIZE + 3):
        log(agent, f"Incident {number}", requester=requester)
    first = agent_client.get(LIST, {"queue": "open"})
    assert len(first.context["items"]) == PAGE_SIZE
    cursor = first.context["next_cursor"]
    assert cursor
    second = agent_client.get(LIST, {"queue": "open", "after": cursor})
    assert len(second.context["items"]) == 3
    assert not set(numbers(first)) & set(numbers(second))
    assert second.context["next_cursor"] is None
    assert agent_client.get(LIST, {"after": "nonsense"}).status_code == 400


def test_the_list_query_count_is_pinned(agent_client, agent, requester, desk_team, network,
                                        django_assert_num_queries):
    MembershipFactory(team=network, user=agent)
    for number in range(3):
        log(agent, f"Incident {number}", requester=requester, assignment_group=network)
    services.incident_assign(actor=agent, incident=Incident.objects.first(), group=network,
                             assignee=agent)  # so the page names an assignee from the start
    agent_client.get(LIST)  # warm the session and permission caches
    # See tests/incidents/test_query_counts.py for what the queries are.
    with django_assert_num_queries(7) as captured:
        agent_client.get(LIST)
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
    for number in range(10):
        incident = log(agent, f"More {number}", requester=UserFactory(),
                       assignment_group=network)
        services.incident_assign(actor=agent, incident=incident, group=network, assignee=agent)
    agent_client.get(LIST)  # new people: the permission cache starts again
    with django_assert_num_queries(7):
        agent_client.get(LIST)


def test_htmx_filtering_returns_only_the_list_body(agent_client, desk_team):
    response = agent_client.get(LIST, {"queue": "open"}, headers={"HX-Request": "true"})
    assert b"queue-tabs" in response.content
    assert b"<html" not in response.content


# --- Create ---------------------------------------------------------------------------

def test_logging_an_incident_redirects_to_its_detail(agent_client, agent, requester, desk_team):
    response = agent_client.post(CREATE, {
        "requester": requester.pk, "title": "VPN drops", "description": "Every 10 minutes",
        "channel": "phone", "impact": 2, "urgency": 1})
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response.url == detail(incident)
    assert (incident.requester, incident.opened_by, incident.priority) == (requester, agent, 2)
    assert incident.assignment_group == desk_team


def test_the_form_shows_errors_at_the_field(agent_client, requester, desk_team):
    response = agent_client.post(CREATE, {"requester": requester.pk, "title": "",
                                          "channel": "phone", "impact": 3, "urgency": 3})
    assert response.status_code == 400
    assert response.context["form"].errors["title"]
    assert not Incident.objects.exists()


def test_a_service_refusal_is_shown_at_its_field(agent_client, requester, desk_team):
    hardware = Category.objects.create(name="Hardware")
    software = Category.objects.create(name="Software")
    printer = Category.objects.create(name="Printer", parent=hardware)
    response = agent_client.post(CREATE, {
        "requester": requester.pk, "title": "Jam", "channel": "phone", "impact": 3,
        "urgency": 3, "category": software.pk, "subcategory": printer.pk})
    assert response.status_code == 400
    assert response.context["form"].errors["subcategory"]
    assert b"field-error" in response.content
    assert not Incident.objects.exists()


# --- Detail ---------------------------------------------------------------------------

def test_detail_by_number_or_pk(agent_client, agent, requester, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    assert agent_client.get(detail(incident)).status_code == 200
    by_pk = reverse("incidents:detail", kwargs={"key": str(incident.pk)})
    assert agent_client.get(by_pk).context["incident"] == incident
    assert agent_client.get(reverse("incidents:detail", kwargs={"key": "INC9999999"})
                            ).status_code == 404


def test_only_the_allowed_moves_are_offered(agent_client, agent, requester, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    response = agent_client.get(detail(incident))
    targets = {item["transition"].target for item in response.context["transitions"]}
    assert targets == {"assigned", "in_progress", "resolved", "cancelled"}
    assert b'value="closed"' not in response.content
    services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                 resolution_code="user_error", resolution_notes="Advised.")
    response = agent_client.get(detail(incident))
    targets = {item["transition"].target for item in response.context["transitions"]}
    assert targets == {"in_progress", "closed"}


def test_resolving_without_a_code_shows_the_error_and_writes_nothing(agent_client, agent,
                                                                     requester, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    audits = AuditEntry.objects.count()
    activities = Activity.objects.count()
    response = agent_client.post(detail(incident, "transition/"), {
        "to_state": "resolved", "resolution_notes": "Rebooted."})
    assert response.status_code == 400
    form = next(item["form"] for item in response.context["transitions"]
                if item["transition"].target == "resolved")
    assert form.errors["resolution_code"] == ["Required to resolve."]
    assert b"Required to resolve." in response.content
    incident.refresh_from_db()
    assert incident.state == IncidentState.NEW
    assert (AuditEntry.objects.count(), Activity.objects.count()) == (audits, activities)


def test_resolving_with_a_code_and_notes(agent_client, agent, requester, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    response = agent_client.post(detail(incident, "transition/"), {
        "to_state": "resolved", "resolution_code": "solved_workaround",
        "resolution_notes": "Rebooted."})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.state, incident.resolution_code) == ("resolved", "solved_workaround")


def test_hold_needs_a_reason_and_an_illegal_move_is_refused(agent_client, agent, requester,
                                                            desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    services.incident_transition(actor=agent, incident=incident, to_state="in_progress")
    response = agent_client.post(detail(incident, "transition/"), {"to_state": "on_hold"})
    assert response.status_code == 400
    assert b"Say what the incident waits for." in response.content
    response = agent_client.post(detail(incident, "transition/"), {"to_state": "closed"})
    assert response.status_code == 400
    assert b"Cannot move from In progress to Closed." in response.content
    response = agent_client.post(detail(incident, "transition/"), {
        "to_state": "on_hold", "hold_reason": "awaiting_vendor"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.state, incident.hold_reason) == ("on_hold", "awaiting_vendor")


def test_comments_and_work_notes_are_told_apart(agent_client, agent, requester, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    agent_client.post(detail(incident, "respond/"), {"kind": "comment", "body": "On my way"})
    agent_client.post(detail(incident, "respond/"), {"kind": "work_note",
                                                     "body": "Probably the disk"})
    kinds = list(Activity.objects.filter(kind__in=["comment", "work_note"])
                 .values_list("kind", "public", "body"))
    assert kinds == [("comment", True, "On my way"), ("work_note", False, "Probably the disk")]
    page = agent_client.get(detail(incident)).content.decode()
    assert 'class="entry-comment"' in page
    assert 'class="entry-work_note"' in page
    assert "Work note · desk only" in page
    agent_client.post(detail(incident, "transition/"), {"to_state": "in_progress"})
    timeline = agent_client.get(detail(incident, "?part=timeline"),
                                headers={"HX-Request": "true"}).content.decode()
    assert "State: New → <strong>In progress</strong>" in timeline
    assert "<html" not in timeline
    incident.refresh_from_db()
    assert incident.first_response_at is not None


def test_an_empty_message_is_refused_at_the_field(agent_client, agent, requester, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    response = agent_client.post(detail(incident, "respond/"), {"kind": "comment", "body": " "})
    assert response.status_code == 400
    assert response.context["respond_form"].errors["body"]


def test_assigning_and_suggesting_within_the_group(agent_client, agent, requester, desk_team,
                                                   network):
    busy, free = UserFactory(roles=["service_desk_agent"]), UserFactory(
        roles=["service_desk_agent"])
    MembershipFactory(team=network, user=busy)
    MembershipFactory(team=network, user=free)
    other = log(agent, "Other", requester=requester)
    services.incident_assign(actor=agent, incident=other, group=network, assignee=busy)
    incident = log(agent, "Slow laptop", requester=requester)
    response = agent_client.post(detail(incident, "assign/"), {"group": network.pk,
                                                               "suggest": "1"})
    assert response.context["assign_form"].initial["assignee"] == free.pk
    response = agent_client.post(detail(incident, "assign/"), {"group": network.pk,
                                                               "assignee": agent.pk})
    assert response.status_code == 400
    assert response.context["assign_form"].errors["assignee"]
    response = agent_client.post(detail(incident, "assign/"), {"group": network.pk,
                                                               "assignee": free.pk})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.assignment_group, incident.assignee, incident.state) == (
        network, free, "assigned")


def test_the_detail_query_count_is_pinned(agent_client, agent, requester, desk_team,
                                          django_assert_num_queries):
    incident = log(agent, "Slow laptop", requester=requester)
    services.incident_respond(actor=agent, incident=incident, body="Hello")
    agent_client.get(detail(incident))  # warm the caches
    # 10: the page's 5, its SLA timers, its changes, its problems, its remediation runs and
    # the header bell (no children: no query for them)
    with django_assert_num_queries(10):
        agent_client.get(detail(incident))
    for number in range(5):
        services.incident_respond(actor=agent, incident=incident, body=f"Note {number}",
                                  internal=True)
    services.incident_transition(actor=agent, incident=incident, to_state="in_progress")
    with django_assert_num_queries(10):
        agent_client.get(detail(incident))


def test_setting_the_priority_by_hand_needs_a_reason(client, admin_user, agent, requester,
                                                     desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    client.force_login(admin_user)
    assert client.get(detail(incident)).context["priority_form"] is not None
    response = client.post(detail(incident, "priority/"), {"priority": 1,
                                                           "priority_override_reason": ""})
    assert response.status_code == 400
    assert response.context["priority_form"].errors["priority_override_reason"]
    response = client.post(detail(incident, "priority/"), {
        "priority": 1, "priority_override_reason": "CEO's laptop"})
    assert response.status_code == 302
    page = client.get(detail(incident)).content.decode()
    assert "Set by hand: CEO&#x27;s laptop" in page


def test_changing_the_group_refills_the_assignee_choices(agent_client, agent, requester,
                                                         desk_team, network):
    member = UserFactory(roles=["service_desk_agent"])
    MembershipFactory(team=network, user=member)
    incident = log(agent, "Slow laptop", requester=requester)
    response = agent_client.get(detail(incident, "assign/"), {"group": network.pk},
                                headers={"HX-Request": "true"})
    assert list(response.context["assign_form"].fields["assignee"].queryset) == [member]
    assert b"<html" not in response.content


def test_the_assignment_form_reads_its_options_only_when_shown(
        agent, requester, desk_team, network, django_assert_num_queries):
    from accounts.forms import PersonChoiceField
    from incidents.views import _assign_form

    member = UserFactory(first_name="Grace", last_name="Hopper")
    outsider = UserFactory()
    MembershipFactory(team=network, user=member)
    incident = log(agent, "Slow laptop", requester=requester)
    with django_assert_num_queries(0):  # a closed incident's page never shows it
        form = _assign_form(incident, group=network, initial={"group": network.pk})
    with django_assert_num_queries(2):  # the teams, the group's members
        html = str(form["group"]) + str(form["assignee"])
        html += str(form["group"]) + str(form["assignee"])  # read once
    assert f'<option value="{network.pk}" selected>Network</option>' in html
    label = PersonChoiceField().label_from_instance(member)
    assert f'<option value="{member.pk}">{label}</option>' in html
    assert f'value="{outsider.pk}"' not in html


# --- Access ---------------------------------------------------------------------------

def test_requesters_are_refused_the_desk_pages(client, requester, agent, desk_team):
    incident = log(agent, "Slow laptop", requester=requester)
    client.force_login(requester)
    for url in (LIST, CREATE, detail(incident)):
        assert client.get(url).status_code == 403
    response = client.post(detail(incident, "transition/"), {"to_state": "cancelled"})
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.state == IncidentState.NEW


def test_anonymous_visitors_are_sent_to_sign_in(client, desk_team):
    response = client.get(LIST)
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


def test_timeline_names_related_records(client, db):
    desk = TeamFactory(name="Desk team", is_service_desk=True)
    agent = UserFactory(roles=["service_desk_agent"], first_name="Priya", last_name="Shah")
    MembershipFactory(team=desk, user=agent)
    caller = UserFactory(roles=["requester"])
    incident = services.incident_create(actor=caller, title="x")
    services.incident_assign(actor=agent, incident=incident, group=desk, assignee=agent)
    client.force_login(agent)
    html = client.get(reverse("incidents:detail", args=[incident.number])).content.decode()
    assert "Priya Shah" in html and f"→ <strong>{agent.pk}</strong>" not in html
