"""The periodic task, its place in the beat schedule, and who may decide."""

import pytest
from django.conf import settings

from accounts.roles import ROLES_BY_KEY
from audit.models import AuditEntry
from itsm.errors import NotPermitted
from trends import services, tasks
from trends.models import Proposal
from trends.services import DECIDE

pytestmark = pytest.mark.django_db


def test_the_task_detects_once_and_says_what_it_did(cluster_on, server):
    cluster_on(4, ci=server)
    assert tasks.detect.apply().get() == {"clusters": 1, "created": 1, "updated": 0,
                                          "reopened": 0, "grown_accepted": 0}
    assert tasks.detect.apply().get()["created"] == 0
    proposal = Proposal.objects.get()
    entry = AuditEntry.objects.get(content_type__model="proposal", object_id=str(proposal.pk))
    assert entry.actor_id is None and entry.actor_label.startswith("system")


def test_the_task_runs_hourly_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["trends-detect"]
    assert entry["task"] == "trends.tasks.detect" and entry["schedule"] == 3600


def test_problem_managers_decide(problem_manager, agent):
    assert DECIDE in ROLES_BY_KEY["problem_manager"].permissions
    assert problem_manager.has_perm(DECIDE)
    assert not agent.has_perm(DECIDE)


def test_the_services_check_the_permission(cluster_on, server, agent):
    cluster_on(4, ci=server)
    services.detect()
    proposal = Proposal.objects.get()
    with pytest.raises(NotPermitted):
        services.proposal_accept(actor=agent, proposal=proposal)
    with pytest.raises(NotPermitted):
        services.proposal_dismiss(actor=agent, proposal=proposal, reason="No.")
