from celery import shared_task

from .engine import timers_tick


@shared_task(name="sla.tasks.tick")
def tick() -> dict[str, int]:
    """Every few seconds (beat): fire the thresholds timers have reached."""
    return timers_tick()
