"""The one code path that changes the fleet: enrolment groups and secrets, enrolling an
agent (finding its device in the CMDB, never a duplicate), revoking it, creating signed
jobs (in the worker: only it reads the private key), and taking in what agents send
(results, inventories, presence) in batches. The channel (fleet/channel.py) calls the
intake functions; the desk and the API call the rest."""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import acting_as_system, as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from cmdb.models import CIClass
from cmdb.services import ci_find_identified
from itsm.errors import DomainError

from . import bulk, signing, tokens
from .models import (
    PENDING_JOB_STATES,
    Agent,
    EnrolmentGroup,
    EnrolmentSecret,
    Inventory,
    Job,
    JobKind,
    JobState,
    LiveAnswer,
    SigningKey,
)
from .signals import JobChange, jobs_changed

log = logging.getLogger(__name__)

MANAGE = "fleet.manage_fleet"
VIEW = "fleet.view_fleet"
JOB_TTL = datetime.timedelta(minutes=10)
MAX_FACT_LENGTH = 255


class EnrolmentRefused(Exception):
    """Why a secret was not accepted: ``code`` is the wire code (docs/agent.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --- Enrolment groups and secrets -----------------------------------------------------

@transaction.atomic
@as_actor
def enrolment_group_create(*, actor: Any, name: str, description: str = "",
                           owner_team: Any = None, tags: Iterable[Any] = ()) -> EnrolmentGroup:
    require_permission(actor, MANAGE)
    group = validated(EnrolmentGroup(name=name.strip(), description=description,
                                     owner_team=owner_team))
    group.save()
    group.tags.set(list(tags))
    audit_record(action=AuditAction.CREATE, target=group,
                 changes=diff({}, snapshot(group, ("name", "owner_team"))))
    return group


@transaction.atomic
@as_actor
def enrolment_secret_create(*, actor: Any, group: EnrolmentGroup, name: str,
                            expires_at: datetime.datetime,
                            max_uses: int | None = None) -> tuple[EnrolmentSecret, str]:
    """A new secret for ``group``: the row and the secret itself, shown once."""
    require_permission(actor, MANAGE)
    if expires_at <= timezone.now():
        raise DomainError(_("The expiry must be in the future."),
                          fields={"expires_at": [_("Choose a time in the future.")]})
    if max_uses is not None and max_uses < 1:
        raise DomainError(_("Allow at least one use, or leave the limit empty."),
                          fields={"max_uses": [_("At least 1.")]})
    raw = tokens.new_secret(tokens.SECRET_PREFIX)
    secret = validated(EnrolmentSecret(
        group=group, name=name.strip() or group.name, prefix=raw[:tokens.PREFIX_LENGTH],
        secret_hash=tokens.digest(raw), expires_at=expires_at, max_uses=max_uses,
        created_by=actor))
    secret.save()
    audit_record(action=AuditAction.CREATE, target=secret, changes=diff({}, snapshot(
        secret, ("group", "name", "prefix", "expires_at", "max_uses"))))
    return secret, raw


@transaction.atomic
@as_actor
def enrolment_secret_revoke(*, actor: Any, secret: EnrolmentSecret) -> EnrolmentSecret:
    require_permission(actor, MANAGE)
    secret = EnrolmentSecret.objects.select_for_update().get(pk=secret.pk)
    if secret.revoked_at is not None:
        raise DomainError(_("This secret is already revoked."), code="revoked",
                          fields={"secret": [_("Already revoked.")]})
    secret.revoked_at = timezone.now()
    secret.save(update_fields=["revoked_at"])
    audit_record(action=AuditAction.UPDATE, target=secret,
                 changes={"revoked_at": [None, secret.revoked_at.isoformat()]},
                 message=_("Revoked"))
    return secret


# --- Enrolling an agent ---------------------------------------------------------------

@dataclass
class Enrolled:
    agent: Agent
    token: str
    reenrolled: bool


def _fact(facts: dict[str, Any], name: str) -> str:
    value = facts.get(name) or ""
    if not isinstance(value, str):
        raise EnrolmentRefused("bad_request", _("%(name)s must be text.") % {"name": name})
    return value.strip()[:MAX_FACT_LENGTH]


def _list_fact(facts: dict[str, Any], name: str) -> list[str]:
    value = facts.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EnrolmentRefused("bad_request", _("%(name)s must be a list of text.")
                               % {"name": name})
    return [v.strip()[:MAX_FACT_LENGTH] for v in value if v.strip()]


def _secret_for(raw: str) -> EnrolmentSecret:
    if not isinstance(raw, str) or not raw.startswith(tokens.SECRET_PREFIX):
        raise EnrolmentRefused("secret_invalid", _("This enrolment secret is not valid."))
    secret = (EnrolmentSecret.objects.select_for_update().select_related("group")
              .filter(prefix=raw[:tokens.PREFIX_LENGTH]).first())
    if secret is None or not tokens.same(raw, secret.secret_hash):
        raise EnrolmentRefused("secret_invalid", _("This enrolment secret is not valid."))
    if secret.revoked_at is not None:
        raise EnrolmentRefused("secret_revoked", _("This enrolment secret was revoked."))
    if secret.expires_at <= timezone.now():
        raise EnrolmentRefused("secret_expired", _("This enrolment secret has expired."))
    if secret.max_uses is not None and secret.uses >= secret.max_uses:
        raise EnrolmentRefused("secret_exhausted",
                               _("This enrolment secret has been used up."))
    return secret


def device_os_choice(ci_class: CIClass, os_label: str) -> str | None:
    """The value of the class's "os" attribute for what the agent reported ("Ubuntu
    24.04"): the matching choice; an OS the CMDB does not list yet is added to the
    attribute's choices (audited), since the fleet reports facts."""
    from cmdb.models import AttributeDefinition

    definition = AttributeDefinition.objects.filter(ci_class=ci_class, key="os").first()
    if definition is None or not os_label:
        return None
    choices = list(definition.choices or [])
    lowered = {choice.lower(): choice for choice in choices}
    if os_label.lower() in lowered:
        return lowered[os_label.lower()]
    if definition.type == "choice":
        definition.choices = [*choices, os_label]
        definition.save(update_fields=["choices"])
        audit_record(action=AuditAction.UPDATE, target=definition,
                     changes={"choices": [choices, definition.choices]},
                     message=_("OS reported by an endpoint agent"))
    return os_label


