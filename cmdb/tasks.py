"""CMDB tasks: thin wrappers that call one service each."""

from __future__ import annotations

import datetime
import smtplib

from celery import shared_task

from . import expiry, imports


@shared_task(name="cmdb.tasks.send_expiry_warnings")
def send_expiry_warnings() -> dict[str, int]:
    """Daily (beat): warn owner teams before warranties, leases, licences and
    certificates end. Idempotent: each warning is recorded and sent once."""
    return expiry.expiry_warnings_send()


@shared_task(name="cmdb.tasks.mail_expiry_notices",
             autoretry_for=(smtplib.SMTPException, ConnectionError),
             retry_backoff=True, max_retries=5)
def mail_expiry_notices(notice_ids: list[int], today: str) -> int:
    """Send the mail for notices already recorded (queued on commit by the sweep)."""
    return expiry.expiry_notices_mail(notice_ids=notice_ids,
                                      today=datetime.date.fromisoformat(today))


@shared_task(name="cmdb.tasks.apply_import")
def apply_import(job_id: int) -> int | None:
    """Write the rows of a queued CSV import (resumable; a duplicate message is a no-op)."""
    job = imports.import_run(job_id)
    return job.pk if job is not None else None


@shared_task(name="cmdb.tasks.resume_stale_imports")
def resume_stale_imports() -> list[int]:
    """Every few minutes (beat): re-queue imports whose worker died or message was lost."""
    return imports.imports_resume_stale()
