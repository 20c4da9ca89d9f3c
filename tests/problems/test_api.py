"""The problem API: create, filter, update, moves, links, known error, resolve."""

import pytest

from incidents.models import Incident
from problems.models import Problem

from .conftest import analysed

URL = "/api/v1/problems/"


@pytest.fixture
def api(client, problem_manager):
    client.force_login(problem_manager)
    return client


def post(api, url, data):
    return api.post(url, data, content_type="application/json")


def test_create_with_incidents_and_read_it_back(api, make_incident, service, server):
    incident = make_incident()
    response = post(api, URL, {
        "title": "VPN drops hourly", "services": [service.pk], "cis": [server.pk],
        "incidents": [incident.pk], "cause_category": "configuration",
        "five_whys": [{"why": "Why?", "answer": "Because."}]})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"].startswith("PRB") and body["state"] == "new"
    assert body["incidents"][0]["number"] == incident.number
    assert body["services"] == [service.pk] and body["cis"] == [server.pk]
    assert body["five_whys"] == [{"why": "Why?", "answer": "Because."}]
    assert {"to_state": "assess", "label": "Assess"} in body["transitions"]
    assert api.get(f"{URL}{body['id']}/").json()["number"] == body["number"]


def test_bad_input_names_the_field(api, server):
    response = post(api, URL, {"title": "x", "services": [server.pk]})
    assert response.status_code == 400 and "services" in response.json()["fields"]
    response = post(api, URL, {"title": "x", "cause_category": "gremlins"})
    assert response.status_code == 400 and "cause_category" in response.json()["fields"]
    assert not Problem.objects.exists()


def test_list_filters(api, problem_manager, problem):
    other = post(api, URL, {"title": "Printers", "workaround": "Resend",
                            "known_error": True}).json()
    numbers = [row["number"] for row in api.get(URL, {"known_error": "true"}).json()["results"]]
    assert numbers == [other["number"]]
    numbers = [row["number"] for row in api.get(URL, {"q": "VPN"}).json()["results"]]
    assert numbers == [problem.number]
    numbers = [row["number"] for row in api.get(URL, {"state": "new"}).json()["results"]]
    assert set(numbers) == {problem.number, other["number"]}


def test_update_and_guards(api, problem):
    url = f"{URL}{problem.pk}/"
    response = api.patch(url, {"root_cause": "Timer mismatch"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["root_cause"] == "Timer mismatch"
    response = post(api, f"{url}transition/", {"to_state": "closed"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_transition"
    response = post(api, f"{url}transition/", {"to_state": "rca"})
    assert response.json()["state"] == "rca"
    api.patch(url, {"root_cause": ""}, content_type="application/json")
    response = post(api, f"{url}transition/", {"to_state": "closed"})
    assert response.status_code == 400 and "root_cause" in response.json()["fields"]


def test_known_error_needs_the_workaround(api, problem):
    url = f"{URL}{problem.pk}/known-error/"
    response = post(api, url, {"known_error": True})
    assert response.status_code == 400 and "workaround" in response.json()["fields"]
    api.patch(f"{URL}{problem.pk}/", {"workaround": "Reconnect"},
              content_type="application/json")
    response = post(api, url, {"known_error": True})
    assert response.status_code == 200 and response.json()["known_error"] is True


def test_link_twice_and_unlink(client, agent, problem, make_incident):
    client.force_login(agent)  # the desk links incidents
    incident = make_incident()
    url = f"{URL}{problem.pk}/incidents/"
    response = post(client, url, {"incident": incident.number})
    assert response.status_code == 201, response.json()
    response = post(client, url, {"incident": incident.number})
    assert response.status_code == 400
    assert response.json()["code"] == "already_linked"
    assert "incident" in response.json()["fields"]
    response = post(client, url, {"incident": "INC9999999"})
    assert response.status_code == 400 and "incident" in response.json()["fields"]
    response = client.delete(f"{url}{incident.number}/")
    assert response.status_code == 200 and response.json()["incidents"] == []
    response = client.delete(f"{url}{incident.number}/")
    assert response.status_code == 400 and response.json()["code"] == "not_linked"
    # Agents read and link, but do not manage.
    response = client.patch(f"{URL}{problem.pk}/", {"title": "x"},
                            content_type="application/json")
    assert response.status_code == 403


def test_resolve_with_the_incidents(api, problem_manager, problem, make_incident):
    incidents = [make_incident(), make_incident(title="Again")]
    for incident in incidents:
        post(api, f"{URL}{problem.pk}/incidents/", {"incident": incident.number})
    analysed(problem, problem_manager)
    response = post(api, f"{URL}{problem.pk}/resolve/", {
        "resolution": "Timers aligned", "resolve_incidents": True,
        "note_to_callers": "Fixed: reconnect once."})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["problem"]["state"] == "resolved"
    assert sorted(body["incidents_resolved"]) == sorted(i.number for i in incidents)
    assert body["incidents_refused"] == {}
    assert set(Incident.objects.values_list("state", flat=True)) == {"resolved"}


def test_resolve_needs_a_resolution(api, problem_manager, problem):
    analysed(problem, problem_manager)
    response = post(api, f"{URL}{problem.pk}/resolve/", {"resolution": ""})
    assert response.status_code == 400 and "resolution" in response.json()["fields"]


def test_the_schema_documents_the_problem_api(client, db):
    schema = client.get("/api/schema/?format=json").json()
    for path in ("/api/v1/problems/", "/api/v1/problems/{id}/resolve/",
                 "/api/v1/problems/{id}/incidents/", "/api/v1/problems/{id}/known-error/",
                 "/api/v1/problems/{id}/transition/"):
        assert path in schema["paths"], path
