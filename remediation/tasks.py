"""Worker tasks of remediation, on the ``dispatch`` queue (itsm/settings.py routes
``remediation.*`` there). One task per wave, never one per device; each is idempotent."""

from __future__ import annotations

from celery import shared_task

from . import runs


@shared_task(name="remediation.tasks.dispatch_wave")
def dispatch_wave(run_id: int, number: int) -> int:
    return runs.wave_dispatch(run_id, number)


@shared_task(name="remediation.tasks.advance")
def advance(run_id: int) -> None:
    runs.advance(run_id)


@shared_task(name="remediation.tasks.summarise")
def summarise(run_id: int) -> None:
    runs.run_summarise(run_id)


@shared_task(name="remediation.tasks.sweep")
def sweep() -> None:
    runs.sweep()
