"""The known error database: suggestions while an incident is logged (the same CI and
similar text first, unrelated ones left out, open before resolved, closed never), the
search, odd input, the desk pages (list, the new-incident panel and "link after
creation", the incident page's box) and the API.

Everything here holds on SQLite (TF-IDF) and on PostgreSQL (trigrams)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmdb.models import Relationship
from incidents.models import Category, Incident
from problems import kedb
from problems import services as problem_services
from problems.models import Problem, ProblemIncident
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tickets.models import Activity, ActivityKind


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def categories(db):
    network = Category.objects.create(name="Network")
    return {"network": network, "vpn": Category.objects.create(name="VPN", parent=network),
            "hardware": Category.objects.create(name="Hardware")}


@pytest.fixture
def remote_access(db):
    return CIFactory(name="Remote access", ci_class=ci_class("business_service"))


@pytest.fixture
def gateway(db):
    return CIFactory(name="vpn-gw-01", ci_class=ci_class("server"))


@pytest.fixture
def printer(db):
    return CIFactory(name="printer-3", ci_class=ci_class("workstation"))


@pytest.fixture
def publish(problem_manager):
    def make(title, *, workaround="Reconnect the client.", state=None, **fields):
        problem = problem_services.problem_create(
            actor=problem_manager, title=title, workaround=workaround, known_error=True,
            **fields)
        if state:
            Problem.objects.filter(pk=problem.pk).update(state=state)
            problem.refresh_from_db()
        return problem
    return make


@pytest.fixture
def kedb_data(publish, problem_manager, categories, remote_access, gateway, printer):
    return {
        "hourly": publish("VPN tunnel drops every hour on the hour", cis=[gateway],
                          services=[remote_access], category=categories["vpn"],
                          workaround="Reconnect before the hour; the rekey keeps it up."),
        "client": publish("VPN client fails to start after the update",
                          services=[remote_access], workaround="Reinstall client 5.2."),
        "printer": publish("Printer jams on floor 3", cis=[printer],
                           category=categories["hardware"], workaround="Use tray 2."),
        "old": publish("VPN tunnel drops hourly with the old firmware", cis=[gateway],
                       state="resolved", workaround="Reconnect."),
        "closed": publish("VPN tunnel drops every hour", cis=[gateway], state="closed"),
        "not_published": problem_services.problem_create(
            actor=problem_manager, title="VPN tunnel drops every hour", cis=[gateway]),
    }


def numbers(suggestions):
    return [s.problem.number for s in suggestions]


# --- Suggestions ----------------------------------------------------------------------

def test_the_same_ci_with_similar_text_comes_first_and_unrelated_ones_are_left_out(
        kedb_data, gateway):
    found = kedb.known_error_suggestions(title="VPN tunnel keeps dropping every hour",
                                         ci=gateway)
    first = found[0]
    assert first.problem == kedb_data["hourly"]
    assert "same CI" in first.reasons and "similar text" in first.reasons
    assert first.score > 0.7 and first.is_open
    got = numbers(found)
    assert kedb_data["printer"].number not in got
    assert kedb_data["closed"].number not in got  # a closed problem is over
    assert kedb_data["not_published"].number not in got  # not a known error
    # The resolved one matches as well, after every open one.
    assert got[-1] == kedb_data["old"].number and not found[-1].is_open


def test_text_alone_finds_a_known_error_and_context_alone_too(kedb_data, remote_access,
                                                              gateway):
    by_text = kedb.known_error_suggestions(title="Printer jams on floor 3 again")
    assert numbers(by_text)[0] == kedb_data["printer"].number
    assert by_text[0].reasons == ("similar text",)
    by_service = kedb.known_error_suggestions(title="Cannot work from home",
                                              service=remote_access)
    assert set(numbers(by_service)[:2]) == {kedb_data["hourly"].number,
                                            kedb_data["client"].number}
    assert all("same service" in s.reasons for s in by_service[:2])


def test_a_ci_one_relationship_away_and_the_category_count_as_context(
        kedb_data, gateway, categories):
    laptop = CIFactory(name="lap-0042", ci_class=ci_class("workstation"))
    Relationship.objects.create(source=laptop, target=gateway, type=rel_type("depends_on"))
    found = kedb.known_error_suggestions(title="Tunnel gone", ci=laptop)
    assert numbers(found)[0] == kedb_data["hourly"].number
    assert "related CI" in found[0].reasons
    # The parent category meets its child's known errors; alone it is too weak.
    with_text = kedb.known_error_suggestions(title="VPN drops", category=categories["network"])
    assert "same category" in with_text[0].reasons
    assert kedb.known_error_suggestions(title="Something else entirely",
                                        category=categories["network"]) == []


def test_unrelated_incidents_get_no_suggestion(kedb_data):
    assert kedb.known_error_suggestions(title="Outlook search index is broken") == []


@pytest.mark.parametrize("title", ["", "   ", "%_\\'\" ;-- <script>", "\x00\x00",
                                   "ü" * 5000, "🙂 VPN 🙂", "a"])
def test_odd_or_empty_text_never_fails(kedb_data, title, gateway):
    kedb.known_error_suggestions(title=title, description=title)
    kedb.known_error_suggestions(title=title, ci="not-an-id", service=-4, category="x")
    kedb.known_errors_search(title)
    kedb.known_errors_search(title, ci=gateway, category="x")


def test_nothing_to_go_on_suggests_nothing(kedb_data):
    assert kedb.known_error_suggestions(title="") == []


def test_an_incident_already_linked_is_not_offered_the_same_known_error(
        kedb_data, gateway, make_incident, agent):
    incident = make_incident(title="VPN tunnel drops every hour", ci=gateway)
    kedb.known_error_link(actor=agent, incident=incident, known_error=kedb_data["hourly"])
    found = kedb.known_error_suggestions(title=incident.title, ci=gateway, exclude=incident)
    assert kedb_data["hourly"].number not in numbers(found)


# --- Search ---------------------------------------------------------------------------

def test_search_by_words_ci_service_and_category(kedb_data, gateway, remote_access,
                                                 categories):
    vpn = numbers(kedb.known_errors_search("vpn"))
    assert set(vpn) == {kedb_data[k].number for k in ("hourly", "client", "old")}
    assert vpn[-1] == kedb_data["old"].number  # resolved after the open ones
    words = kedb.known_errors_search("tray 2")  # the workaround's words count too
    assert numbers(words) == [kedb_data["printer"].number]
    assert "contains the words searched" in words[0].reasons
    assert numbers(kedb.known_errors_search(ci=gateway)) == [
        kedb_data["hourly"].number, kedb_data["old"].number]
    assert set(numbers(kedb.known_errors_search(service=remote_access))) == {
        kedb_data["hourly"].number, kedb_data["client"].number}
    assert numbers(kedb.known_errors_search(category=categories["network"])) == [
        kedb_data["hourly"].number]
    assert kedb_data["closed"].number in numbers(
        kedb.known_errors_search(ci=gateway, include_closed=True))
    assert kedb.known_errors_search("printer", ci=gateway) == []
    everything = numbers(kedb.known_errors_search())
    assert kedb_data["not_published"].number not in everything
    assert kedb_data["closed"].number not in everything and len(everything) == 4


def test_search_forgives_a_typo(kedb_data):
    assert numbers(kedb.known_errors_search("printer jamming"))[0] == \
        kedb_data["printer"].number


def test_a_known_error_found_through_an_incident_linked_to_it(kedb_data, make_incident,
                                                              agent):
    laptop = CIFactory(name="lap-0099", ci_class=ci_class("workstation"))
    incident = make_incident(title="Client will not start", ci=laptop)
    kedb.known_error_link(actor=agent, incident=incident, known_error=kedb_data["client"])
    assert numbers(kedb.known_errors_search(ci=laptop)) == [kedb_data["client"].number]
    found = kedb.known_error_suggestions(title="Something", ci=laptop)
    assert numbers(found) == [kedb_data["client"].number] and "same CI" in found[0].reasons


# --- The desk -------------------------------------------------------------------------

LIST = reverse("problems:known_errors")
SUGGEST = reverse("problems:known_error_suggest")
CREATE = reverse("incidents:create")


def test_the_known_errors_page_searches_and_shows_workarounds(agent_client, kedb_data,
                                                              gateway):
    page = agent_client.get(LIST)
    html = page.content.decode()
    assert page.status_code == 200 and 'aria-current="page"' in html
    assert kedb_data["hourly"].number in html and "Reconnect before the hour" in html
    assert kedb_data["closed"].number not in html
    found = agent_client.get(LIST, {"q": "printer", "ci": "", "service": "", "category": ""})
    html = found.content.decode()
    assert kedb_data["printer"].number in html and "Use tray 2." in html
    assert kedb_data["hourly"].number not in html
    partial = agent_client.get(LIST, {"ci": gateway.pk}, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "<html" not in html and kedb_data["hourly"].number in html
    assert kedb_data["client"].number not in html
    for odd in ("%", "\x00", "'; drop table problems_problem; --", "ü" * 300):
        assert agent_client.get(LIST, {"q": odd, "ci": "zzz"}).status_code == 200


def test_the_requester_cannot_read_the_known_errors(client, requester, kedb_data):
    client.force_login(requester)
    assert client.get(LIST).status_code == 403
    assert client.get(SUGGEST, {"title": "VPN"}).status_code == 403


def test_the_new_incident_form_suggests_known_errors_as_the_agent_types(
        agent_client, kedb_data, gateway):
    form = agent_client.get(CREATE).content.decode()
    assert "Known errors that may match" in form and SUGGEST in form
    panel = agent_client.get(SUGGEST, {"title": "VPN tunnel drops every hour",
                                       "ci": gateway.pk}).content.decode()
    assert panel.index(kedb_data["hourly"].number) < panel.index(kedb_data["old"].number)
    assert "same CI" in panel and "Reconnect before the hour" in panel
    assert f'name="known_error" value="{kedb_data["hourly"].pk}"' in panel
    # The choice stays on screen while the words change.
    kept = agent_client.get(SUGGEST, {"title": "zzz", "known_error": kedb_data["hourly"].pk})
    assert f'value="{kedb_data["hourly"].pk}" checked' in kept.content.decode()
    assert "Type a title" in agent_client.get(SUGGEST).content.decode()


def test_logging_an_incident_with_a_known_error_chosen_links_it_and_applies_the_workaround(
        agent_client, kedb_data, gateway, requester, desk_team):
    response = agent_client.post(CREATE, {
        "requester": requester.pk, "title": "VPN drops on the hour", "channel": "phone",
        "impact": 3, "urgency": 3, "ci": gateway.pk, "known_error": kedb_data["hourly"].pk})
    assert response.status_code == 302, response.content.decode()[:3000]
    incident = Incident.objects.get(title="VPN drops on the hour")
    assert ProblemIncident.objects.filter(problem=kedb_data["hourly"],
                                          incident=incident).exists()
    told = Activity.objects.filter(content_type__model="incident", object_id=incident.pk,
                                   public=True, kind=ActivityKind.COMMENT).last()
    assert "Reconnect before the hour" in told.body
    page = agent_client.get(response.url).content.decode()
    assert f"Linked to known error {kedb_data['hourly'].number}" in page


@pytest.mark.parametrize("choice", ["closed", "not_published", "missing"])
def test_a_known_error_that_cannot_be_linked_logs_nothing(
        agent_client, kedb_data, requester, desk_team, choice):
    value = kedb_data[choice].pk if choice in kedb_data else 999999
    response = agent_client.post(CREATE, {
        "requester": requester.pk, "title": "VPN drops on the hour", "channel": "phone",
        "impact": 3, "urgency": 3, "known_error": value})
    assert response.status_code == 400
    assert not Incident.objects.filter(title="VPN drops on the hour").exists()
    html = response.content.decode()
    assert "closed" in html if choice == "closed" else "Choose a published known error" in html


def test_the_incident_page_offers_matching_known_errors_and_links_one(
        agent_client, kedb_data, gateway, make_incident):
    incident = make_incident(title="VPN tunnel drops every hour", ci=gateway)
    page = agent_client.get(reverse("incidents:detail", args=[incident.number]))
    box_url = reverse("problems:incident_known_errors", args=[incident.number])
    assert box_url in page.content.decode()
    box = agent_client.get(box_url, HTTP_HX_REQUEST="true").content.decode()
    assert kedb_data["hourly"].number in box and "Link to this known error" in box
    link = reverse("problems:known_error_link", args=[kedb_data["hourly"].pk])
    response = agent_client.post(link, {"incident": incident.number})
    assert response.status_code == 302
    assert ProblemIncident.objects.filter(problem=kedb_data["hourly"],
                                          incident=incident).exists()
    box = agent_client.get(box_url).content.decode()
    assert "Linked" in box and "Reconnect before the hour" in box
    again = agent_client.post(link, {"incident": incident.number}, follow=True)
    assert "already linked" in again.content.decode()


# --- The API ----------------------------------------------------------------------------

API = "/api/v1/problems/known-errors/"


def test_the_api_searches_and_suggests_known_errors(agent_client, kedb_data, gateway,
                                                    remote_access, make_incident):
    body = agent_client.get(API, {"q": "vpn"}).json()
    assert body["method"] in ("trigram", "tfidf")
    got = [row["known_error"]["number"] for row in body["results"]]
    assert set(got) == {kedb_data[k].number for k in ("hourly", "client", "old")}
    assert got[-1] == kedb_data["old"].number and body["results"][-1]["is_open"] is False
    first = body["results"][0]["known_error"]
    assert first["workaround"] and first["state_label"]
    narrowed = agent_client.get(API, {"service": remote_access.pk, "limit": 1}).json()
    assert len(narrowed["results"]) == 1
    suggested = agent_client.get(API + "suggestions/", {
        "title": "VPN tunnel keeps dropping every hour", "ci": gateway.pk}).json()
    top = suggested["results"][0]
    assert top["known_error"]["number"] == kedb_data["hourly"].number
    assert "same CI" in top["reasons"] and top["score"] > 0.7
    incident = make_incident(title="VPN tunnel drops", ci=gateway)
    kedb.known_error_link(actor=None, incident=incident, known_error=kedb_data["hourly"])
    without = agent_client.get(API + "suggestions/", {
        "title": "VPN tunnel drops", "ci": gateway.pk, "incident": incident.pk}).json()
    assert kedb_data["hourly"].number not in [r["known_error"]["number"]
                                              for r in without["results"]]


@pytest.mark.parametrize("params", [{"q": "\x00"}, {"q": "%_'\";--"}, {"ci": "abc"},
                                    {"ci": 999999}, {"limit": 0}, {"q": "x" * 300},
                                    {"category": "x"}])
def test_the_api_refuses_or_answers_odd_input_without_failing(agent_client, kedb_data,
                                                              params):
    for url in (API, API + "suggestions/"):
        query = dict(params)
        if url.endswith("suggestions/") and "q" in query:
            query["title"] = query.pop("q")
        response = agent_client.get(url, query)
        assert response.status_code in (200, 400)
        if response.status_code == 400:
            assert response.json()["code"] and response.json()["fields"]


def test_the_api_is_for_the_desk(client, requester, kedb_data):
    client.force_login(requester)
    assert client.get(API).status_code == 403
    assert client.get(API + "suggestions/", {"title": "VPN"}).status_code == 403


def test_the_known_error_endpoints_are_in_the_schema(agent_client):
    schema = agent_client.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/problems/known-errors/" in schema["paths"]
    assert "/api/v1/problems/known-errors/suggestions/" in schema["paths"]
    run_request = schema["components"]["schemas"]["RunAuthorityRequest"]
    assert "problem" in run_request["properties"]


def test_suggestions_and_search_read_a_bounded_number_of_queries(kedb_data, publish, gateway,
                                                                 remote_access, categories):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as captured:
            kedb.known_error_suggestions(title="VPN tunnel drops", description="Every hour",
                                         ci=gateway, service=remote_access,
                                         category=categories["vpn"])
            kedb.known_errors_search("vpn", ci=gateway, category=categories["network"])
        return len(captured)

    few = count()
    for number in range(8):
        publish(f"VPN tunnel drops variant {number}", cis=[gateway],
                services=[remote_access], category=categories["vpn"])
    assert count() == few
