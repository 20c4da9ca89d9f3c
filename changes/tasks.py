"""Periodic tasks of change enablement. Thin: each calls one service."""

from celery import shared_task


@shared_task(name="changes.tasks.flag_overdue_retro")
def flag_overdue_retro() -> int:
    """Hourly (beat): tell the change managers, once, about emergency changes not
    approved after the fact by their due time."""
    from .approvals import flag_overdue_retro as sweep

    return sweep()
