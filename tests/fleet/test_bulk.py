"""Bulk statements: marking jobs sent locks them in id order, moves only the queued ones,
and on PostgreSQL is planned the same whatever the statistics say (planned for "no job is
queued", it once ran the locking subquery for every row of the table: seconds a batch)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet import services
from fleet.models import Job, JobState

pytestmark = pytest.mark.django_db


def _jobs(agent, first: int, count: int, state: str) -> list[Job]:
    now = timezone.now()
    return Job.objects.bulk_create(
        Job(agent=agent, kind="snapshot", sequence=first + number, envelope={},
            signature="s", key_id="k", not_before=now,
            expires_at=now + datetime.timedelta(hours=1), state=state)
        for number in range(count))


def test_marking_sent_moves_only_the_queued_jobs_and_says_which(enrolled):
    done = _jobs(enrolled.agent, 1, 5, JobState.DONE)
    queued = _jobs(enrolled.agent, 100, 20, JobState.QUEUED)
    services.jobs_mark_sent([job.pk for job in queued[:10] + done])
    states = dict(Job.objects.values_list("pk", "state"))
    assert [states[job.pk] for job in queued] == [JobState.SENT] * 10 + [JobState.QUEUED] * 10
    assert {states[job.pk] for job in done} == {JobState.DONE}
    assert Job.objects.filter(state=JobState.SENT, sent_at__isnull=False).count() == 10


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_marking_sent_is_planned_through_the_primary_key_whatever_the_statistics(enrolled):
    _jobs(enrolled.agent, 1, 3000, JobState.DONE)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE fleet_job")  # statistics that saw no queued job
    queued = _jobs(enrolled.agent, 10_000, 600, JobState.QUEUED)
    with CaptureQueriesContext(connection) as queries:
        services.jobs_mark_sent([job.pk for job in queued[:500]])
    update, = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "fleet_job"')]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + update)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The locked ids are found once (an init plan: at worst one pass over the table),
    # then the rows updated through the primary key; never a loop over one for the other.
    assert "Nested Loop" not in plan and "InitPlan" in plan, plan
    assert "Index Cond: (id = ANY ($1))" in plan, plan
    assert Job.objects.filter(state=JobState.SENT).count() == 500