def _device_class(os_name: str) -> CIClass:
    """Servers by their OS name, everything else a workstation."""
    server = any(word in os_name.lower() for word in ("server", "rhel", "red hat enterprise"))
    return CIClass.objects.get(key="server" if server else "workstation")


@transaction.atomic
def agent_enrol(*, secret: str, facts: dict[str, Any]) -> Enrolled:
    """Exchange an enrolment secret for an agent identity and token. The same machine
    (the CMDB identification rule) gets its existing agent and device back."""
    if not isinstance(facts, dict):
        raise EnrolmentRefused("bad_request", _("facts must be an object."))
    enrolment = _secret_for(secret)
    hostname = _fact(facts, "hostname")
    if not hostname:
        raise EnrolmentRefused("bad_request", _("The hostname is required."))
    if not _fact(facts, "os_name"):
        raise EnrolmentRefused("bad_request", _("The operating system name is required."))
    macs = _list_fact(facts, "mac_addresses")
    ips = _list_fact(facts, "ip_addresses")
    identifiers = {"serial_number": _fact(facts, "serial_number"), "hostname": hostname,
                   "domain": _fact(facts, "domain"), "mac_address": macs[0] if macs else ""}
    with acting_as_system(f"agent enrolment ({hostname})"):
        device = ci_find_identified(**identifiers)
        if device is None:
            from cmdb.services import ci_create

            os_name = " ".join(filter(None, (_fact(facts, "os_name"),
                                             _fact(facts, "os_version"))))
            ci_class = _device_class(os_name)
            os_value = device_os_choice(ci_class, os_name)
            device = ci_create(
                actor=None, name=hostname, ci_class=ci_class,
                status="operational", owner_team=enrolment.group.owner_team,
                attributes={"os": os_value} if os_value else {},
                **{k: v for k, v in identifiers.items() if v},
                **({"ip_address": ips[0]} if ips else {}))
            device.tags.add(*enrolment.group.tags.all())
        raw = tokens.new_secret(tokens.TOKEN_PREFIX)
        agent = Agent.objects.select_for_update().filter(device=device).first()
        reenrolled = agent is not None
        if agent is None:
            agent = Agent(device=device)
        agent.group = enrolment.group
        agent.token_prefix = raw[:tokens.PREFIX_LENGTH]
        agent.token_hash = tokens.digest(raw)
        agent.revoked_at = None
        agent.hostname = hostname
        agent.os_name = " ".join(filter(None, (_fact(facts, "os_name"),
                                               _fact(facts, "os_version"))))[:200]
        agent.agent_version = _fact(facts, "agent_version")[:40]
        if reenrolled:
            agent.reenrolled_at = timezone.now()
        agent.save()
        EnrolmentSecret.objects.filter(pk=enrolment.pk).update(uses=F("uses") + 1)
        audit_record(action=AuditAction.UPDATE if reenrolled else AuditAction.CREATE,
                     target=agent, changes={"device": [None, device.name],
                                            "group": [None, enrolment.group.name]},
                     message=_("Enrolled again") if reenrolled else _("Enrolled"))
    return Enrolled(agent=agent, token=raw, reenrolled=reenrolled)


