"""Live visibility from the desk: fleet-wide questions (which devices run process X, have
service Y stopped, package Z below version V, a disk above N % full) and "refresh now"
snapshots of one device.

Asking writes the question and queues ``fleet.tasks.ask_fleet`` after the commit; the
worker (the only process that reads the signing key) sends one signed job to each online
agent and counts the offline ones, which are not asked. Answers arrive through
``fleet.services.results_record`` as ``LiveAnswer`` rows; ``live_query_progress`` reads
the counts the question page streams."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record
from itsm.errors import DomainError

from .models import Agent, Inventory, LiveAnswer, LiveQuery, QueryKind
from .services import VIEW

QUERY_TTL = datetime.timedelta(minutes=5)
# A second "refresh now" this soon after the first, still unanswered, queues nothing.
SNAPSHOT_DEBOUNCE = datetime.timedelta(seconds=5)
# How long the device page waits for a requested snapshot (the job's own lifetime).
SNAPSHOT_WAIT = datetime.timedelta(minutes=2)
MATCHED_SHOWN = 500
NAME_MAX = 200
# Process, service and package names: letters, digits and the punctuation real names
# use ("Google Chrome", "systemd-resolved.service", "libssl3:amd64", "python3.12").
NAME_PATTERN = re.compile(r"^[\w][\w .+:@()\[\]/\\~#-]*$")
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+~:_-]{0,49}$")
NEEDS_NAME = {QueryKind.PROCESS_RUNNING, QueryKind.SERVICE_STOPPED, QueryKind.PACKAGE_BELOW}


def _name(params: dict[str, Any]) -> str:
    value = params.get("name")
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise DomainError(_("Name the process, service or package."), code="required",
                          fields={"name": [_("Required.")]})
    if len(value) > NAME_MAX or not NAME_PATTERN.match(value):
        raise DomainError(
            _("Use at most %(max)s letters, digits, spaces and . _ + - : @ ( ) [ ] / \\ ~ #.")
            % {"max": NAME_MAX}, fields={"name": [_("Not a valid name.")]})
    return value


def _version(params: dict[str, Any]) -> str:
    value = params.get("version")
    value = value.strip() if isinstance(value, str) else str(value or "").strip()
    if not value:
        raise DomainError(_("Give the version to compare with."), code="required",
                          fields={"version": [_("Required.")]})
    if not VERSION_PATTERN.match(value):
        raise DomainError(_("Enter a version such as 3.0.13 or 1:2.4-1ubuntu2."),
                          fields={"version": [_("Not a version.")]})
    return value


def _percent(params: dict[str, Any]) -> int:
    value = params.get("percent")
    if isinstance(value, bool) or value in (None, ""):
        raise DomainError(_("Give a percentage from 1 to 100."), code="required",
                          fields={"percent": [_("Required.")]})
    try:
        number = float(str(value).strip())
    except ValueError:
        number = -1.0
    if not number.is_integer() or not 1 <= number <= 100:
        raise DomainError(_("Give a whole percentage from 1 to 100."),
                          fields={"percent": [_("From 1 to 100.")]})
    return int(number)


def clean_params(kind: str, params: Any) -> dict[str, Any]:
    """The parameters the agent's built-in question takes, checked; others are dropped.
    Refusals name the parameter (``name``, ``version``, ``percent``)."""
    if kind not in QueryKind.values:
        raise DomainError(_("Choose one of the built-in questions."),
                          fields={"kind": [_("Unknown question.")]})
    if not isinstance(params, dict):
        raise DomainError(_("The parameters must be an object."),
                          fields={"params": [_("Not an object.")]})
    cleaned: dict[str, Any] = {}
    if kind in NEEDS_NAME:
        cleaned["name"] = _name(params)
    if kind == QueryKind.PACKAGE_BELOW:
        cleaned["version"] = _version(params)
    if kind == QueryKind.DISK_ABOVE:
        cleaned["percent"] = _percent(params)
    return cleaned


@transaction.atomic
@as_actor
def live_query_create(*, actor: Any, kind: str, params: dict[str, Any]) -> LiveQuery:
    """Ask every active agent a built-in question; the worker sends it after the commit."""
    require_permission(actor, VIEW)
    cleaned = clean_params(kind, params)
    query = LiveQuery.objects.create(kind=kind, params=cleaned, asked_by=actor,
                                     expires_at=timezone.now() + QUERY_TTL)
    audit_record(action=AuditAction.CREATE, target=query,
                 changes={"kind": [None, kind], "params": [None, cleaned]})

    def ask() -> None:
        from .tasks import ask_fleet

        ask_fleet.delay(query.pk)

    transaction.on_commit(ask)
    return query


@transaction.atomic
def live_query_dispatch(query_id: int) -> LiveQuery | None:
    """The task body: one signed job per online active agent, offline ones counted.
    Idempotent: a redelivered task finds the question already sent."""
    from .services import jobs_create

    query = LiveQuery.objects.select_for_update().filter(pk=query_id).first()
    if query is None or query.targeted or query.offline or query.jobs.exists():
        return query
    now = timezone.now()
    if query.expires_at <= now:
        return query
    online, offline = [], 0
    for pk, is_online in Agent.objects.filter(revoked_at__isnull=True).values_list(
            "pk", "online"):
        if is_online:
            online.append(Agent(pk=pk))
        else:
            offline += 1
    if online:
        jobs_create(agents=online, kind="query", action=query.kind, params=query.params,
                    ttl=query.expires_at - now, live_query=query)
    query.targeted, query.offline = len(online), offline
    query.save(update_fields=["targeted", "offline"])
    return query


@dataclass
class Progress:
    targeted: int
    answered: int
    matched: int
    refused: int
    offline: int
    expired: bool
    matched_rows: list[LiveAnswer] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return max(0, self.targeted - self.answered)

    @property
    def dispatched(self) -> bool:
        return bool(self.targeted or self.offline)

    @property
    def done(self) -> bool:
        """Nothing more will arrive: everyone asked answered, or the question expired."""
        return self.expired or (self.dispatched and self.waiting == 0)

    def as_dict(self) -> dict[str, Any]:
        return {"targeted": self.targeted, "answered": self.answered,
                "matched": self.matched, "refused": self.refused, "offline": self.offline,
                "waiting": self.waiting, "expired": self.expired, "done": self.done}


def live_query_progress(query: LiveQuery, *, rows: int = MATCHED_SHOWN) -> Progress:
    """Counts (one query) and the first ``rows`` matched answers with their devices."""
    counts = LiveAnswer.objects.filter(query=query).aggregate(
        answered=Count("pk"), matched=Count("pk", filter=Q(matched=True)),
        refused=Count("pk", filter=Q(detail__has_key="refused")))
    matched_rows = list(
        LiveAnswer.objects.filter(query=query, matched=True)
        .select_related("agent", "agent__device").order_by("agent__hostname", "agent_id")
        [:rows]) if rows and counts["matched"] else []
    return Progress(targeted=query.targeted, answered=counts["answered"],
                    matched=counts["matched"], refused=counts["refused"],
                    offline=query.offline, expired=query.expires_at <= timezone.now(),
                    matched_rows=matched_rows)


# --- Refresh now ---------------------------------------------------------------------

@transaction.atomic
@as_actor
def snapshot_request(*, actor: Any, agent: Agent) -> Inventory:
    """Ask one agent for a live snapshot (processes, services, sessions): the worker
    signs the job after the commit; the device page polls until it arrives."""
    require_permission(actor, VIEW)
    if agent.revoked_at is not None:
        raise DomainError(_("This agent is revoked: it will not answer."), code="revoked",
                          fields={"agent": [_("Revoked.")]})
    now = timezone.now()
    inventory, _created = Inventory.objects.select_for_update().get_or_create(agent=agent)
    requested = inventory.snapshot_requested_at
    if requested and now - requested < SNAPSHOT_DEBOUNCE and not (
            inventory.snapshot_at and inventory.snapshot_at >= requested):
        return inventory  # a double click: the first request is on its way
    inventory.snapshot_requested_at = now
    inventory.save(update_fields=["snapshot_requested_at"])
    audit_record(action=AuditAction.ACCESS, target=agent,
                 changes={"snapshot_requested_at": [None, now.isoformat()]},
                 message=_("Live snapshot requested"))
    agent_id = str(agent.pk)

    def ask() -> None:
        from .tasks import request_snapshot

        request_snapshot.delay(agent_id)

    transaction.on_commit(ask)
    return inventory


def snapshot_waiting(inventory: Inventory | None) -> bool:
    """A snapshot was asked for, has not arrived, and may still arrive."""
    if inventory is None or inventory.snapshot_requested_at is None:
        return False
    requested = inventory.snapshot_requested_at
    if inventory.snapshot_at is not None and inventory.snapshot_at >= requested:
        return False
    return timezone.now() - requested < SNAPSHOT_WAIT
