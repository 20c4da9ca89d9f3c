"""Worker tasks of the fleet. Jobs are signed here: only the worker reads the private key."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(name="fleet.tasks.request_snapshot")
def request_snapshot(agent_id: str) -> None:
    """A live snapshot (processes, services, sessions) from one agent: "refresh now"."""
    from .models import Agent

    agent = Agent.objects.filter(pk=agent_id, revoked_at__isnull=True).first()
    if agent is not None:
        services.jobs_create(agents=[agent], kind="snapshot", action="snapshot",
                             ttl=datetime.timedelta(minutes=2))


@shared_task(name="fleet.tasks.ask_fleet")
def ask_fleet(query_id: int) -> None:
    """Send a live question to every active agent (one signed job each)."""
    from .live import live_query_dispatch

    live_query_dispatch(query_id)


@shared_task(name="fleet.tasks.sweep")
def sweep() -> None:
    """Expire pending jobs past their time; agents silent for three heartbeats go
    offline (a web process that died could not say so)."""
    services.jobs_expire()
    services.agents_mark_stale(datetime.timedelta(seconds=3 * settings.FLEET_HEARTBEAT_SECONDS))