def signing_keys() -> list[dict[str, str]]:
    """The public keys agents pin: the current one first."""
    keys = SigningKey.objects.order_by(F("retired_at").desc(nulls_first=True), "-created_at")
    return [{"key_id": k.key_id, "public_key": k.public_key} for k in keys]


def agents_for_tokens(raw_tokens: Sequence[str]) -> dict[str, Agent]:
    """The active agents of these tokens (one query for a whole reconnecting batch)."""
    wanted = {tokens.digest(raw): raw for raw in raw_tokens
              if isinstance(raw, str) and raw.startswith(tokens.TOKEN_PREFIX)}
    found = Agent.objects.filter(token_hash__in=wanted, revoked_at__isnull=True)
    return {wanted[agent.token_hash]: agent for agent in found}


@transaction.atomic
@as_actor
def agent_revoke(*, actor: Any, agent: Agent) -> Agent:
    """Cut the agent off: its next request is refused (401) and it stops asking."""
    require_permission(actor, MANAGE)
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    if agent.revoked_at is not None:
        raise DomainError(_("This agent is already revoked."), code="revoked",
                          fields={"agent": [_("Already revoked.")]})
    agent.revoked_at = timezone.now()
    agent.online = False
    agent.save(update_fields=["revoked_at", "online"])
    Job.objects.filter(agent=agent, state__in=PENDING_JOB_STATES).update(
        state=JobState.EXPIRED, finished_at=agent.revoked_at)
    audit_record(action=AuditAction.UPDATE, target=agent,
                 changes={"revoked_at": [None, agent.revoked_at.isoformat()]},
                 message=_("Revoked"))
    transaction.on_commit(lambda: publish_revoked([agent.pk]))
    return agent


# --- Signed jobs (worker side) ----------------------------------------------------------

def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# A new job's columns, in the model's field order (COPY on PostgreSQL, Model.from_db).
_JOB_COLUMNS = ("id", "agent", "kind", "sequence", "envelope", "signature", "key_id",
                "not_before", "expires_at", "state", "created_at", "sent_at",
                "finished_at", "result", "refusal_reason", "live_query")


