"""The periodic task of trend detection. Thin: it calls one service."""

from typing import Any

from celery import shared_task


@shared_task(name="trends.tasks.detect")
def detect() -> dict[str, Any]:
    """Hourly (beat): look for clusters of recent incidents and propose problems."""
    from .services import detect as detect_trends

    result = detect_trends()
    return {"clusters": result.clusters, "created": len(result.created),
            "updated": len(result.updated), "reopened": len(result.reopened),
            "grown_accepted": len(result.grown_accepted)}
