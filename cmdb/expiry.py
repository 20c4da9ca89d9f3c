"""Expiry warnings: tell the owner team before a warranty, lease, licence or certificate
ends, once per threshold (CmdbSettings.expiry_warning_days, e.g. 30, 7 and 1 days).

The rule, for one thing with one due date:

- the threshold that applies is the *smallest* configured one at or above the days left,
  so a warranty first seen 6 days before its end gets the 7-day warning only, never a
  late 30-day one as well;
- it is sent unless a notice for that threshold (or a smaller one) exists for this due
  date. A renewed date is a new due date, so the warnings start over.

Candidates are found in the database, one range query per kind and threshold band (the
warranty and lease dates are indexed), excluding what has been sent with ``NOT EXISTS``
against the notice table's unique index: a run with nothing to do costs a dozen small
queries. Each batch is one transaction that records the notices, audits them and queues
one mail per recipient list on commit; the unique constraints on ExpiryNotice make a
concurrent run skip what another has just recorded, so nothing is sent twice.
"""

from __future__ import annotations

import datetime
import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import DateField, Exists, F, OuterRef, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import Team
from audit.models import AuditAction
from audit.services import audit_record

from .models import (
    CIClass,
    CIStatus,
    CmdbSettings,
    ConfigurationItem,
    ExpiryKind,
    ExpiryNotice,
    SoftwareLicence,
)

EXPIRY_BATCH_SIZE = 500
DEFAULT_WARNING_DAYS = (30, 7, 1)
CERTIFICATE_CLASS = "certificate"
# Things no longer in use are not warned about.
ENDED_STATUSES = (CIStatus.RETIRED, CIStatus.DISPOSED)


@dataclass(frozen=True)
class ExpirySource:
    """One kind of thing that expires: where its rows and due date come from, and which
    ExpiryNotice column points at it."""

    kind: ExpiryKind
    link: str  # "ci" or "licence"
    rows: Callable[[], QuerySet[Any]]  # annotated with ``due``
    describe: Callable[[Any], str]

    @property
    def other_link(self) -> str:
        return "licence" if self.link == "ci" else "ci"


def _live_cis() -> QuerySet[ConfigurationItem]:
    return ConfigurationItem.objects.exclude(status__in=ENDED_STATUSES).select_related(
        "ci_class", "owner_team")


def _warranties() -> QuerySet[ConfigurationItem]:
    return _live_cis().annotate(due=F("warranty_end"))


def _leases() -> QuerySet[ConfigurationItem]:
    return _live_cis().annotate(due=F("lease_end"))


def _certificates() -> QuerySet[ConfigurationItem]:
    certificate_class = CIClass.objects.filter(key=CERTIFICATE_CLASS).values("pk")
    return _live_cis().filter(ci_class_id__in=certificate_class).annotate(
        due=Cast(KT("attributes__expires_on"), DateField()))


def _licences() -> QuerySet[SoftwareLicence]:
    return (SoftwareLicence.objects.exclude(product__status__in=ENDED_STATUSES)
            .select_related("product", "owner_team", "product__owner_team")
            .annotate(due=F("expiry_date")))


def _ci_label(ci: ConfigurationItem) -> str:
    identifier = ci.serial_number or ci.hostname or ci.asset_tag
    extra = f", {identifier}" if identifier and identifier != ci.name else ""
    return f"{ci.name} ({ci.ci_class.name}{extra}, CI {ci.pk})"


SOURCES: tuple[ExpirySource, ...] = (
    ExpirySource(ExpiryKind.WARRANTY, "ci", _warranties,
                 lambda ci: f"Warranty of {_ci_label(ci)}"),
    ExpirySource(ExpiryKind.LEASE, "ci", _leases, lambda ci: f"Lease of {_ci_label(ci)}"),
    ExpirySource(ExpiryKind.CERTIFICATE, "ci", _certificates,
                 lambda ci: f"Certificate {_ci_label(ci)}"),
    ExpirySource(ExpiryKind.LICENCE, "licence", _licences,
                 lambda lic: f"Licence {lic.name} for {lic.product.name} "
                             f"({lic.entitlement_count} {lic.get_metric_display().lower()})"),
)
_SOURCE_BY_KIND = {source.kind: source for source in SOURCES}


