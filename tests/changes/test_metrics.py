"""Change success rates per team and category, the team failure rate and the emergency
change report, on a seeded set of changes."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changes import metrics
from changes.models import (
    ApprovalRequest,
    ApprovalState,
    ChangeCategory,
    ChangeResult,
    ChangeState,
    ChangeType,
)
from incidents.metrics import Period
from itsm.errors import DomainError
from tests.changes.test_risk import close_change, make_change, manager
from tests.factories import TeamFactory

__all__ = ["manager"]

NOW = timezone.now
DAY = datetime.timedelta(days=1)


@pytest.fixture
def seeded(manager):
    """Platform: 2 successful, 1 with issues, 1 failed (software) + 1 backed out (no
    category); Network: 1 failed (network); outside the period: one closed 40 days ago;
    never counted: a cancelled change and an open one."""
    platform, network = TeamFactory(name="Platform"), TeamFactory(name="Network")
    software = ChangeCategory.objects.get_or_create(name="Software")[0]
    net = ChangeCategory.objects.get_or_create(name="Network")[0]
    for result in (ChangeResult.SUCCESSFUL, ChangeResult.SUCCESSFUL,
                   ChangeResult.WITH_ISSUES, ChangeResult.FAILED):
        close_change(manager, platform, result, category=software)
    close_change(manager, platform, ChangeResult.BACKED_OUT)
    close_change(manager, network, ChangeResult.FAILED, category=net)
    close_change(manager, network, ChangeResult.SUCCESSFUL, days_ago=40, category=net)
    close_change(manager, None, ChangeResult.SUCCESSFUL, category=software)
    make_change(manager, state=ChangeState.CANCELLED, assignment_group=platform,
                closed_at=NOW() - DAY)
    make_change(manager, state=ChangeState.REVIEW, assignment_group=platform,
                result=ChangeResult.FAILED)
    return platform, network


def table(rows):
    return {row.label: (row.successful, row.with_issues, row.failed, row.backed_out,
                        row.total, row.success_rate) for row in rows}


def test_success_rates_by_team(seeded):
    with CaptureQueriesContext(connection) as queries:
        rows = metrics.success_rates(by="team", days=30)
    assert len(queries) == 1
    assert table(rows) == {
        "Network": (0, 0, 1, 0, 1, 0.0),
        "Platform": (2, 1, 1, 1, 5, 60.0),
        "No team": (1, 0, 0, 0, 1, 100.0),
    }
    assert [row.label for row in rows] == ["Network", "Platform", "No team"]
    overall = metrics.success_overall(rows)
    assert (overall.total, overall.success_rate) == (7, 57.1)


def test_success_rates_by_category(seeded):
    rows = metrics.success_rates(by="category", days=30)
    assert table(rows) == {
        "Network": (0, 0, 1, 0, 1, 0.0),
        "Software": (3, 1, 1, 0, 5, 80.0),
        "No category": (0, 0, 0, 1, 1, 0.0),
    }


def test_a_longer_period_counts_older_changes(seeded):
    rows = {row.label: row.total for row in metrics.success_rates(by="team", days=60)}
    assert rows["Network"] == 2
    today = timezone.localdate()
    period = Period(today - 45 * DAY, today - 35 * DAY)
    assert table(metrics.success_rates(by="team", period=period)) == {
        "Network": (1, 0, 0, 0, 1, 100.0)}


def test_bad_grouping_and_days(seeded):
    with pytest.raises(DomainError) as error:
        metrics.success_rates(by="priority", days=30)
    assert "by" in error.value.fields
    with pytest.raises(DomainError) as error:
        metrics.success_rates(by="team", days=0)
    assert "days" in error.value.fields


def test_team_failure_rate(seeded):
    platform, network = seeded
    rate = metrics.failure_rate(team_id=platform.pk, days=30)
    assert (rate.total, rate.failed, rate.rate) == (5, 2, 0.4)
    assert metrics.failure_rate(team_id=network.pk, days=60).rate == 0.5
    assert metrics.failure_rate(team_id=TeamFactory().pk, days=30).total == 0


def test_emergency_report(manager):
    approved_after = make_change(manager, title="Hotfix", type=ChangeType.EMERGENCY,
                                 state=ChangeState.CLOSED, result=ChangeResult.SUCCESSFUL,
                                 actual_start=NOW() - 2 * DAY, authorized_at=NOW() - DAY,
                                 retro_approval_due=NOW() + DAY)
    ApprovalRequest.objects.create(change=approved_after, policy_name="Emergency CAB",
                                   rule="any", required_count=1, retrospective=True,
                                   state=ApprovalState.APPROVED)
    overdue = make_change(manager, title="Firewall", type=ChangeType.EMERGENCY,
                          state=ChangeState.IMPLEMENT, actual_start=NOW() - 5 * DAY,
                          retro_approval_due=NOW() - DAY)
    waiting = make_change(manager, title="Patch", type=ChangeType.EMERGENCY,
                          state=ChangeState.AUTHORIZE)
    make_change(manager, title="Old", type=ChangeType.EMERGENCY,
                actual_start=NOW() - 90 * DAY)
    make_change(manager, title="Normal", actual_start=NOW() - DAY)
    with CaptureQueriesContext(connection) as queries:
        rows = metrics.emergency_report(30)
    assert len(queries) == 1
    assert [(row.change.pk, row.approved_after, row.retro_overdue, row.result_label)
            for row in rows] == [
        (overdue.pk, False, True, ""),
        (approved_after.pk, True, False, "Successful"),
        (waiting.pk, False, False, ""),
    ]
    assert rows[0].awaiting_retro and not rows[1].awaiting_retro
