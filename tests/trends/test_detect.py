"""Detection: clusters of recent incidents become proposals, exactly once; what was
dismissed stays dismissed unless its cluster grows; accepted clusters never come back.

Everything here holds on SQLite and on PostgreSQL (the text method is the same on both)."""

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from incidents import services as incident_services
from problems import services as problem_services
from problems.models import ProblemIncident
from trends import services
from trends.models import ClusterKind, Proposal, ProposalState, TrendSettings

from .conftest import DAYS

pytestmark = pytest.mark.django_db


def audit(proposal):
    return AuditEntry.objects.filter(content_type__model="proposal",
                                     object_id=str(proposal.pk)).order_by("id")


# --- Exactly once ---------------------------------------------------------------------

def test_a_seeded_cluster_is_proposed_exactly_once(cluster_on, server):
    incidents = cluster_on(4, ci=server)

    first = services.detect()
    second = services.detect()

    proposal = Proposal.objects.get()
    assert (proposal.kind, proposal.key) == (ClusterKind.CI, f"ci:{server.pk}")
    assert set(proposal.incidents.all()) == set(incidents)
    assert proposal.incident_count == 4 and proposal.state == ProposalState.OPEN
    assert proposal.ci == server
    assert proposal.title == "Recurring incidents on vpn-gw-01"
    assert "4 incidents on the configuration item vpn-gw-01 within 14 days" in \
        proposal.description
    assert all(incident.number in proposal.description for incident in incidents)
    assert first.created == [proposal.pk]
    assert second.created == [] and second.updated == [] and second.unchanged == [proposal.pk]
    assert [entry.action for entry in audit(proposal)] == ["create"]


def test_a_second_run_only_moves_last_seen(cluster_on, server):
    cluster_on(4, ci=server)
    services.detect()
    later = timezone.now() + datetime.timedelta(hours=1)
    services.detect(now=later)
    proposal = Proposal.objects.get()
    assert proposal.last_seen == later and proposal.first_seen < later


def test_an_open_proposal_follows_its_cluster(cluster_on, log, server):
    cluster_on(4, ci=server)
    services.detect()
    newcomer = log("Battery swollen", ci=server)

    result = services.detect()

    proposal = Proposal.objects.get()
    assert result.updated == [proposal.pk] and result.created == []
    assert proposal.incident_count == 5 and newcomer in proposal.incidents.all()
    assert audit(proposal).last().changes["incident_count"] == [4, 5]


# --- Threshold and window -------------------------------------------------------------

def test_below_the_threshold_nothing_is_proposed(cluster_on, server):
    cluster_on(3, ci=server)
    assert services.detect().created == []
    assert not Proposal.objects.exists()


def test_the_threshold_and_window_are_settings(cluster_on, server):
    TrendSettings.objects.create(threshold=3, window_days=7)
    cluster_on(3, ci=server)
    assert len(services.detect().created) == 1


def test_incidents_outside_the_window_do_not_count(log, server):
    for n in range(4):
        log(f"Old trouble {n}", ci=server, age=(15 + n) * DAYS)
    log("Recent trouble", ci=server, age=DAYS)
    assert services.detect().created == []
    assert not Proposal.objects.exists()


def test_the_window_ends_at_now(cluster_on, server):
    cluster_on(4, ci=server)  # opened 1 to 4 days ago
    assert services.detect(now=timezone.now() + 12 * DAYS).created == []  # two slid out
    assert len(services.detect().created) == 1


def test_cancelled_incidents_and_children_do_not_count(cluster_on, log, server, agent):
    incidents = cluster_on(4, ci=server)
    incident_services.incident_transition(actor=None, incident=incidents[0],
                                          to_state="cancelled")
    assert services.detect().created == []
    log("Same again", ci=server, parent=incidents[1], actor=agent)
    assert services.detect().created == []


# --- Kinds -----------------------------------------------------------------------------

def test_clusters_by_service_and_category(cluster_on, service, vpn):
    cluster_on(4, service=service)
    cluster_on(5, offset=4, category=vpn.parent, subcategory=vpn)
    services.detect()
    by_kind = {p.kind: p for p in Proposal.objects.all()}
    assert set(by_kind) == {ClusterKind.SERVICE, ClusterKind.CATEGORY}
    assert by_kind[ClusterKind.SERVICE].key == f"service:{service.pk}"
    assert by_kind[ClusterKind.SERVICE].service == service
    assert by_kind[ClusterKind.SERVICE].title == "Recurring incidents affecting Remote access"
    assert by_kind[ClusterKind.CATEGORY].key == f"category:{vpn.pk}"  # the subcategory
    assert by_kind[ClusterKind.CATEGORY].incident_count == 5
    assert by_kind[ClusterKind.CATEGORY].title == "Recurring incidents in Network › VPN"


def test_one_issue_is_proposed_once_under_its_most_precise_reason(cluster_on, server,
                                                                   service, vpn):
    cluster_on(4, ci=server, service=service, category=vpn.parent, subcategory=vpn)
    services.detect()
    assert [p.kind for p in Proposal.objects.all()] == [ClusterKind.CI]


def test_a_wider_cluster_is_proposed_beside_the_narrow_one(cluster_on, log, server,
                                                            other_server, service):
    cluster_on(4, ci=server, service=service)
    log("Database slow", ci=other_server, service=service)
    services.detect()
    assert sorted(p.kind for p in Proposal.objects.all()) == [ClusterKind.CI,
                                                             ClusterKind.SERVICE]