# --- Settings and recipients ------------------------------------------------------------

def warning_days() -> list[int]:
    """The configured thresholds, smallest first (the seeded default if unset)."""
    row = CmdbSettings.objects.order_by("pk").first()
    days = row.expiry_warning_days if row is not None else list(DEFAULT_WARNING_DAYS)
    return sorted({int(d) for d in days if isinstance(d, int) and not isinstance(d, bool)
                   and d > 0})


def team_recipients(team: Team | None) -> list[str]:
    """Where a team's warnings go: the team's address, else its active members', else its
    manager's."""
    if team is None:
        return []
    if team.email:
        return [team.email]
    members = sorted(set(team.members.filter(is_active=True).exclude(email="")
                         .values_list("email", flat=True)))
    if members:
        return members
    manager = team.manager
    if manager is not None and manager.is_active and manager.email:
        return [manager.email]
    return []


def _owner_of(thing: Any) -> Team | None:
    if isinstance(thing, SoftwareLicence):
        return thing.owner_team or thing.product.owner_team
    return thing.owner_team


class _Recipients:
    """Recipients per owner team, looked up once per run. Things without an owner team
    go to the service desk team (the fallback for anything routed nowhere else)."""

    def __init__(self) -> None:
        self._by_team: dict[int | None, list[str]] = {}

    def __call__(self, team: Team | None) -> list[str]:
        key = team.pk if team is not None else None
        if key not in self._by_team:
            if team is None:
                team = Team.objects.filter(is_service_desk=True).first()
            self._by_team[key] = team_recipients(team)
        return self._by_team[key]


# --- Sending ----------------------------------------------------------------------------

def _bands(today: datetime.date, days: Sequence[int]) -> list[tuple[int, datetime.date,
                                                                     datetime.date]]:
    """(threshold, first due date, last due date): the due dates for which ``threshold``
    is the smallest threshold that applies. With [1, 7, 30]: 1 for today and tomorrow,
    7 for 2–7 days away, 30 for 8–30 days away."""
    bands = []
    previous = -1
    for threshold in days:
        bands.append((threshold, today + datetime.timedelta(days=previous + 1),
                      today + datetime.timedelta(days=threshold)))
        previous = threshold
    return bands


def _pending(source: ExpirySource, threshold: int, first: datetime.date,
             last: datetime.date) -> QuerySet[Any]:
    already_sent = ExpiryNotice.objects.filter(
        kind=source.kind, due_date=OuterRef("due"), threshold_days__lte=threshold,
        **{source.link: OuterRef("pk"), f"{source.other_link}__isnull": True})
    return source.rows().filter(due__gte=first, due__lte=last).filter(~Exists(already_sent))


def _days_phrase(days: int) -> str:
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


def _pending_notices(today: datetime.date) -> Iterator[tuple[ExpirySource, int, Any]]:
    """Every (source, threshold, thing) that needs a warning today, read page by page."""
    for threshold, first, last in _bands(today, warning_days()):
        for source in SOURCES:
            pending = _pending(source, threshold, first, last).order_by("pk")
            after = 0
            while True:
                page = list(pending.filter(pk__gt=after)[:EXPIRY_BATCH_SIZE])
                yield from ((source, threshold, thing) for thing in page)
                if len(page) < EXPIRY_BATCH_SIZE:
                    break
                after = page[-1].pk


