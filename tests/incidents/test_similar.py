"""Finding duplicates while an incident is logged: the ranking (same CI or service lately,
similar text by trigram on PostgreSQL or TF-IDF elsewhere), its bounds, the desk panel
and "log as a child", the detail page's box, the portal's privacy rule and the API.

Everything here holds on SQLite and on PostgreSQL: CI runs the suite on both."""

import datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from incidents import services, tfidf
from incidents.models import Incident, IncidentState
from incidents.similar import TFIDF, TRIGRAM, similar_open_incidents, text_method
from itsm.errors import DomainError
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory
from tickets.models import Activity

SIMILAR_API = "/api/v1/incidents/similar/"
PANEL = reverse("incidents:similar")
KNOWN = reverse("portal:incident_known")
CREATE = reverse("incidents:create")


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def log(agent, requester, desk_team):
    def make(title, *, caller=None, age=None, **fields):
        incident = services.incident_create(actor=agent, title=title,
                                            requester=caller or requester, **fields)
        if age is not None:  # opened that long ago
            Incident.objects.filter(pk=incident.pk).update(created_at=timezone.now() - age)
            incident.refresh_from_db()
        return incident
    return make


@pytest.fixture
def service(db):
    return CIFactory(name="Email", ci_class=ci_class("business_service"))


@pytest.fixture
def server(db):
    return CIFactory(name="mail-01", ci_class=ci_class("server"))


def titles(suggestions):
    return [s.incident.title for s in suggestions]


def close(agent, incident, state):
    if state in ("resolved", "closed"):
        incident = services.incident_transition(
            actor=agent, incident=incident, to_state="resolved",
            resolution_code="user_error", resolution_notes="Advised.")
    if state != "resolved":
        services.incident_transition(actor=agent, incident=incident, to_state=state)


# --- The text methods ----------------------------------------------------------------

def test_the_light_stemmer_meets_word_forms_at_one_stem():
    assert {tfidf.stem(w) for w in ("crash", "crashes", "crashing", "crashed")} == {"crash"}
    assert tfidf.stem("stopped") == tfidf.stem("stops") == "stop"
    assert tfidf.stem("access") == "access" and tfidf.stem("status") == "status"
    assert tfidf.tokens("The printer is NOT printing, again!") == ["printer", "print"]


def test_tfidf_cosine_is_one_for_the_same_words_and_zero_for_none_shared():
    docs = [tfidf.tokens("VPN drops at home"), tfidf.tokens("Printer jam on floor 3"),
            tfidf.tokens("")]
    same, unrelated, empty = tfidf.cosine_scores(tfidf.tokens("vpn dropping at home"), docs)
    assert same == pytest.approx(1.0) and unrelated == 0.0 and empty == 0.0
    assert tfidf.cosine_scores([], docs) == [0.0, 0.0, 0.0]


def test_the_database_decides_the_method():
    assert text_method() is (TRIGRAM if connection.vendor == "postgresql" else TFIDF)
    assert TRIGRAM.scaled(0.1) == 0.0 and TRIGRAM.scaled(0.9) == 1.0
    assert 0 < TFIDF.scaled(0.5) < 1


# --- Ranking --------------------------------------------------------------------------

# (what is being logged, the same issue worded differently, something unrelated): the
# calibration pairs. Each must rank the same way with either method.
PAIRS = [
    ("Outlook crashes on start", "Outlook crashing at startup", "Printer jam on floor 3"),
    ("Printer jammed", "Printer jam on floor 3", "Laptop fan very loud and hot"),
    ("Outlook asks for my password again and again", "Outlook keeps asking for my password",
     "Cannot connect to VPN from home"),
    ("Payroll report has last month's figures", "Payroll report shows last month's figures",
     "Wi-Fi drops in the Manchester office"),
]


@pytest.mark.parametrize(("query", "same", "unrelated"), PAIRS)
def test_similar_text_is_suggested_and_unrelated_text_is_not(log, query, same, unrelated):
    for title in {t for pair in PAIRS for t in pair[1:]}:
        log(title)
    suggestions = similar_open_incidents(title=query)
    assert titles(suggestions)[0] == same
    assert unrelated not in titles(suggestions)
    best = suggestions[0]
    assert 0.3 <= best.score <= 1 and "similar text" in best.reasons
    assert best.text_score == best.score  # text alone: no CI or service given


def test_nothing_is_suggested_for_unrelated_text(log):
    log("Outlook crashing at startup")
    log("Printer jam on floor 3")
    assert similar_open_incidents(title="Canteen menu shows yesterday") == []