def test_kinds_can_be_switched_off(cluster_on, server, service):
    TrendSettings.objects.create(kinds="service,text")
    cluster_on(4, ci=server, service=service)
    services.detect()
    assert [p.kind for p in Proposal.objects.all()] == [ClusterKind.SERVICE]


# --- Dismissed --------------------------------------------------------------------------

def test_a_dismissed_proposal_is_not_proposed_again(cluster_on, server, problem_manager):
    cluster_on(4, ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    services.proposal_dismiss(actor=problem_manager, proposal=proposal,
                              reason="A known hardware batch; replacements ordered.")

    result = services.detect()

    proposal.refresh_from_db()
    assert result.created == [] and result.reopened == []
    assert Proposal.objects.count() == 1
    assert proposal.state == ProposalState.DISMISSED and proposal.dismissed_count == 4


def test_a_dismissed_proposal_comes_back_once_when_its_cluster_grows(cluster_on, log, server,
                                                                    problem_manager):
    cluster_on(4, ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    services.proposal_dismiss(actor=problem_manager, proposal=proposal, reason="Noise.")
    log("Fan noise again", ci=server)

    first = services.detect()
    second = services.detect()

    proposal.refresh_from_db()
    assert first.reopened == [proposal.pk] and second.reopened == []
    assert Proposal.objects.count() == 1
    assert proposal.state == ProposalState.OPEN and proposal.incident_count == 5
    assert proposal.reopened_note == "Grew from 4 to 5 incidents since it was dismissed."
    assert proposal.decided_by is None and proposal.dismiss_reason == "Noise."
    entry = audit(proposal).last()
    assert entry.action == "transition" and "Grew from 4 to 5" in entry.message
    assert entry.changes["state"] == ["dismissed", "open"]


def test_a_dismissed_cluster_that_changed_but_did_not_grow_stays_dismissed(
        cluster_on, log, server, problem_manager):
    incidents = cluster_on(4, ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    services.proposal_dismiss(actor=problem_manager, proposal=proposal, reason="Noise.")
    incident_services.incident_transition(actor=None, incident=incidents[0],
                                          to_state="cancelled")
    log("Another one", ci=server)
    assert services.detect().reopened == []
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.DISMISSED


# --- Accepted ---------------------------------------------------------------------------

def test_accepting_opens_a_problem_with_exactly_the_clusters_incidents(
        cluster_on, log, server, service, problem_manager):
    incidents = cluster_on(4, ci=server, service=service)
    unrelated = log("Unrelated", service=service)
    services.detect()
    proposal = Proposal.objects.get(kind=ClusterKind.CI)

    problem = services.proposal_accept(actor=problem_manager, proposal=proposal)

    proposal.refresh_from_db()
    assert set(problem.incidents.all()) == set(incidents)
    assert unrelated not in problem.incidents.all()
    assert problem.title == proposal.title and problem.description == proposal.description
    assert list(problem.cis.all()) == [server]
    assert list(problem.services.all()) == [service]  # all four share it
    assert proposal.state == ProposalState.ACCEPTED and proposal.problem == problem
    assert proposal.decided_by == problem_manager and proposal.decided_at is not None
    entry = audit(proposal).last()
    assert entry.changes["state"] == ["open", "accepted"] and problem.number in entry.message


def test_accepting_takes_a_title_and_the_category_of_a_category_cluster(
        cluster_on, vpn, problem_manager):
    cluster_on(4, category=vpn.parent, subcategory=vpn)
    services.detect()
    problem = services.proposal_accept(actor=problem_manager, proposal=Proposal.objects.get(),
                                       title="VPN drops after the client update")
    assert problem.title == "VPN drops after the client update"
    assert problem.category == vpn


def test_an_accepted_cluster_is_never_proposed_again_and_shows_newcomers(
        cluster_on, log, server, problem_manager):
    cluster_on(4, ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    services.proposal_accept(actor=problem_manager, proposal=proposal)
    assert services.detect().created == []  # its incidents are on the problem now

    newcomer = log("Happened again", ci=server)
    result = services.detect()

    proposal.refresh_from_db()
    assert result.created == [] and result.grown_accepted == [proposal.pk]
    assert Proposal.objects.count() == 1 and proposal.state == ProposalState.ACCEPTED
    assert list(proposal.new_incidents.all()) == [newcomer]
    assert services.detect().grown_accepted == []  # once

    linked = services.proposal_link_new(actor=problem_manager, proposal=proposal)
    assert linked == 1
    assert ProblemIncident.objects.filter(problem=proposal.problem, incident=newcomer).exists()
    assert list(proposal.new_incidents.all()) == []
    assert newcomer in proposal.incidents.all()


def test_incidents_already_on_a_problem_are_left_out(cluster_on, log, server,
                                                     problem_manager):
    incidents = cluster_on(4, ci=server)
    problem_services.problem_create(actor=problem_manager, title="Known",
                                    incidents=[incidents[0]])
    assert services.detect().created == []
    log("One more", ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    assert incidents[0] not in proposal.incidents.all() and proposal.incident_count == 4


def test_accepting_links_only_incidents_not_linked_meanwhile(cluster_on, server,
                                                              problem_manager):
    incidents = cluster_on(5, ci=server)
    services.detect()
    other = problem_services.problem_create(actor=problem_manager, title="Other",
                                            incidents=[incidents[0]])
    problem = services.proposal_accept(actor=problem_manager,
                                       proposal=Proposal.objects.get())
    assert set(problem.incidents.all()) == set(incidents[1:])
    assert list(other.incidents.all()) == [incidents[0]]
