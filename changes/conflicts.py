"""Conflict detection when a change is scheduled or rescheduled."""

from __future__ import annotations

from typing import Any


def freeze_problems(change: Any, values: dict[str, Any]) -> dict[str, list[str]] | None:
    """Field errors when the change would be scheduled into a freeze without an
    approved emergency override; None when it may be scheduled."""
    return None


def reschedule_problems(change: Any, start: Any, end: Any,
                        values: dict[str, Any]) -> dict[str, list[str]] | None:
    return None


def conflicts_refresh(*, change: Any) -> list:
    return []
