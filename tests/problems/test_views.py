import pytest
from django.urls import reverse

from incidents import services as incident_services
from problems import services
from problems.models import Problem, ProblemIncident

from .conftest import analysed

LIST = reverse("problems:list")


@pytest.fixture
def pm_client(client, problem_manager):
    client.force_login(problem_manager)
    return client


def detail(problem):
    return reverse("problems:detail", kwargs={"key": problem.number})


def test_the_list_filters_by_state_known_error_and_text(pm_client, problem_manager):
    first = services.problem_create(actor=problem_manager, title="Printers drop jobs",
                                    workaround="Resend", known_error=True)
    second = services.problem_create(actor=problem_manager, title="VPN drops")
    services.problem_transition(actor=problem_manager, problem=second, to_state="assess")
    response = pm_client.get(LIST)
    assert response.status_code == 200
    assert first.number in response.text and second.number in response.text
    response = pm_client.get(LIST, {"known_error": "true"})
    assert first.number in response.text and second.number not in response.text
    response = pm_client.get(LIST, {"state": "assess"})
    assert first.number not in response.text and second.number in response.text
    response = pm_client.get(LIST, {"q": "printers"}, HTTP_HX_REQUEST="true")
    assert first.number in response.text and second.number not in response.text
    assert "<html" not in response.text
    assert pm_client.get(LIST, {"after": "garbage"}).status_code == 400


def test_desk_agents_see_problems_but_not_the_create_form(client, agent, problem):
    client.force_login(agent)
    assert client.get(LIST).status_code == 200
    assert client.get(detail(problem)).status_code == 200
    assert client.get(reverse("problems:create")).status_code == 403


def test_create_from_an_incident(pm_client, make_incident):
    incident = make_incident(title="Payroll export times out")
    response = pm_client.get(reverse("problems:create"), {"incident": incident.pk})
    assert "Payroll export times out" in response.text and incident.number in response.text
    response = pm_client.post(reverse("problems:create"), {
        "title": "Payroll export times out", "requester": "pm",
        "incidents": [f"{incident.number} {incident.title}"]})
    assert response.status_code == 302, response.text
    problem = Problem.objects.get()
    assert list(problem.incidents.all()) == [incident]


def test_detail_shows_the_sections(pm_client, problem, make_incident, server):
    incident = make_incident(ci=server)
    services.problem_link_incident(actor=None, problem=problem, incident=incident)
    response = pm_client.get(detail(problem))
    assert response.status_code == 200
    for text in ("Root cause analysis", "Five whys", "Linked incidents", incident.number,
                 "Incident timeline and patterns", "vpn-gw-01", "Leeds", "Permanent fix",
                 "Publish as a known error"):
        assert text in response.text


def test_link_and_unlink_through_the_page(client, agent, problem, make_incident):
    client.force_login(agent)
    incident = make_incident()
    url = reverse("problems:link", kwargs={"key": problem.number})
    response = client.post(url, {"incident": f"{incident.number} {incident.title}"})
    assert response.status_code == 302
    assert ProblemIncident.objects.filter(problem=problem, incident=incident).exists()
    response = client.post(url, {"incident": incident.number})
    assert response.status_code == 400 and "Already linked" in response.text
    response = client.post(reverse("problems:unlink", kwargs={
        "key": problem.number, "incident": incident.number}))
    assert response.status_code == 302 and not ProblemIncident.objects.exists()


def test_resolve_dialog_resolves_the_incidents(pm_client, problem_manager, problem,
                                               make_incident):
    incidents = [make_incident(), make_incident(title="Second")]
    for incident in incidents:
        services.problem_link_incident(actor=problem_manager, problem=problem,
                                       incident=incident)
    analysed(problem, problem_manager)
    response = pm_client.get(detail(problem))
    assert "Also resolve 2 open linked incidents" in response.text
    url = reverse("problems:resolve", kwargs={"key": problem.number})
    response = pm_client.post(url, {"resolution": "", "resolve_incidents": "on"})
    assert response.status_code == 400
    response = pm_client.post(url, {"resolution": "Gateways patched", "resolve_incidents": "on",
                                    "note_to_callers": "Fixed for good."}, follow=True)
    assert "2 linked incident(s) resolved" in response.text
    problem.refresh_from_db()
    assert problem.state == "resolved"
    assert all(i.state == "resolved" for i in Problem.objects.get().incidents.all())


def test_a_guard_refusal_names_the_field(pm_client, problem_manager, problem):
    services.problem_transition(actor=problem_manager, problem=problem, to_state="rca")
    response = pm_client.post(reverse("problems:transition", kwargs={"key": problem.number}),
                              {"to_state": "closed"})
    assert response.status_code == 400 and "Root cause" in response.text


