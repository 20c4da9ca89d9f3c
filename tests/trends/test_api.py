"""The trends API: proposals listed and read by the desk, accepted and dismissed by problem
managers, refusals with the field named."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from problems.models import Problem
from trends import services
from trends.models import Proposal, ProposalState

PROPOSALS = "/api/v1/trends/proposals/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal(cluster_on, server):
    incidents = cluster_on(4, ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    proposal.seeded = incidents
    return proposal


@pytest.fixture
def manager_api(api, problem_manager):
    api.force_authenticate(problem_manager)
    return api


@pytest.fixture
def agent_api(api, agent):
    api.force_authenticate(agent)
    return api


def test_the_desk_lists_and_reads_proposals(agent_api, proposal):
    listed = agent_api.get(PROPOSALS, {"state": "open"})
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert row["id"] == proposal.pk and row["kind"] == "ci" and row["state"] == "open"
    assert row["incident_count"] == 4
    assert sorted(i["number"] for i in row["incidents"]) == sorted(
        i.number for i in proposal.seeded)
    assert agent_api.get(PROPOSALS, {"state": "dismissed"}).json()["results"] == []
    assert agent_api.get(PROPOSALS, {"kind": "text"}).json()["results"] == []
    one = agent_api.get(f"{PROPOSALS}{proposal.pk}/").json()
    assert one["title"] == "Recurring incidents on vpn-gw-01" and one["problem"] is None


def test_the_list_reads_a_fixed_number_of_queries(agent_api, proposal, cluster_on,
                                                  other_server, service):
    agent_api.get(PROPOSALS)  # warm caches (permissions, content types)
    with CaptureQueriesContext(connection) as few:
        agent_api.get(PROPOSALS)
    cluster_on(5, ci=other_server)
    cluster_on(4, offset=3, service=service)
    services.detect()
    with CaptureQueriesContext(connection) as more:
        rows = agent_api.get(PROPOSALS).json()["results"]
    assert len(rows) == 3
    assert len(more) == len(few)


def test_the_api_is_for_the_desk(api, caller, proposal):
    assert api.get(PROPOSALS).status_code in (401, 403)
    api.force_authenticate(caller)
    assert api.get(PROPOSALS).status_code == 403


def test_accept_opens_the_problem(manager_api, proposal):
    response = manager_api.post(f"{PROPOSALS}{proposal.pk}/accept/",
                                {"title": "VPN gateway drops tunnels"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    problem = Problem.objects.get(pk=body["problem"])
    assert body["problem_number"] == problem.number
    assert body["proposal"]["state"] == "accepted"
    assert body["proposal"]["problem"] == problem.pk
    assert problem.title == "VPN gateway drops tunnels"
    assert set(problem.incidents.all()) == set(proposal.seeded)


def test_deciding_twice_is_refused_with_the_field_named(manager_api, proposal):
    assert manager_api.post(f"{PROPOSALS}{proposal.pk}/accept/", {},
                            format="json").status_code == 200
    again = manager_api.post(f"{PROPOSALS}{proposal.pk}/accept/", {}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "already_decided"
    assert again.json()["fields"] == {"state": ["This proposal was already accepted."]}
    dismissed = manager_api.post(f"{PROPOSALS}{proposal.pk}/dismiss/", {"reason": "Late."},
                                 format="json")
    assert dismissed.status_code == 400 and "state" in dismissed.json()["fields"]
    assert Problem.objects.count() == 1


def test_dismiss_needs_a_reason(manager_api, proposal):
    for data in ({}, {"reason": "  "}):
        response = manager_api.post(f"{PROPOSALS}{proposal.pk}/dismiss/", data, format="json")
        assert response.status_code == 400
        assert "reason" in response.json()["fields"]
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.OPEN
    done = manager_api.post(f"{PROPOSALS}{proposal.pk}/dismiss/",
                            {"reason": "Expected during the migration."}, format="json")
    assert done.status_code == 200
    assert done.json()["state"] == "dismissed"
    assert done.json()["dismiss_reason"] == "Expected during the migration."
    assert done.json()["dismissed_count"] == 4


def test_deciding_needs_the_permission(agent_api, proposal):
    for action, data in (("accept", {}), ("dismiss", {"reason": "No."})):
        response = agent_api.post(f"{PROPOSALS}{proposal.pk}/{action}/", data, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.OPEN and not Problem.objects.exists()


def test_the_schema_documents_the_actions(agent_api):
    schema = agent_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/trends/proposals/{id}/accept/" in schema["paths"]
    assert "/api/v1/trends/proposals/{id}/dismiss/" in schema["paths"]