def test_the_description_counts_too(log):
    log("Cannot work", description="Excel freezes whenever I open the budget workbook")
    log("Cannot work", description="The badge reader at the side door is broken")
    found = similar_open_incidents(title="Spreadsheet trouble",
                                   description="Excel freezes when opening the budget workbook")
    assert [s.incident.description for s in found][:1] == [
        "Excel freezes whenever I open the budget workbook"]
    assert "badge" not in " ".join(s.incident.description for s in found)


@pytest.mark.parametrize("state", ["resolved", "closed", "cancelled"])
def test_incidents_that_are_no_longer_open_are_never_suggested(log, agent, server, state):
    incident = log("Outlook crashing at startup", ci=server)
    close(agent, incident, state)
    assert similar_open_incidents(title="Outlook crashing at startup", ci=server) == []


def test_same_ci_lately_is_suggested_even_in_other_words(log, server, service):
    recent = log("Server not answering", ci=server, age=datetime.timedelta(hours=2))
    log("Mailbox full", ci=server, age=datetime.timedelta(hours=30))  # too long ago
    same_service = log("Calendar invites missing", service=service,
                       age=datetime.timedelta(minutes=20))
    found = similar_open_incidents(title="Users cannot sign in", ci=server, service=service)
    assert [s.incident for s in found] == [recent, same_service]
    assert found[0].reasons == ("same CI, opened 2 h ago",) and found[0].score == 0.8
    assert found[1].reasons == ("same service, opened 20 min ago",)
    assert found[1].score == 0.6 and found[0].age == "2 h"


def test_context_and_text_add_up(log, service):
    log("Outlook crashing at startup", age=datetime.timedelta(minutes=5))
    both = log("Outlook crashing at startup", service=service,
               age=datetime.timedelta(minutes=10))
    found = similar_open_incidents(title="Outlook crashes on start", service=service)
    assert found[0].incident == both
    assert found[0].score > found[1].score > 0
    assert found[0].reasons[0].startswith("same service") and "similar text" in \
        found[0].reasons


def test_the_recent_window_is_a_setting(log, server, settings):
    log("Server not answering", ci=server, age=datetime.timedelta(hours=6))
    assert similar_open_incidents(title="Users cannot sign in", ci=server) == []
    settings.INCIDENT_DUPLICATES_RECENT_HOURS = 8
    assert len(similar_open_incidents(title="Users cannot sign in", ci=server)) == 1


def test_an_ongoing_major_incident_on_the_service_is_suggested_whatever_its_age(log, service):
    major = log("Exchange Online outage", service=service, age=datetime.timedelta(days=2))
    Incident.objects.filter(pk=major.pk).update(is_major=True)
    log("Shared mailbox permissions", service=service, age=datetime.timedelta(days=2))
    found = similar_open_incidents(title="Cannot send mail", service=service)
    assert [s.incident for s in found] == [major]
    assert found[0].reasons == ("ongoing major incident on this service",)


def test_candidates_are_bounded_by_the_window_and_the_cap(log, settings):
    log("Outlook crashing at startup", age=datetime.timedelta(days=45))
    assert similar_open_incidents(title="Outlook crashes on start") == []  # past the window
    settings.INCIDENT_DUPLICATES_WINDOW_DAYS = 60
    assert len(similar_open_incidents(title="Outlook crashes on start")) == 1
    newer = [log("Outlook crashing at startup", age=datetime.timedelta(hours=h))
             for h in (3, 2, 1)]
    settings.INCIDENT_DUPLICATES_MAX_CANDIDATES = 2  # only the newest two are read
    found = similar_open_incidents(title="Outlook crashes on start", limit=10)
    assert [s.incident for s in found] == [newer[2], newer[1]]


def test_the_threshold_is_a_setting(log, settings):
    log("Outlook crashing at startup")
    settings.INCIDENT_DUPLICATES_MIN_SCORE = 0.99
    assert similar_open_incidents(title="Outlook crashes on start") == []


def test_children_and_the_excluded_incident_are_left_out(log, agent):
    parent = log("Outlook crashing at startup")
    child = log("Outlook crashing at startup too")
    services.incident_link_parent(actor=agent, incident=child, parent=parent)
    other = log("Outlook crashes on start")
    assert set(titles(similar_open_incidents(title="Outlook crashes at startup"))) == {
        parent.title, other.title}  # the child is represented by its parent
    assert [s.incident for s in similar_open_incidents(
        title=parent.title, exclude=parent)] == [other]
    with_children = similar_open_incidents(title="Outlook crashes at startup",
                                           include_children=True)
    assert child in [s.incident for s in with_children]