def _send_batch(batch: Iterable[tuple[ExpirySource, int, Any]], today: datetime.date,
                recipients_of: _Recipients, counts: dict[str, int]) -> None:
    """Record, audit and queue the notices of one batch, in one transaction: one mail per
    recipient list, sent once the notices are committed."""
    mails: dict[tuple[str, ...], list[int]] = defaultdict(list)
    with transaction.atomic():
        for source, threshold, thing in batch:
            recipients = recipients_of(_owner_of(thing))
            if not recipients:
                # Not recorded: it is sent once the team can be reached.
                counts["unaddressed"] += 1
                continue
            try:
                with transaction.atomic():
                    notice = ExpiryNotice.objects.create(
                        kind=source.kind, due_date=thing.due, threshold_days=threshold,
                        recipients=recipients, **{source.link: thing})
            except IntegrityError:  # a concurrent run has just sent this one
                continue
            days_left = (thing.due - today).days
            audit_record(
                action=AuditAction.UPDATE, target=thing,
                message=f"{source.kind.label} ends {thing.due.isoformat()} "
                        f"({_days_phrase(days_left)}): {threshold}-day expiry warning sent "
                        f"to {', '.join(recipients)}")
            mails[tuple(recipients)].append(notice.pk)
            counts[source.kind.value] += 1
        for notice_ids in mails.values():
            transaction.on_commit(functools.partial(_queue_mail, notice_ids, today))
            counts["mails"] += 1


def _queue_mail(notice_ids: list[int], today: datetime.date) -> None:
    from .tasks import mail_expiry_notices

    mail_expiry_notices.delay(notice_ids, today.isoformat())


def expiry_warnings_send(today: datetime.date | None = None) -> dict[str, int]:
    """Warn owner teams of what ends within the configured thresholds. Safe to run as
    often as you like: each warning is sent once. Returns counts per kind, the mails
    queued and the things whose team has no address (``unaddressed``)."""
    today = today or timezone.localdate()
    counts = {kind.value: 0 for kind in ExpiryKind} | {"mails": 0, "unaddressed": 0}
    recipients_of = _Recipients()
    pending = _pending_notices(today)
    while batch := list(itertools.islice(pending, EXPIRY_BATCH_SIZE)):
        _send_batch(batch, today, recipients_of, counts)
    return counts


# --- The mail ---------------------------------------------------------------------------

def _notice_line(notice: ExpiryNotice, today: datetime.date) -> str:
    thing = notice.ci if notice.ci_id else notice.licence
    what = _SOURCE_BY_KIND[ExpiryKind(notice.kind)].describe(thing)
    days = (notice.due_date - today).days
    return (f"- {what}: ends {notice.due_date.isoformat()}, {_days_phrase(days)} "
            f"({notice.threshold_days}-day warning)")


def expiry_notices_mail(*, notice_ids: Sequence[int], today: datetime.date) -> int:
    """Send the mail for recorded notices: one per recipient list. Returns mails sent."""
    notices = list(ExpiryNotice.objects.filter(pk__in=notice_ids).select_related(
        "ci__ci_class", "licence__product").order_by("due_date", "kind", "pk"))
    groups: dict[tuple[str, ...], list[ExpiryNotice]] = defaultdict(list)
    for notice in notices:
        if notice.recipients:
            groups[tuple(notice.recipients)].append(notice)
    for recipients, group in groups.items():
        if len(group) == 1:
            only = group[0]
            days = (only.due_date - today).days
            thing = only.ci if only.ci_id else only.licence
            name = thing.name if thing is not None else ""
            subject = (f"{only.get_kind_display()} ending {_days_phrase(days)}: {name}"
                       f" ({only.due_date.isoformat()})")
        else:
            subject = (f"Expiry warning: {len(group)} items end by "
                       f"{max(n.due_date for n in group).isoformat()}")
        lines = [
            "Hello,",
            "",
            "These items recorded in the CMDB end soon:",
            "",
            *(_notice_line(notice, today) for notice in group),
            "",
            "Renew them or plan their replacement, then record the new end date in the "
            "CMDB. You receive each warning once; a new end date starts the warnings over.",
        ]
        EmailMessage(subject=subject[:200], body="\n".join(lines),
                     from_email=settings.DEFAULT_FROM_EMAIL, to=list(recipients)).send()
    return len(groups)