@transaction.atomic
def jobs_create(*, agents: Sequence[Agent | Any], kind: str, action: str,
                params: dict[str, Any] | None = None, ttl: datetime.timedelta = JOB_TTL,
                live_query: Any = None, version: int = 1, script: str = "",
                spec: dict[str, Any] | None = None,
                ids: Sequence[uuid.UUID] | None = None,
                expires_at: datetime.datetime | None = None,
                params_each: Sequence[dict[str, Any]] | None = None,
                as_models: bool = True) -> list[Job] | list[uuid.UUID]:
    """One signed job per agent (an ``Agent`` or its id), written in bulk; agents are
    nudged after the commit. Runs where the private key is (the worker). ``ids`` gives
    the execution ids (a remediation run's execution rows, one per agent, in order);
    ``spec`` is what an action job declares (docs/agent.md); ``expires_at`` overrides
    ``ttl``; ``params_each`` gives each agent its own parameters (in order). Returns the
    jobs, or with ``as_models=False`` only their ids (a wave of 10,000 does not build
    10,000 models it never reads)."""
    if kind not in JobKind.values:
        raise ValueError(f"unknown job kind {kind}")
    import hashlib

    now = timezone.now()
    expiry = expires_at or now + ttl
    script_hash = hashlib.sha256(script.encode()).hexdigest() if script else ""
    to_uuid = Agent._meta.pk.to_python
    agent_ids = [to_uuid(agent.pk if isinstance(agent, Agent) else agent) for agent in agents]
    if ids is not None and len(ids) != len(agent_ids):
        raise ValueError("one execution id per agent")
    if params_each is not None and len(params_each) != len(agent_ids):
        raise ValueError("one set of parameters per agent")
    sequences = _next_sequences(agent_ids)
    key, key_id = signing.signer()
    # What every envelope shares, made once; each envelope is a copy with its own ids.
    common = {"v": 1, "kind": kind, "action": action, "version": version,
              "script_sha256": script_hash, "script": script, "params": params or {},
              "not_before": _iso(now), "expires_at": _iso(expiry)}
    if spec is not None:
        common["spec"] = spec
    live_query_id = live_query.pk if live_query is not None else None
    values = []
    for index, agent_id in enumerate(agent_ids):
        execution_id = to_uuid(ids[index]) if ids is not None else uuid.uuid4()
        envelope = {**common, "execution_id": str(execution_id), "agent_id": str(agent_id),
                    "sequence": sequences[index]}
        if params_each is not None:
            envelope["params"] = params_each[index]
        body = signing.canonical(envelope)
        values.append((execution_id, agent_id, kind, sequences[index], envelope,
                       signing.sign_bytes(key, body), key_id, now, expiry, JobState.QUEUED,
                       now, None, None, {}, "", live_query_id, body))
    if bulk.postgresql():
        # The canonical bytes are the envelope's JSON already: stored as they are.
        bulk.copy_insert(Job, _JOB_COLUMNS, (
            (*row[:4], row[-1].decode(), *row[5:13], "{}", *row[14:16]) for row in values))
    else:
        Job.objects.bulk_create([_job(row) for row in values], batch_size=1000)
    # The nudge carries the jobs as the agents receive them (made only when published).
    transaction.on_commit(lambda: publish_jobs(
        (str(row[1]), str(row[0]), wire_text(row[-1].decode(), row[5], key_id))
        for row in values))
    if not as_models:
        return [row[0] for row in values]
    # The rows as stored (from_db: no per-field keyword handling for thousands of them).
    names = [Job._meta.get_field(name).attname for name in _JOB_COLUMNS]
    return [Job.from_db("default", names, row[:-1]) for row in values]


def _job(row: tuple[Any, ...]) -> Job:
    names = [Job._meta.get_field(name).attname for name in _JOB_COLUMNS]
    return Job(**dict(zip(names, row[:-1], strict=True)))