def test_the_query_count_does_not_grow_with_the_incidents(log, server, service,
                                                          django_assert_num_queries):
    for number in range(3):
        log(f"Outlook crashing at startup {number}", ci=server, service=service)
    # two bounded candidate reads, the scoring read, the winners' rows
    with django_assert_num_queries(4):
        first = similar_open_incidents(title="Outlook crashes", ci=server, service=service)
    for number in range(25):
        log(f"Mail problem {number}", ci=server, service=service)
    with django_assert_num_queries(4):
        second = similar_open_incidents(title="Outlook crashes", ci=server, service=service)
    with django_assert_num_queries(3):  # no CI or service: no second candidate read
        similar_open_incidents(title="Outlook crashes")
    assert len(first) == 3 and len(second) == 5
    group = second[0].incident.assignment_group  # loaded with the suggestion
    with django_assert_num_queries(0):
        assert group.name == "Service Desk" and second[0].incident.service.name == "Email"


# --- Logging as a child ---------------------------------------------------------------

def test_an_incident_can_be_logged_as_a_child_in_one_go(log, agent):
    parent = log("Mail is down")
    child = services.incident_create(actor=agent, title="Cannot send mail", parent=parent)
    assert child.parent == parent
    assert parent.activities.filter(body__contains=child.number, public=False).exists()
    assert AuditEntry.objects.filter(object_id=str(child.pk), changes__has_key="parent")


@pytest.mark.parametrize("case", ["closed", "grandchild"])
def test_a_refused_parent_creates_nothing(log, agent, case):
    parent = log("Mail is down")
    if case == "closed":
        close(agent, parent, "cancelled")
    else:
        services.incident_link_parent(actor=agent, incident=log("Mail down, 2"),
                                      parent=log("Mail down, 1"))
        parent = Incident.objects.get(title="Mail down, 2")
    before = Incident.objects.count()
    with pytest.raises(DomainError) as error:
        services.incident_create(actor=agent, title="Cannot send mail", parent=parent)
    assert "parent" in error.value.fields
    assert Incident.objects.count() == before
    assert not Activity.objects.filter(body__contains="Cannot send mail").exists()


# --- Desk: the new-incident panel -----------------------------------------------------

