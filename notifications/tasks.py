from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from .models import Notification


@shared_task(name="notifications.tasks.send_emails")
def send_emails(ids: list[int]) -> int:
    """Email the given notifications once each (redelivery-safe: claims by ``emailed_at``)."""
    sent = 0
    with get_connection() as connection:
        for pk in ids:
            with transaction.atomic():
                note = (Notification.objects.select_for_update().select_related("recipient")
                        .filter(pk=pk, emailed_at__isnull=True).first())
                if note is None or not note.recipient.email:
                    continue
                body = note.body
                if note.url:
                    body = f"{body}\n\n{settings.ITSM_BASE_URL.rstrip('/')}{note.url}"
                EmailMessage(note.subject, body, to=[note.recipient.email],
                             connection=connection).send()
                note.emailed_at = timezone.now()
                note.save(update_fields=["emailed_at"])
                sent += 1
    return sent