def _next_sequences(agent_ids: Sequence[Any]) -> list[int]:
    """Reserve each agent's next sequence number, in the order given: one UPDATE …
    RETURNING per chunk, which locks the agents' rows until the commit (concurrent
    dispatches to the same agent get different numbers). An agent listed twice gets two
    numbers."""
    counts = Counter(agent_ids)
    by_step: dict[int, list[Any]] = {}
    for agent_id, step in counts.items():
        by_step.setdefault(step, []).append(agent_id)
    last: dict[Any, int] = {}
    to_uuid = Agent._meta.pk.to_python
    for step, chosen in by_step.items():
        last.update((to_uuid(pk), sequence) for pk, sequence in bulk.update_returning(
            Agent, assignments={"last_sequence": f"{_quoted('last_sequence')} + %s"},
            params=[step], ids=chosen, returning=("id", "last_sequence"),
            lock_in_order=True))
    missing = [agent_id for agent_id in counts if agent_id not in last]
    if missing:
        raise Agent.DoesNotExist(f"no agent {missing[0]}")
    following = {agent_id: last[agent_id] - step for agent_id, step in counts.items()}
    numbered = []
    for agent_id in agent_ids:
        following[agent_id] += 1
        numbered.append(following[agent_id])
    return numbered


def _quoted(field_name: str) -> str:
    from django.db import connection

    return connection.ops.quote_name(Agent._meta.get_field(field_name).column)


def wire_job(job: Job) -> dict[str, Any]:
    return {"envelope": job.envelope, "signature": job.signature, "key_id": job.key_id}


def _pending_jobs(agent_ids: Sequence[Any]) -> QuerySet[Job]:
    return Job.objects.filter(agent_id__in=list(agent_ids), finished_at__isnull=True,
                              state__in=PENDING_JOB_STATES,
                              expires_at__gt=timezone.now()).order_by("created_at", "sequence")


def jobs_pending(agent_ids: Sequence[Any]) -> dict[Any, list[Job]]:
    """Pending, unexpired jobs of these agents (one query), oldest first."""
    pending: dict[Any, list[Job]] = {}
    for job in _pending_jobs(agent_ids):
        pending.setdefault(job.agent_id, []).append(job)
    return pending


class WireJob(NamedTuple):
    """A pending job as it goes on the wire: ``text`` is its JSON object (envelope,
    signature, key_id; docs/agent.md)."""

    execution_id: str
    text: str
    queued: bool


def jobs_pending_wire(agent_ids: Sequence[Any]) -> dict[str, list[WireJob]]:
    """As ``jobs_pending``, by agent id (text), each job's wire text assembled around the
    envelope's stored JSON text: envelopes are never decoded and encoded again (the
    channel sends thousands at once; the agent verifies the signature over its own
    canonical form, so the stored text's key order and spacing do not matter)."""
    pending: dict[str, list[WireJob]] = {}
    rows = _pending_jobs(agent_ids).annotate(
        envelope_text=Cast("envelope", output_field=TextField())).values_list(
        "pk", "agent_id", "envelope_text", "signature", "key_id", "state")
    for pk, agent_id, envelope, signature, key_id, state in rows:
        pending.setdefault(str(agent_id), []).append(
            WireJob(str(pk), wire_text(envelope, signature, key_id), state == JobState.QUEUED))
    return pending


def wire_text(envelope: str, signature: str, key_id: str) -> str:
    """A job as the agent receives it, around the envelope's JSON text."""
    dumps = json.dumps
    return f'{{"envelope": {envelope}, "signature": {dumps(signature)}, "key_id": {dumps(key_id)}}}'


def _announce(changes: list[JobChange]) -> None:
    if changes:
        jobs_changed.send(sender=Job, changes=changes)


