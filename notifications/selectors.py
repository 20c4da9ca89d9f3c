"""Reads of the inbox, always scoped to one person."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import Notification

# The bell shows "99+" beyond this: its query reads at most this many index entries,
# however many unread notifications someone has let pile up.
UNREAD_BADGE_CAP = 99


def notifications_of(user: Any) -> QuerySet[Notification]:
    """The person's own notifications, newest first (ids grow with time)."""
    return Notification.objects.filter(recipient=user).order_by("-id")


def unread_badge(user: Any) -> int:
    """Unread notifications, counted up to ``UNREAD_BADGE_CAP + 1``: one bounded query on
    the (recipient, read_at) index, no COUNT over the person's whole history."""
    if user is None or not user.is_authenticated:
        return 0
    return len(Notification.objects.filter(recipient=user, read_at__isnull=True)
               .values_list("pk", flat=True)[:UNREAD_BADGE_CAP + 1])
