from celery import shared_task

from . import services


@shared_task(name="incidents.tasks.auto_close_resolved")
def auto_close_resolved() -> int:
    """Hourly (beat): close incidents resolved longer ago than the configured period."""
    return services.incidents_auto_close()
