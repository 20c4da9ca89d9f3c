"""The desk's Trends page: open proposals with their incidents and why, accept (to the new
problem) and dismiss with a reason for problem managers, history tabs, permissions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from problems.models import Problem
from trends import services
from trends.models import Proposal, ProposalState

LIST = reverse("trends:list")
pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal(cluster_on, server):
    cluster_on(4, ci=server)
    services.detect()
    return Proposal.objects.get()


@pytest.fixture
def manager_client(client, problem_manager):
    client.force_login(problem_manager)
    return client


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def test_the_page_shows_open_proposals_with_their_incidents_and_why(manager_client, proposal):
    response = manager_client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Recurring incidents on vpn-gw-01" in page
    assert "4 incidents on the configuration item vpn-gw-01" in page
    for incident in proposal.incidents.all():
        assert incident.number in page
    assert reverse("trends:accept", args=[proposal.pk]) in page
    assert reverse("trends:dismiss", args=[proposal.pk]) in page
    assert 'href="/desk/trends/"' in page and "Trends" in page  # in the navigation


def test_desk_people_see_the_page_without_the_decide_buttons(agent_client, proposal):
    page = agent_client.get(LIST).content.decode()
    assert "Recurring incidents on vpn-gw-01" in page
    assert reverse("trends:accept", args=[proposal.pk]) not in page
    assert "Problem managers accept or dismiss them." in page


def test_the_page_is_for_the_desk(client, caller, proposal):
    assert client.get(LIST).status_code == 302  # to sign in
    client.force_login(caller)
    assert client.get(LIST).status_code == 403
    assert client.get(reverse("trends:detail", args=[proposal.pk])).status_code == 403


def test_deciding_needs_the_permission(agent_client, proposal):
    assert agent_client.post(reverse("trends:accept", args=[proposal.pk])).status_code == 403
    assert agent_client.post(reverse("trends:dismiss", args=[proposal.pk]),
                             {"reason": "No."}).status_code == 403
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.OPEN


def test_accept_lands_on_the_new_problem(manager_client, proposal):
    response = manager_client.post(reverse("trends:accept", args=[proposal.pk]),
                                   {"title": ""})
    problem = Problem.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("problems:detail", args=[problem.number])
    assert problem.title == "Recurring incidents on vpn-gw-01"
    assert set(problem.incidents.all()) == set(proposal.incidents.all())
    accepted = manager_client.get(LIST, {"state": "accepted"}).content.decode()
    assert problem.number in accepted and "Accepted by" in accepted


def test_dismiss_needs_a_reason_and_says_so_at_the_field(manager_client, proposal):
    response = manager_client.post(reverse("trends:dismiss", args=[proposal.pk]),
                                   {"reason": ""})
    assert response.status_code == 400
    assert "Say why the proposal is dismissed." in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.OPEN

    response = manager_client.post(reverse("trends:dismiss", args=[proposal.pk]),
                                   {"reason": "Expected during the migration."})
    assert response.status_code == 302 and response["Location"] == LIST
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DISMISSED
    assert "Recurring incidents on vpn-gw-01" not in manager_client.get(LIST).content.decode()
    history = manager_client.get(LIST, {"state": "dismissed"}).content.decode()
    assert "Expected during the migration." in history


def test_deciding_twice_says_why(manager_client, proposal, problem_manager):
    services.proposal_dismiss(actor=problem_manager, proposal=proposal, reason="Noise.")
    response = manager_client.post(reverse("trends:accept", args=[proposal.pk]))
    assert response.status_code == 400
    assert "This proposal was already dismissed." in response.content.decode()
    assert not Problem.objects.exists()


def test_the_proposal_page_shows_its_history(manager_client, proposal, problem_manager):
    services.proposal_dismiss(actor=problem_manager, proposal=proposal, reason="Noise.")
    page = manager_client.get(reverse("trends:detail", args=[proposal.pk])).content.decode()
    assert "Proposed: Recurring incidents on vpn-gw-01" in page
    assert "Dismissed at 4 incidents" in page


def test_a_reopened_proposal_says_it_grew(manager_client, proposal, problem_manager, log,
                                          server):
    services.proposal_dismiss(actor=problem_manager, proposal=proposal, reason="Noise.")
    log("Again", ci=server)
    services.detect()
    page = manager_client.get(LIST).content.decode()
    assert "Grew from 4 to 5 incidents since it was dismissed." in page
    assert "Noise." in page


def test_the_page_reads_a_fixed_number_of_queries(manager_client, proposal, cluster_on,
                                                  other_server, service):
    manager_client.get(LIST)
    with CaptureQueriesContext(connection) as few:
        manager_client.get(LIST)
    cluster_on(5, ci=other_server)
    cluster_on(4, offset=3, service=service)
    services.detect()
    with CaptureQueriesContext(connection) as more:
        page = manager_client.get(LIST).content.decode()
    assert page.count('class="card proposal"') == 3
    assert len(more) == len(few)
