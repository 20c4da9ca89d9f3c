"""Periodic knowledge work: review reminders (``knowledge-review-reminders`` in
``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="knowledge.tasks.send_review_reminders")
def send_review_reminders() -> int:
    """Owners of published articles whose review date has passed, told once per date."""
    return services.review_reminders_send()