@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def test_the_panel_shows_suggestions_as_the_agent_types(agent_client, log, service):
    match = log("Outlook crashing at startup", service=service)
    log("Printer jam on floor 3")
    response = agent_client.get(PANEL, {"title": "Outlook crashes on start",
                                        "service": service.pk},
                                headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert match.number in html and "Outlook crashing at startup" in html
    assert "Printer jam" not in html
    assert "same service, opened less than a minute ago · similar text" in html
    assert "Service Desk" in html and 'target="_blank"' in html
    assert f'name="parent" value="{match.pk}"' in html
    assert "Log as a child of this incident" in html
    # the form's service picker sends what it shows ("Name (CI 12)"), read the same way
    html = agent_client.get(PANEL, {"title": "Outlook crashes on start",
                                    "service": f"{service.name} (CI {service.pk})"},
                            headers={"HX-Request": "true"}).content.decode()
    assert "same service, opened less than a minute ago" in html


def test_the_panel_keeps_the_chosen_parent_and_hints_before_typing(agent_client, log):
    chosen = log("Outlook crashing at startup")
    html = agent_client.get(PANEL, {"title": ""}).content.decode()
    assert "Type a title" in html and chosen.number not in html
    html = agent_client.get(PANEL, {"title": "Badge reader broken",
                                    "parent": chosen.pk}).content.decode()
    assert chosen.number in html and f'value="{chosen.pk}" checked' in html
    html = agent_client.get(PANEL, {"title": "x" * 300, "service": 999999}).content.decode()
    assert "Type a title" in html  # a title too long is not searched, and nothing fails


def test_the_panel_is_for_the_desk(client, requester, desk_team):
    client.force_login(requester)
    assert client.get(PANEL, {"title": "Outlook"}).status_code == 403


def test_the_form_logs_the_incident_as_a_child_of_the_chosen_one(agent_client, log,
                                                                 requester):
    parent = log("Outlook crashing at startup")
    response = agent_client.post(CREATE, {
        "requester": requester.pk, "title": "Outlook crashes on start", "channel": "phone",
        "impact": 3, "urgency": 3, "parent": parent.pk})
    child = Incident.objects.get(title="Outlook crashes on start")
    assert response.status_code == 302 and child.parent == parent
    page = agent_client.get(response.url).content.decode()
    assert f"logged as a child of {parent.number}" in page
    assert "Parent incident" in page and parent.number in page


@pytest.mark.parametrize("bad", ["closed", "unknown"])
def test_the_form_refuses_a_bad_parent_at_the_field_and_creates_nothing(
        agent_client, log, agent, requester, bad):
    parent = log("Outlook crashing at startup")
    if bad == "closed":
        close(agent, parent, "cancelled")
    before = Incident.objects.count()
    response = agent_client.post(CREATE, {
        "requester": requester.pk, "title": "Outlook crashes on start", "channel": "phone",
        "impact": 3, "urgency": 3, "parent": parent.pk if bad == "closed" else 999999})
    html = response.content.decode()
    assert response.status_code == 400 and 'id="id_parent_error_1"' in html
    assert ("is no longer open" in html) if bad == "closed" else ("valid choice" in html)
    assert Incident.objects.count() == before


# --- Desk: the detail page's box ------------------------------------------------------

def test_the_detail_page_suggests_similar_open_incidents_and_links(agent_client, log, agent):
    incident = log("Outlook crashing at startup")
    own_child = log("Outlook crashing at startup, me too")
    services.incident_link_parent(actor=agent, incident=own_child, parent=incident)
    other = log("Outlook crashes on start")
    detail = reverse("incidents:detail", kwargs={"key": incident.number})
    assert reverse("incidents:similar_to", kwargs={"key": incident.number}) in \
        agent_client.get(detail).content.decode()
    box = agent_client.get(reverse("incidents:similar_to", kwargs={"key": other.number}),
                           headers={"HX-Request": "true"}).content.decode()
    assert incident.number in box and f"Make this a child of {incident.number}" in box
    assert own_child.number not in box  # children are represented by their parent
    # its own box leaves out itself and its children, and offers no link (it has children)
    box = agent_client.get(reverse("incidents:similar_to", kwargs={"key": incident.number}),
                           headers={"HX-Request": "true"}).content.decode()
    assert other.number in box and own_child.number not in box
    assert "Make this a child" not in box and "children of its own" in box
    # without JavaScript the same address is a full page
    page = agent_client.get(reverse("incidents:similar_to", kwargs={"key": other.number}))
    assert "<html" in page.content.decode() and incident.number in page.content.decode()
    response = agent_client.post(reverse("incidents:link_parent", kwargs={"key": other.number}),
                                 {"parent": incident.number}, follow=True)
    other.refresh_from_db()
    assert other.parent == incident
    assert f"{other.number} is now a child of {incident.number}" in \
        response.content.decode()
    box = agent_client.get(reverse("incidents:similar_to", kwargs={"key": other.number}),
                           headers={"HX-Request": "true"}).content.decode()
    assert f"Already a child of {incident.number}" in box and "Make this" not in box


def test_making_a_child_of_a_refused_parent_says_why_and_changes_nothing(agent_client, log,
                                                                        agent):
    closed = log("Outlook crashing at startup")
    close(agent, closed, "cancelled")
    incident = log("Outlook crashes on start")
    url = reverse("incidents:link_parent", kwargs={"key": incident.number})
    response = agent_client.post(url, {"parent": closed.number}, follow=True)
    assert "is no longer open" in response.content.decode()
    response = agent_client.post(url, {"parent": "nonsense"}, follow=True)
    assert "There is no incident nonsense" in response.content.decode()
    incident.refresh_from_db()
    assert incident.parent is None


# --- Portal: "Is this already known?" -------------------------------------------------

def test_the_portal_suggests_only_your_own_and_major_incidents(client, log, requester,
                                                               service):
    someone = UserFactory(roles=["requester"])
    mine = log("Outlook crashing at startup", caller=requester)
    theirs = log("Outlook crashing at startup for me too", caller=someone)
    major = log("Email service outage", caller=someone, service=service,
                age=datetime.timedelta(days=1))
    unrelated_major = log("Payroll system down", caller=someone)
    Incident.objects.filter(pk__in=[major.pk, unrelated_major.pk]).update(is_major=True)
    client.force_login(requester)
    html = client.get(KNOWN, {"title": "Outlook crashes on start",
                              "service": service.pk}).content.decode()
    assert "Is this already known?" in html
    assert "Outlook crashing at startup" in html and "You reported this on" in html
    assert reverse("portal:incident_detail", kwargs={"pk": mine.pk}) in html
    assert theirs.title not in html and theirs.number not in html  # privacy
    assert major.title in html and "ongoing major incident on Email" in html
    assert unrelated_major.title not in html
    assert someone.username not in html  # nobody else's name either


def test_the_portal_panel_is_empty_when_nothing_is_known(client, log, requester):
    log("Outlook crashing at startup", caller=UserFactory(roles=["requester"]))
    client.force_login(requester)
    html = client.get(KNOWN, {"title": "Outlook crashes on start"}).content.decode()
    assert html.strip() == ""
    assert client.get(KNOWN, {"title": ""}).content.decode().strip() == ""


def test_the_portal_panel_needs_a_sign_in(client):
    response = client.get(KNOWN, {"title": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_report_form_loads_the_panel_and_refills_it_after_an_error(client, log,
                                                                       requester):
    log("Outlook crashing at startup", caller=requester)
    client.force_login(requester)
    assert KNOWN in client.get("/portal/incidents/report/").content.decode()
    response = client.post("/portal/incidents/report/", {
        "title": "Outlook crashes on start", "service": 999999})
    assert response.status_code == 400 and "You reported this on" in \
        response.content.decode()


# --- API ------------------------------------------------------------------------------

def test_the_api_returns_the_ranked_list(api, agent, log, service):
    match = log("Outlook crashing at startup", service=service)
    log("Printer jam on floor 3")
    api.force_authenticate(agent)
    response = api.get(SIMILAR_API, {"title": "Outlook crashes on start",
                                     "service": service.pk})
    body = response.json()
    assert response.status_code == 200
    assert body["method"] == ("trigram" if connection.vendor == "postgresql" else "tfidf")
    [result] = body["results"]
    assert result["incident"]["id"] == match.pk and result["incident"]["number"] == \
        match.number
    assert result["incident"]["assignment_group_name"] == "Service Desk"
    assert result["reasons"][0].startswith("same service") and 0.6 < result["score"] <= 1


@pytest.mark.parametrize(("params", "field"), [
    ({}, "title"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "Outlook", "service": 999999}, "service"),
    ({"title": "Outlook", "ci": 999999}, "ci"),
    ({"title": "Outlook", "service": "abc"}, "service"),
    ({"title": "Outlook", "limit": 0}, "limit"),
])
def test_api_errors_name_the_field(api, agent, desk_team, params, field):
    api.force_authenticate(agent)
    response = api.get(SIMILAR_API, params)
    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid"
    assert list(body["fields"]) == [field]


def test_the_api_refuses_a_ci_that_is_not_a_service_as_the_service(api, agent, server,
                                                                    desk_team):
    api.force_authenticate(agent)
    response = api.get(SIMILAR_API, {"title": "Outlook", "service": server.pk})
    assert response.status_code == 400 and "service" in response.json()["fields"]


def test_the_api_is_for_the_desk(api, requester, desk_team):
    api.force_authenticate(requester)
    response = api.get(SIMILAR_API, {"title": "Outlook"})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    api.force_authenticate(None)
    assert api.get(SIMILAR_API, {"title": "Outlook"}).status_code == 401


def test_the_api_query_count_is_pinned(api, agent, log, server, service,
                                       django_assert_num_queries):
    for number in range(3):
        log(f"Outlook crashing at startup {number}", ci=server, service=service)
    api.force_authenticate(agent)
    params = {"title": "Outlook crashes", "ci": server.pk, "service": service.pk}
    api.get(SIMILAR_API, params)  # warm the permission cache
    # the service and the CI, then the four reads of similar_open_incidents
    with django_assert_num_queries(6):
        first = api.get(SIMILAR_API, params).json()["results"]
    for number in range(25):
        log(f"Outlook crashing at startup again {number}", ci=server, service=service)
    with django_assert_num_queries(6):
        second = api.get(SIMILAR_API, params).json()["results"]
    assert len(first) == 3 and len(second) == 5


def test_the_api_creates_a_child_and_refuses_a_bad_parent(api, agent, log):
    parent = log("Mail is down")
    api.force_authenticate(agent)
    created = api.post("/api/v1/incidents/", {"title": "Cannot send", "parent": parent.pk},
                       format="json")
    assert created.status_code == 201 and created.json()["parent"] == parent.pk
    assert Incident.objects.get(pk=created.json()["id"]).parent == parent
    services.incident_transition(actor=agent, incident=parent,
                                 to_state=IncidentState.CANCELLED)
    before = Incident.objects.count()
    refused = api.post("/api/v1/incidents/", {"title": "Cannot send", "parent": parent.pk},
                       format="json")
    assert refused.status_code == 400 and "parent" in refused.json()["fields"]
    assert Incident.objects.count() == before
