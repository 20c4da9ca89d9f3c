"""Live questions: parameters checked and named; the worker sends one signed job to each
online agent and counts the offline ones; answers come back as LiveAnswers and the
progress counts follow. "Refresh now" stamps the request and queues a snapshot job."""

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from fleet import services, signing
from fleet.live import (
    live_query_create,
    live_query_dispatch,
    live_query_progress,
    snapshot_request,
    snapshot_waiting,
)
from fleet.models import Agent, Inventory, Job, LiveAnswer, LiveQuery, SigningKey
from itsm.errors import DomainError, NotPermitted
from tests.factories import UserFactory

from .conftest import FACTS


@pytest.fixture
def desk_agent(db):
    return UserFactory(username="desk-agent", roles=["service_desk_agent"])


@pytest.fixture
def fleet(enrolled, secret):
    """Four agents: two online, one offline and one revoked (never asked, not counted)."""
    agents = [enrolled.agent]
    for n in (1, 2, 3):
        agents.append(services.agent_enrol(secret=secret, facts={
            **FACTS, "hostname": f"lap-10{n}", "serial_number": f"SN{n}",
            "mac_addresses": [f"aa:bb:cc:dd:ee:0{n}"]}).agent)
    services.agents_seen([agents[0].pk, agents[1].pk])
    Agent.objects.filter(pk=agents[3].pk).update(revoked_at=timezone.now(), online=True)
    return agents


@pytest.mark.parametrize(("kind", "params", "field"), [
    ("process_running", {}, "name"),
    ("process_running", {"name": "   "}, "name"),
    ("process_running", {"name": "bad;rm -rf /"}, "name"),
    ("service_stopped", {"name": "x" * 201}, "name"),
    ("package_below", {"name": "openssl"}, "version"),
    ("package_below", {"name": "openssl", "version": "1.0 && true"}, "version"),
    ("disk_above", {}, "percent"),
    ("disk_above", {"percent": 0}, "percent"),
    ("disk_above", {"percent": "101"}, "percent"),
    ("disk_above", {"percent": "ninety"}, "percent"),
    ("disk_above", {"percent": 50.5}, "percent"),
    ("disk_above", {"percent": True}, "percent"),
    ("reboot_now", {}, "kind"),
])
def test_bad_parameters_are_refused_naming_the_field(desk_agent, kind, params, field):
    with pytest.raises(DomainError) as error:
        live_query_create(actor=desk_agent, kind=kind, params=params)
    assert field in error.value.fields
    assert not LiveQuery.objects.exists()


def test_parameters_are_kept_clean(desk_agent):
    query = live_query_create(actor=desk_agent, kind="package_below",
                              params={"name": " libssl3:amd64 ", "version": "3.0.13-0ubuntu3",
                                      "percent": 5})
    assert query.params == {"name": "libssl3:amd64", "version": "3.0.13-0ubuntu3"}
    assert live_query_create(actor=desk_agent, kind="disk_above",
                             params={"percent": "90"}).params == {"percent": 90}
    assert AuditEntry.objects.filter(object_id=str(query.pk), action="create").exists()


def test_asking_needs_the_fleet_view_permission(db):
    requester = UserFactory(roles=["requester"])
    with pytest.raises(NotPermitted):
        live_query_create(actor=requester, kind="disk_above", params={"percent": 90})


def test_dispatch_sends_one_signed_job_per_online_agent_and_counts_offline(
        desk_agent, fleet, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        query = live_query_create(actor=desk_agent, kind="process_running",
                                  params={"name": "sshd"})
    # the eager task ran after the commit
    query.refresh_from_db()
    assert (query.targeted, query.offline) == (2, 1)
    jobs = list(Job.objects.filter(live_query=query))
    assert sorted(str(j.agent_id) for j in jobs) == sorted(str(a.pk) for a in fleet[:2])
    key = SigningKey.objects.get()
    for job in jobs:
        assert job.envelope["kind"] == "query" and job.envelope["action"] == "process_running"
        assert job.envelope["params"] == {"name": "sshd"}
        assert job.envelope["agent_id"] == str(job.agent_id)
        assert signing.verify(job.envelope, job.signature, key.public_key)
    # a redelivered task sends nothing more
    live_query_dispatch(query.pk)
    assert Job.objects.filter(live_query=query).count() == 2


def test_answers_make_the_progress(desk_agent, fleet):
    query = live_query_create(actor=desk_agent, kind="disk_above", params={"percent": 90})
    live_query_dispatch(query.pk)
    query.refresh_from_db()
    progress = live_query_progress(query)
    assert progress.as_dict() == {"targeted": 2, "answered": 0, "matched": 0, "refused": 0,
                                  "offline": 1, "waiting": 2, "expired": False,
                                  "done": False}
    first, second = Job.objects.filter(live_query=query).order_by("agent__hostname")
    services.results_record([(first.agent_id, {
        "execution_id": str(first.pk), "status": "succeeded",
        "data": {"matched": True, "detail": {"mount": "/", "used_percent": 97}}})])
    progress = live_query_progress(query)
    assert (progress.answered, progress.matched, progress.waiting) == (1, 1, 1)
    assert [row.agent_id for row in progress.matched_rows] == [first.agent_id]
    assert progress.matched_rows[0].detail["used_percent"] == 97
    services.results_record([(second.agent_id, {
        "execution_id": str(second.pk), "status": "refused", "reason": "not_allowed"})])
    progress = live_query_progress(query)
    assert progress.as_dict()["done"] and progress.refused == 1 and progress.matched == 1
    assert LiveAnswer.objects.filter(query=query).count() == 2


def test_an_expired_question_is_done_and_not_sent(desk_agent, fleet):
    query = live_query_create(actor=desk_agent, kind="disk_above", params={"percent": 90})
    LiveQuery.objects.filter(pk=query.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1))
    live_query_dispatch(query.pk)
    query.refresh_from_db()
    assert not Job.objects.filter(live_query=query).exists()
    assert live_query_progress(query).done


def test_refresh_now_stamps_the_request_and_queues_a_snapshot_job(
        desk_agent, enrolled, django_capture_on_commit_callbacks):
    agent = enrolled.agent
    with django_capture_on_commit_callbacks(execute=True):
        inventory = snapshot_request(actor=desk_agent, agent=agent)
    assert inventory.snapshot_requested_at is not None and snapshot_waiting(inventory)
    job = Job.objects.get(agent=agent, kind="snapshot")
    # a double click queues nothing more
    with django_capture_on_commit_callbacks(execute=True):
        snapshot_request(actor=desk_agent, agent=agent)
    assert Job.objects.filter(agent=agent, kind="snapshot").count() == 1
    services.results_record([(agent.pk, {"execution_id": str(job.pk), "status": "succeeded",
                                         "data": {"processes": [], "services": [],
                                                  "sessions": []}})])
    assert not snapshot_waiting(Inventory.objects.get(agent=agent))


def test_a_revoked_agent_cannot_be_asked_for_a_snapshot(desk_agent, enrolled, fleet_manager):
    services.agent_revoke(actor=fleet_manager, agent=enrolled.agent)
    agent = Agent.objects.get(pk=enrolled.agent.pk)
    with pytest.raises(DomainError) as error:
        snapshot_request(actor=desk_agent, agent=agent)
    assert "agent" in error.value.fields
