"""Inventory → CMDB (to be completed: the device's attributes and installations)."""

from __future__ import annotations

from typing import Any


def reconcile_device(agent: Any, data: dict[str, Any]) -> None:
    return None