@transaction.atomic
def jobs_mark_sent(job_ids: Sequence[Any]) -> list[str]:
    """Queued jobs marked sent; returns the ids that were queued (a job already sent,
    answered, cancelled or expired stays as it is and is not among them)."""
    now = timezone.now()
    # One statement marks them and says which moved.
    sent = bulk.update_returning(
        Job, assignments={"state": "%s", "sent_at": "%s"},
        params=[JobState.SENT, bulk.prep(Job, "sent_at", now)], ids=job_ids,
        where=f"{bulk.column(Job, 'state')} = %s", where_params=[JobState.QUEUED],
        returning=("id", "kind"), lock_in_order=True)
    to_uuid = Job._meta.pk.to_python
    moved = [(str(to_uuid(pk)), kind) for pk, kind in sent]
    _announce([JobChange(pk, JobState.SENT) for pk, kind in moved if kind == JobKind.ACTION])
    return [pk for pk, _kind in moved]


@transaction.atomic
def jobs_started(started: Sequence[tuple[Any, Any]]) -> None:
    """(agent id, execution id) pairs the agents said they began running. Another
    agent's execution id is ignored; a job already finished stays finished."""
    wanted: dict[str, str] = {}
    for agent_id, execution_id in started:
        try:
            wanted[str(uuid.UUID(str(execution_id)))] = str(agent_id)
        except ValueError:
            continue
    if not wanted:
        return
    ours = [pk for pk, agent_id in Job.objects.filter(pk__in=list(wanted)).values_list(
        "pk", "agent_id") if wanted.get(str(pk)) == str(agent_id)]
    # One statement: running, sent_at kept or set; rows locked in id order, as results
    # and the sent marks lock them; says which moved (a finished job stays).
    sent_at = bulk.column(Job, "sent_at")
    moved = bulk.update_returning(
        Job, assignments={"state": "%s", "sent_at": f"COALESCE({sent_at}, %s)"},
        params=[JobState.RUNNING, bulk.prep(Job, "sent_at", timezone.now())], ids=ours,
        where=f"{bulk.column(Job, 'state')} IN (%s, %s)",
        where_params=[JobState.QUEUED, JobState.SENT], returning=("id", "kind"),
        lock_in_order=True)
    to_uuid = Job._meta.pk.to_python
    _announce([JobChange(str(to_uuid(pk)), JobState.RUNNING) for pk, kind in moved
               if kind == JobKind.ACTION])


@transaction.atomic
def jobs_expire() -> int:
    """Pending jobs past their expiry (a beat task)."""
    now = timezone.now()
    expired = list(Job.objects.select_for_update().filter(
        state__in=PENDING_JOB_STATES, expires_at__lte=now).values_list("pk", "kind", "state"))
    Job.objects.filter(pk__in=[pk for pk, _k, _s in expired]).update(
        state=JobState.EXPIRED, finished_at=now)
    _announce([JobChange(str(pk), JobState.EXPIRED, reason=str(state))
               for pk, kind, state in expired if kind == JobKind.ACTION])
    return len(expired)


@transaction.atomic
def jobs_cancel(job_ids: Sequence[Any]) -> list[Job]:
    """Cancel pending jobs: those not sent yet are never sent; the agents holding the
    others get a signed ``cancel`` job (all in one bulk write) that stops them if they
    run (their own result then says what happened). Returns the cancel jobs created.
    Jobs are locked in id order, as the result intake locks them."""
    now = timezone.now()
    pending = list(Job.objects.select_for_update(of=("self",)).filter(
        pk__in=list(job_ids), state__in=PENDING_JOB_STATES).select_related("agent")
        .order_by("pk"))
    Job.objects.filter(pk__in=[job.pk for job in pending]).update(
        state=JobState.CANCELLED, finished_at=now)
    _announce([JobChange(str(job.pk), JobState.CANCELLED, status="cancelled",
                         reason="cancelled") for job in pending if job.kind == JobKind.ACTION])
    holding = [job for job in pending if job.state != JobState.QUEUED]
    if not holding:
        return []
    return jobs_create(agents=[job.agent for job in holding], kind=JobKind.CANCEL,
                       action="cancel", expires_at=max(job.expires_at for job in holding),
                       params_each=[{"execution_id": str(job.pk)} for job in holding])


# --- Intake from agents (the channel calls these, in batches) -------------------------

