"""Tell people something: ``notify`` writes one inbox row per recipient and, once the
transaction commits, queues the email. Callers decide who hears what; this module only
delivers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import Notification


def notify(recipients: Iterable[Any], *, kind: str, subject: str, body: str = "",
           url: str = "") -> list[Notification]:
    """One notification per distinct active recipient (None entries are skipped)."""
    seen: set[int] = set()
    rows = []
    for user in recipients:
        if user is None or not user.is_active or user.pk in seen:
            continue
        seen.add(user.pk)
        rows.append(Notification(recipient=user, kind=kind, subject=subject[:200], body=body,
                                 url=url))
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)
    ids = [row.pk for row in created if row.pk is not None]
    if not ids:  # backends that do not return ids from bulk inserts
        ids = list(Notification.objects.filter(recipient_id__in=seen, kind=kind,
                                               subject=subject[:200], emailed_at__isnull=True)
                   .values_list("pk", flat=True))

    def send() -> None:
        from .tasks import send_emails

        send_emails.delay(ids)

    transaction.on_commit(send)
    return created


def notifications_mark_read(*, user: Any, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when ``ids`` is None)."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def unread_count(user: Any) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()
