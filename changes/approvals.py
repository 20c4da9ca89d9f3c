"""Approval rounds of changes (placeholder until the approvals work lands)."""

from __future__ import annotations

from typing import Any


def approval_start(*, change: Any) -> None:
    return None


def approvals_cancel(*, change: Any, reason: str) -> None:
    return None
