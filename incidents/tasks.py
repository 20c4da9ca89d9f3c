from typing import Any

from celery import shared_task

from . import services


@shared_task(name="incidents.tasks.auto_close_resolved")
def auto_close_resolved() -> int:
    """Hourly (beat): close incidents resolved longer ago than the configured period."""
    return services.incidents_auto_close()


@shared_task(name="notifications.incidents.notify_event")
def notify_incident_event(event: str, incident_id: int, details: dict[str, Any]) -> None:
    """Inbox rows (and, through them, emails) for one committed incident event. At least
    once: a task redelivered after a worker died mid-way can repeat a notice."""
    from .notifications import incident_event_notify

    incident_event_notify(event, incident_id, details)