def test_five_whys_and_known_error_on_the_page(pm_client, problem):
    url = reverse("problems:five_whys", kwargs={"key": problem.number})
    response = pm_client.post(url, {"why_0": "Why did it drop?", "answer_0": "Rekey failed"})
    assert response.status_code == 302
    problem.refresh_from_db()
    assert problem.five_whys == [{"why": "Why did it drop?", "answer": "Rekey failed"}]
    url = reverse("problems:known_error", kwargs={"key": problem.number})
    response = pm_client.post(url, {"known_error": "1"})
    assert response.status_code == 400 and "workaround" in response.text.lower()
    services.problem_update(actor=None, problem=problem, workaround="Reconnect")
    assert pm_client.post(url, {"known_error": "1"}).status_code == 302
    problem.refresh_from_db()
    assert problem.known_error


def test_edit_sets_the_fix_change(pm_client, problem_manager, problem):
    from changes import services as change_services

    change = change_services.change_create(actor=problem_manager, title="Patch the gateways")
    url = reverse("problems:edit", kwargs={"key": problem.number})
    assert pm_client.get(url).status_code == 200
    response = pm_client.post(url, {"title": problem.title, "priority": "2",
                                    "root_cause": "Firmware bug",
                                    "fix_change": change.number})
    assert response.status_code == 302, response.text
    problem.refresh_from_db()
    assert problem.fix_change == change and problem.priority == 2
    assert problem.root_cause == "Firmware bug"


def test_the_incident_page_shows_its_problems(client, agent, problem, make_incident):
    client.force_login(agent)
    incident = make_incident()
    page = reverse("incidents:detail", kwargs={"key": incident.number})
    assert "Not linked to a problem" in client.get(page).text
    response = client.post(reverse("problems:incident_link",
                                   kwargs={"incident": incident.number}),
                           {"problem": problem.number})
    assert response.status_code == 302
    text = client.get(page).text
    assert problem.number in text
    assert "Create problem from this incident" not in text  # agents do not create


def test_change_lookup(pm_client, problem_manager):
    from changes import services as change_services

    change = change_services.change_create(actor=problem_manager, title="Patch the gateways")
    response = pm_client.get(reverse("problems:change_lookup"), {"q": "gateways"})
    assert change.number in response.text


def test_incident_resolved_state_unchanged_by_view_errors(pm_client, problem, make_incident):
    incident = make_incident()
    incident_services.incident_transition(actor=None, incident=incident, to_state="cancelled")
    response = pm_client.post(reverse("problems:link", kwargs={"key": problem.number}),
                              {"incident": "INC9999999"})
    assert response.status_code == 400


def test_the_list_filters_by_assignee_and_group_and_offers_saved_views(pm_client,
                                                                       problem_manager):
    from tests.factories import MembershipFactory, TeamFactory

    team = TeamFactory(name="Problem team")
    MembershipFactory(team=team, user=problem_manager)
    mine = services.problem_create(actor=problem_manager, title="Mine", assignment_group=team,
                                   assignee=problem_manager)
    other = services.problem_create(actor=problem_manager, title="Nobody's")
    response = pm_client.get(LIST, {"assignee": problem_manager.pk})
    assert mine.number in response.text and other.number not in response.text
    response = pm_client.get(LIST, {"assignment_group": team.pk})
    assert mine.number in response.text and other.number not in response.text
    response = pm_client.get(LIST, {"queue": "mine"})
    assert mine.number in response.text and other.number not in response.text
    assert "Saved views" in pm_client.get(LIST).text


def test_problem_lookup_for_the_incident_picker(client, agent, problem):
    client.force_login(agent)
    response = client.get(reverse("problems:lookup"), {"q": "tunnels"})
    assert problem.number in response.text
    response = client.get(reverse("problems:lookup"), {"q": problem.number[:6]})
    assert problem.number in response.text


def test_linking_from_the_incident_page_names_a_wrong_problem(client, agent, make_incident):
    client.force_login(agent)
    incident = make_incident()
    response = client.post(reverse("problems:incident_link",
                                   kwargs={"incident": incident.number}),
                           {"problem": "PRB9999999"}, follow=True)
    assert "There is no problem PRB9999999" in response.text


def test_page_queries_do_not_grow_with_the_incidents(pm_client, problem_manager, problem,
                                                     make_incident, server):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(url):
        pm_client.get(url)  # warm the caches
        with CaptureQueriesContext(connection) as captured:
            assert pm_client.get(url).status_code == 200
        return len(captured)

    services.problem_link_incident(actor=problem_manager, problem=problem,
                                   incident=make_incident(ci=server))
    few_detail, few_list = count(detail(problem)), count(LIST)
    for number in range(6):
        incident = make_incident(title=f"VPN drop {number}", ci=server)
        services.problem_link_incident(actor=problem_manager, problem=problem,
                                       incident=incident)
        services.problem_create(actor=problem_manager, title=f"Other {number}",
                                assignee=None)
    assert count(detail(problem)) <= few_detail + 2  # people named in the new activity
    assert count(LIST) == few_list