RESULT_STATES = {"succeeded": JobState.DONE, "failed": JobState.FAILED,
                 "timed_out": JobState.FAILED, "refused": JobState.REFUSED,
                 "cancelled": JobState.CANCELLED}


@transaction.atomic
def results_record(results: Sequence[tuple[Any, dict[str, Any]]]) -> list[str]:
    """Store (agent id, result message) pairs; return the execution ids now committed
    (to acknowledge after the commit). A repeated result is the same result: a job
    already finished is acknowledged and left as it is."""
    by_id: dict[str, tuple[Any, dict[str, Any]]] = {}
    for agent_id, message in results:
        execution_id = str(message.get("execution_id") or "")
        try:
            uuid.UUID(execution_id)
        except ValueError:
            continue
        by_id[execution_id] = (agent_id, message)
    if not by_id:
        return []
    # Only the columns the intake reads (not hundreds of models with their envelopes).
    # Locked in id order, as jobs_mark_sent locks them (no deadlock between the two).
    jobs = {str(row[0]): _Held(*row) for row in Job.objects.select_for_update().filter(
        pk__in=list(by_id)).order_by("pk").values_list(
        "pk", "agent_id", "kind", "state", "sent_at", "result", "live_query_id")}
    now = timezone.now()
    stored: list[tuple[str, str, str, dict[str, Any]]] = []  # id, state, reason, result
    finished, answers, snapshots, changes = [], [], {}, []
    for execution_id, (agent_id, message) in by_id.items():
        job = jobs.get(execution_id)
        if job is None or str(job.agent_id) != str(agent_id):
            continue  # not this agent's: ignored, not acknowledged
        status = str(message.get("status") or "")
        late = job.state == JobState.CANCELLED and job.sent_at is not None and \
            job.result == {} and status in RESULT_STATES
        finished.append(execution_id)
        if job.state not in PENDING_JOB_STATES and not late:
            continue  # already stored: acknowledge again
        state = RESULT_STATES.get(status, JobState.FAILED)
        reason = str(message.get("reason") or "")[:300]
        stored.append((execution_id, state, reason, {k: message.get(k) for k in (
            "status", "exit_code", "stdout", "stderr", "duration_ms", "data")}))
        if job.kind == JobKind.ACTION:
            changes.append(JobChange(execution_id, state,
                                     status if status in RESULT_STATES else "failed", reason))
        data = message.get("data") if isinstance(message.get("data"), dict) else {}
        if state == JobState.DONE and job.kind == JobKind.SNAPSHOT:
            snapshots[job.agent_id] = data
        if job.kind == JobKind.QUERY and job.live_query_id is not None:
            answers.append(LiveAnswer(query_id=job.live_query_id, agent_id=job.agent_id,
                                      matched=bool(data.get("matched")) and
                                      state == JobState.DONE,
                                      detail=data.get("detail") or (
                                          {"refused": reason} if reason else {})))
    _jobs_store_results(stored, now)
    if answers:
        LiveAnswer.objects.bulk_create(answers, ignore_conflicts=True, batch_size=500)
    for agent_id, data in snapshots.items():
        Inventory.objects.update_or_create(agent_id=agent_id, defaults={
            "snapshot": {k: data.get(k, []) for k in ("processes", "services", "sessions")},
            "snapshot_at": now})
    _announce(changes)
    return finished


class _Held(NamedTuple):
    """A job as the result intake reads it."""

    pk: Any
    agent_id: Any
    kind: str
    state: str
    sent_at: datetime.datetime | None
    result: dict[str, Any]
    live_query_id: Any


