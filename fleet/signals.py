"""What the fleet tells the practices that send jobs (remediation runs): jobs that moved.

``jobs_changed`` is sent inside the transaction that moved them, so a receiver's writes
commit or roll back with the job's. ``changes`` lists ``JobChange`` of kind ``action``
jobs only; sent and started marks carry no status."""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

jobs_changed = Signal()


@dataclass(frozen=True)
class JobChange:
    job_id: str
    state: str  # the job's new JobState
    status: str = ""  # the agent's result status: succeeded, failed, timed_out, …
    reason: str = ""
