"""Reads of remediation for the API: actions with their versions, runs with their counts,
a page of executions with the output of their jobs."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from fleet.models import Job

from .models import (
    FAILED_EXECUTION_STATES,
    PENDING_EXECUTION_STATES,
    Action,
    ActionVersion,
    Execution,
    ExecutionState,
    Run,
)


def versions() -> QuerySet[ActionVersion]:
    return ActionVersion.objects.select_related("action", "author", "approved_by")


def actions() -> QuerySet[Action]:
    return Action.objects.select_related("created_by").prefetch_related(
        Prefetch("versions", queryset=versions().order_by("-version")))


def runs() -> QuerySet[Run]:
    """Runs with their counts (devices, done, succeeded, failed) in the same query."""
    pending = Q(executions__state__in=PENDING_EXECUTION_STATES)
    return Run.objects.select_related(
        "version__action", "started_by", "incident", "change", "problem",
        "template_version__template").annotate(
        devices=Count("executions"),
        done=Count("executions", filter=~pending),
        succeeded=Count("executions", filter=Q(executions__state=ExecutionState.SUCCEEDED)),
        failed=Count("executions", filter=Q(executions__state__in=FAILED_EXECUTION_STATES)))


def executions(run: Run) -> QuerySet[Execution]:
    return Execution.objects.filter(run=run).select_related("device")


def execution_outputs(rows: list[Execution]) -> dict[Any, dict[str, Any]]:
    """The result of each execution's job (exit code, output, duration) and the agent's
    refusal, in one query for the page."""
    return {job["pk"]: job for job in Job.objects.filter(
        pk__in=[row.pk for row in rows]).values("pk", "result", "refusal_reason")}