def _jobs_store_results(stored: list[tuple[str, str, str, dict[str, Any]]],
                        now: datetime.datetime) -> None:
    """Each job's state, reason and result (and ``now`` as finished_at) in one statement:
    from arrays on PostgreSQL, the ORM's bulk_update elsewhere."""
    if not stored:
        return
    if not bulk.postgresql():
        Job.objects.bulk_update([
            Job(pk=pk, state=state, refusal_reason=reason, result=result, finished_at=now)
            for pk, state, reason, result in stored],
            ["state", "finished_at", "refusal_reason", "result"], batch_size=500)
        return
    import json

    bulk.update_from_arrays(Job, key="id", columns={
        "id": ("uuid", [row[0] for row in stored]),
        "state": ("text", [row[1] for row in stored]),
        "refusal_reason": ("text", [row[2] for row in stored]),
        "result": ("jsonb", [json.dumps(row[3]) for row in stored]),  # as JSONField does
    }, constant={"finished_at": ("timestamptz", now)})


def agents_seen(agent_ids: Iterable[Any], *, online: bool = True,
                channel: str = "") -> None:
    """Presence, written in one statement per batch (heartbeats are not audited)."""
    ids = list(agent_ids)
    if not ids:
        return
    values: dict[str, Any] = {"online": online}
    if online:
        values["last_seen_at"] = timezone.now()
        if channel:
            values["channel"] = channel
    # Rows locked in id order, as a dispatch reserving sequences locks them: two
    # statements over thousands of the same agents must not deadlock.
    bulk.update_returning(Agent, assignments={name: "%s" for name in values},
                          params=[bulk.prep(Agent, name, value)
                                  for name, value in values.items()],
                          ids=ids, returning=(), lock_in_order=True)


def agents_mark_stale(after: datetime.timedelta) -> int:
    """Agents marked online that have not been heard from for ``after``: offline."""
    return Agent.objects.filter(online=True, last_seen_at__lt=timezone.now() - after).update(
        online=False)


# --- Nudges -------------------------------------------------------------------------------

_redis_clients: dict[str, Any] = {}
NUDGE_CHANNEL = "fleet:nudge"
# A nudge carries the jobs' wire texts up to this size (every web process receives it).
NUDGE_JOBS_MAX_BYTES = 8 * 1024 * 1024
REVOKE_CHANNEL = "fleet:revoked"


def _publish(channel: str, message: Sequence[Any] | dict[str, Any]) -> None:
    """Agent ids (a list) or jobs ({"jobs": …}) on a channel the hubs listen on."""
    from django.conf import settings

    if not settings.REDIS_URL or not message:
        return  # the embedded profile's hub polls the database instead
    import redis

    client = _redis_clients.get(settings.REDIS_URL)
    if client is None:
        client = _redis_clients[settings.REDIS_URL] = redis.Redis.from_url(settings.REDIS_URL)
    if not isinstance(message, dict):
        message = [str(i) for i in message]
    try:
        client.publish(channel, json.dumps(message))
    except redis.RedisError as error:
        # The jobs are committed: the channel's database check delivers them without
        # the nudge (a lost nudge costs seconds, never a job).
        log.warning("fleet: could not publish on %s (%s)", channel, error)


def publish_nudge(agent_ids: Sequence[Any]) -> None:
    """These agents have jobs waiting: the channel fetches and sends them."""
    _publish(NUDGE_CHANNEL, agent_ids)


def publish_jobs(jobs: Iterable[tuple[str, str, str]]) -> None:
    """New jobs, (agent id, execution id, wire text) each, committed: the nudge carries
    them, so the channel marks them sent and hands them over without reading them back
    (docs/agent.md, "Nudges"). Past NUDGE_JOBS_MAX_BYTES of text (large scripts to many
    agents) the nudge names only the agents and the channel fetches the jobs."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    jobs = list(jobs)
    if not jobs:
        return
    if sum(len(text) for _agent, _execution, text in jobs) > NUDGE_JOBS_MAX_BYTES:
        _publish(NUDGE_CHANNEL, list(dict.fromkeys(agent for agent, _e, _t in jobs)))
        return
    _publish(NUDGE_CHANNEL, {"jobs": [list(job) for job in jobs]})


def publish_revoked(agent_ids: Sequence[Any]) -> None:
    _publish(REVOKE_CHANNEL, agent_ids)
