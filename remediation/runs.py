"""Runs: start (checked, then written in bulk), dispatch wave by wave on the ``dispatch``
queue, follow the executions as the fleet reports their jobs, stop a wave that fails too
often, continue or cancel, and post the summary on the ticket.

The database is the truth. A wave is sent inside one transaction with its signed jobs, so
a worker killed mid-dispatch leaves the wave unsent and the sweep sends it again; an
execution's id is its job's id, so a repeated result is the same result; the agent keeps
the ids it ran, so nothing runs twice."""

from __future__ import annotations

import datetime
import math
import uuid
from collections import Counter
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.services import require_permission
from audit.context import acting_as_system, as_actor
from audit.models import AuditAction
from audit.services import audit_record
from fleet import bulk
from fleet.models import JobState
from fleet.signals import JobChange
from itsm.errors import DomainError

from . import targets as targeting
from .authority import Authority, authority_check
from .models import (
    FAILED_EXECUTION_STATES,
    PENDING_EXECUTION_STATES,
    ActionVersion,
    Execution,
    ExecutionState,
    Rollout,
    Run,
    RunState,
    Wave,
    WaveState,
)
from .services import params_validate, version_runnable

RUN = "remediation.run_action"
DEFAULT_EXPIRY = datetime.timedelta(hours=1)
MAX_EXPIRY = datetime.timedelta(days=7)


def _refuse(field_name: str, message: str, code: str = "invalid") -> DomainError:
    return DomainError(message, code=code, fields={field_name: [message]})


def authority_of(run: Run) -> Authority:
    return Authority(kind=run.authority_kind, change=run.change,
                     template_version=run.template_version, incident=run.incident,
                     problem=run.problem)


# --- Planning ---------------------------------------------------------------------------

def wave_sizes(total: int, rollout: str, *, canary_size: int | None = None,
               canary_percent: int | None = None, batch_size: int | None = None) -> list[int]:
    """The size of each wave: everything at once, or a canary then batches."""
    if total <= 0:
        return []
    if rollout == Rollout.ALL:
        return [total]
    if rollout != Rollout.WAVES:
        raise _refuse("rollout", _("The rollout is “all” or “waves”."))
    if canary_size is None and canary_percent is None:
        raise _refuse("canary_size", _("Give the canary as a number of devices or a "
                                       "percentage."))
    if canary_size is not None and (isinstance(canary_size, bool) or canary_size < 1):
        raise _refuse("canary_size", _("At least one device."))
    if canary_percent is not None and not 1 <= canary_percent <= 100:
        raise _refuse("canary_percent", _("From 1 to 100."))
    if batch_size is None or isinstance(batch_size, bool) or batch_size < 1:
        raise _refuse("batch_size", _("Give the batch size after the canary (at least 1)."))
    canary = canary_size if canary_size is not None else math.ceil(total * canary_percent / 100)
    canary = min(canary, total)
    rest = total - canary
    return [canary, *[min(batch_size, rest - start) for start in range(0, rest, batch_size)]]


def run_preview(*, version: ActionVersion, targets: Any, authority: Authority,
                params: Any = None, now: datetime.datetime | None = None,
                expires_at: datetime.datetime | None = None) -> targeting.Preview:
    """Everything the start checks, without writing: raises what is wrong with the
    request; returns who would receive it, who is offline and who is left out and why."""
    version_runnable(version)
    params_validate(version, params if params is not None else {})
    authority_check(version, authority, now)
    devices = targeting.resolve(targets, incident=authority.incident, change=authority.change,
                                problem=authority.problem)
    until = expires_at
    if authority.change is not None and authority.change.planned_end:
        until = min(filter(None, (until, authority.change.planned_end)))
    return targeting.preview(version, devices, freeze_allowed=authority.freeze_allowed,
                             allowed_classes=authority.allowed_classes, now=now, until=until)


# --- Start ------------------------------------------------------------------------------

@transaction.atomic
@as_actor
def run_start(*, actor: Any, version: ActionVersion, targets: Any, authority: Authority,
              params: Any = None, rollout: str = Rollout.ALL, canary_size: int | None = None,
              canary_percent: int | None = None, batch_size: int | None = None,
              pause_seconds: int = 0, failure_threshold: int = 10,
              expires_in: datetime.timedelta = DEFAULT_EXPIRY) -> Run:
    """Check everything, write the run with its waves and one execution per device, and
    send the first wave once committed."""
    require_permission(actor, RUN)
    version = ActionVersion.objects.select_related("action").get(pk=version.pk)
    if not (datetime.timedelta(minutes=1) <= expires_in <= MAX_EXPIRY):
        raise _refuse("expires_in", _("Deliver within 1 minute to 7 days."))
    if isinstance(failure_threshold, bool) or not 0 <= failure_threshold <= 100:
        raise _refuse("failure_threshold", _("A percentage from 0 to 100."))
    if isinstance(pause_seconds, bool) or not 0 <= pause_seconds <= 86400:
        raise _refuse("pause_seconds", _("From 0 seconds to one day."))
    now = timezone.now()
    clean = params_validate(version, params if params is not None else {})
    found = run_preview(version=version, targets=targets, authority=authority, params=clean,
                        now=now, expires_at=now + expires_in)
    if not found.eligible:
        reasons = ", ".join(f"{kind}: {n}" for kind, n in found.excluded_by_reason().items())
        raise _refuse("targets", _("No device would receive it (%(reasons)s).")
                      % {"reasons": reasons}, code="no_eligible_targets")
    sizes = wave_sizes(len(found.eligible), rollout, canary_size=canary_size,
                       canary_percent=canary_percent, batch_size=batch_size)
    incident = authority.incident
    run = Run.objects.create(
        version=version, params=clean, authority_kind=authority.kind,
        change=authority.change, template_version=authority.template_version,
        incident=incident, problem=authority.problem, targets=targets,
        excluded=found.excluded, rollout=rollout,
        canary_size=canary_size, canary_percent=canary_percent, batch_size=batch_size,
        pause_seconds=pause_seconds, failure_threshold=failure_threshold,
        resolve_incident=bool(incident is not None and version.action.resolves_incident),
        wave_count=len(sizes), expires_at=now + expires_in, started_by=actor)
    Wave.objects.bulk_create([Wave(run=run, number=number, size=size,
                                   canary=rollout == Rollout.WAVES and number == 1)
                              for number, size in enumerate(sizes, start=1)])
    rows, position = [], 0
    for number, size in enumerate(sizes, start=1):
        for device, agent in found.eligible[position:position + size]:
            rows.append((uuid.uuid4(), run.pk, number, device.pk, agent.pk,
                         ExecutionState.QUEUED, "", None))
        position += size
    _executions_write(rows)
    audit_record(action=AuditAction.CREATE, target=run, changes={
        "action": [None, str(version)], "authority": [None, authority.describe()],
        "devices": [None, len(rows)], "excluded": [None, len(found.excluded)],
        "waves": [None, sizes], "params": [None, clean]})
    _post(run, _("%(ref)s started: %(action)s on %(n)s under %(authority)s, %(waves)s. "
                 "%(excluded)s") % {
        "ref": run.reference, "action": version, "authority": authority.describe(),
        "n": ngettext("%(n)d device", "%(n)d devices", len(rows)) % {"n": len(rows)},
        "waves": ngettext("in %(n)d wave", "in %(n)d waves", len(sizes)) % {"n": len(sizes)},
        "excluded": ngettext("%(n)d device left out.", "%(n)d devices left out.",
                             len(found.excluded)) % {"n": len(found.excluded)}
        if found.excluded else ""}, actor=actor)
    _send_later(run.pk, 1)
    return run


# An execution's columns in the model's field order.
_EXECUTION_COLUMNS = ("id", "run", "wave", "device", "agent", "state", "reason", "updated_at")


def _executions_write(rows: list[tuple[Any, ...]]) -> None:
    """Thousands of executions: COPY on PostgreSQL, the ORM elsewhere."""
    if bulk.postgresql():
        bulk.copy_insert(Execution, _EXECUTION_COLUMNS, rows)
        return
    names = [Execution._meta.get_field(name).attname for name in _EXECUTION_COLUMNS]
    Execution.objects.bulk_create([Execution(**dict(zip(names, row, strict=True)))
                                   for row in rows], batch_size=2000)


def _send_later(run_id: int, number: int, countdown: int = 0) -> None:
    from .tasks import dispatch_wave

    # robust: with the broker down the wave stays due, and the sweep sends it.
    transaction.on_commit(lambda: dispatch_wave.apply_async((run_id, number),
                                                           countdown=countdown or None),
                          robust=True)


# --- Dispatch (the worker) -------------------------------------------------------------

def action_spec(version: ActionVersion) -> dict[str, Any]:
    """What the signed envelope declares for the agent to check and run (docs/agent.md)."""
    return {"type": version.kind, "builtin": version.builtin,
            "interpreter": version.interpreter, "parameters": version.parameters,
            "timeout": version.timeout_seconds, "run_as": version.run_as,
            "read_only": version.read_only, "risk": version.risk}


# A wave is signed and committed this many jobs at a time, each part nudged as it
# commits: the first agents have their jobs while the rest are still being signed (one
# transaction for 10,000 held every delivery back until the last signature). Parts of
# 2,000 took ~0.3 s each on a loaded 2-core machine, and an agent waited for its whole
# part; 500 halved the median receipt (docs/benchmarks.md, "Remediation").
DISPATCH_CHUNK = 500


def wave_dispatch(run_id: int, number: int) -> int:
    """Sign and send one wave: its executions' jobs in bulk, in parts of DISPATCH_CHUNK
    in execution id order, agents nudged after each part commits. Idempotent and
    resumable: a wave not due yet, a run no longer running or a wave already finished
    sends nothing; a wave that a killed worker left half sent gets only the executions
    after the last one sent. Returns how many jobs were written."""
    if not _wave_begin(run_id, number):
        return 0
    written = 0
    while part := _wave_send_part(run_id, number):
        written += part
    return written


@transaction.atomic
def _wave_begin(run_id: int, number: int) -> bool:
    """Check and mark the wave sending; true when it may have executions to send."""
    # "of self": PostgreSQL does not lock the nullable side of an outer join.
    run = (Run.objects.select_for_update(of=("self",)).select_related(
        "version__action", "change__template_version", "template_version__template",
        "incident", "problem").filter(pk=run_id).first())
    if run is None or run.state != RunState.RUNNING:
        return False
    wave = Wave.objects.select_for_update().filter(run=run, number=number).first()
    if wave is None or wave.state not in (WaveState.PENDING, WaveState.RUNNING):
        return False
    if wave.state == WaveState.RUNNING:  # sent in part before: the rest
        return True
    now = timezone.now()
    if wave.not_before and wave.not_before > now:
        return False
    try:
        version_runnable(run.version)
        authority_check(run.version, authority_of(run), now)
    except DomainError as error:
        _pause(run, _("Wave %(n)d was not sent: %(why)s") % {"n": number, "why": error.message})
        return False
    wave.state, wave.dispatched_at = WaveState.RUNNING, now
    wave.save(update_fields=["state", "dispatched_at"])
    run.current_wave = number
    run.save(update_fields=["current_wave"])
    if not Execution.objects.filter(run=run, wave=number,
                                    state=ExecutionState.QUEUED).exists():
        _check_wave_later(run.pk)
        return False
    return True


def _unsent(run_id: int, number: int, sent_through: Any) -> Any:
    """The wave's queued executions not sent yet: those after the last id sent."""
    found = Execution.objects.filter(run_id=run_id, wave=number, state=ExecutionState.QUEUED)
    return found.filter(pk__gt=sent_through) if sent_through is not None else found


@transaction.atomic
def _wave_send_part(run_id: int, number: int) -> int:
    """Sign and write the next part of the wave; 0 when nothing is left to send (or the
    run stopped: a cancel takes the run's lock, so no part is sent after it). Where to
    go on from is read under that lock, so two dispatchers never send the same part."""
    from fleet.services import jobs_create

    run = (Run.objects.select_for_update(of=("self",)).select_related("version__action")
           .filter(pk=run_id).first())
    if run is None or run.state != RunState.RUNNING:
        return 0
    sent_through = Wave.objects.filter(run=run, number=number).values_list(
        "sent_through", flat=True).first()
    now = timezone.now()
    if run.expires_at <= now:
        left = _unsent(run.pk, number, sent_through).update(
            state=ExecutionState.UNREACHABLE, updated_at=now,
            reason=_("The run's delivery time had passed before this wave was sent."))
        if left:
            _check_wave_later(run.pk)
        return 0
    executions = list(_unsent(run.pk, number, sent_through).order_by("pk").values_list(
        "pk", "agent_id")[:DISPATCH_CHUNK])
    if not executions:
        return 0
    version = run.version
    jobs_create(agents=[agent_id for _pk, agent_id in executions],
                ids=[pk for pk, _agent in executions], kind="action",
                action=version.action.name, version=version.version,
                script=version.script, params=run.params, spec=action_spec(version),
                expires_at=run.expires_at, as_models=False)
    Wave.objects.filter(run=run, number=number).update(sent_through=executions[-1][0])
    return len(executions)


# --- Following the jobs -----------------------------------------------------------------

_TERMINAL_FROM_STATUS = {
    "succeeded": ExecutionState.SUCCEEDED, "failed": ExecutionState.FAILED,
    "timed_out": ExecutionState.TIMED_OUT, "refused": ExecutionState.REFUSED,
    "cancelled": ExecutionState.CANCELLED}
_FINAL_STATES = [state for state in ExecutionState.values
                 if state not in PENDING_EXECUTION_STATES and state != ExecutionState.CANCELLED]


def _reason(change: JobChange, state: str) -> str:
    if state == ExecutionState.UNREACHABLE:
        if change.reason == JobState.QUEUED:
            return _("The device was offline until the run's delivery time passed.")
        return _("No result came back before the run's delivery time.")
    return change.reason[:300]


def jobs_changed(changes: list[JobChange], **_kwargs: Any) -> None:
    """The fleet moved action jobs (fleet.signals): move their executions the same way,
    in a few statements per batch, and check the waves that may be complete."""
    now = timezone.now()
    groups: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        if change.state == JobState.SENT:
            state = ExecutionState.SENT
        elif change.state == JobState.RUNNING:
            state = ExecutionState.RUNNING
        elif change.state == JobState.EXPIRED:
            state = ExecutionState.UNREACHABLE
        else:
            state = _TERMINAL_FROM_STATUS.get(change.status, ExecutionState.FAILED)
        groups.setdefault((state, _reason(change, state)), []).append(change.job_id)
    run_ids: set[int] = set()
    column = bulk.column(Execution, "state")
    for (state, reason), ids in groups.items():
        # Only forward: sent from queued, running from queued or sent, an end from any
        # state but another end (a late result after a cancel still tells what ran).
        if state == ExecutionState.SENT:
            allowed = [ExecutionState.QUEUED]
        elif state == ExecutionState.RUNNING:
            allowed = [ExecutionState.QUEUED, ExecutionState.SENT]
        else:
            allowed = [s for s in ExecutionState.values if s not in _FINAL_STATES]
        # One statement per group, however many executions (a wave of 10,000 sent); the
        # runs of the executions that ended come back from it.
        ended = bulk.update_returning(
            Execution, assignments={"state": "%s", "reason": "%s", "updated_at": "%s"},
            params=[state, reason, bulk.prep(Execution, "updated_at", now)], ids=ids,
            where=f"{column} IN ({', '.join(['%s'] * len(allowed))})",
            where_params=allowed,
            returning=("run",) if state not in PENDING_EXECUTION_STATES else ())
        run_ids.update(run_id for run_id, in ended)
    if run_ids:
        # Checked after the commit: two batches ending the same wave at once each see
        # the other's executions still pending inside their transactions, and neither
        # would move the run on; after its commit, the later one sees both.
        # robust: with the broker down the sweep moves the run on.
        transaction.on_commit(lambda: _advance_settled(run_ids), robust=True)


def _advance_settled(run_ids: set[int]) -> None:
    from .tasks import advance

    for run_id in run_ids:
        if _current_wave_settled(run_id):
            advance.delay(run_id)


def _current_wave_settled(run_id: int) -> bool:
    run = Run.objects.filter(pk=run_id).values("current_wave", "state").first()
    if run is None or run["state"] != RunState.RUNNING:
        return False
    return not Execution.objects.filter(run_id=run_id, wave=run["current_wave"],
                                        state__in=PENDING_EXECUTION_STATES).exists()


def _check_wave_later(run_id: int) -> None:
    from .tasks import advance

    # robust: results are committed; with the broker down the sweep moves the run on.
    transaction.on_commit(lambda: advance.delay(run_id), robust=True)


def progress(run: Run) -> dict[str, Any]:
    """Counts per state, overall and per wave (the live page and the API)."""
    per_wave: dict[int, Counter[str]] = {}
    for row in Execution.objects.filter(run=run).values("wave", "state").annotate(
            n=Count("pk")).order_by():
        per_wave.setdefault(row["wave"], Counter())[row["state"]] = row["n"]
    total: Counter[str] = Counter()
    for counts in per_wave.values():
        total.update(counts)
    waves = []
    for wave in run.waves.all():
        counts = per_wave.get(wave.number, Counter())
        waves.append({"number": wave.number, "size": wave.size, "canary": wave.canary,
                      "state": wave.state, "failure_percent": wave.failure_percent,
                      "counts": {state: counts.get(state, 0) for state in ExecutionState.values},
                      "done": sum(n for s, n in counts.items()
                                  if s not in PENDING_EXECUTION_STATES)})
    devices = sum(total.values())
    return {"state": run.state, "stop_reason": run.stop_reason, "devices": devices,
            "current_wave": run.current_wave, "wave_count": run.wave_count,
            "counts": {state: total.get(state, 0) for state in ExecutionState.values},
            "done": sum(n for s, n in total.items() if s not in PENDING_EXECUTION_STATES),
            "waves": waves}


def _failure_percent(counts: Counter[str]) -> float:
    considered = sum(n for state, n in counts.items() if state != ExecutionState.CANCELLED)
    failed = sum(counts.get(state, 0) for state in FAILED_EXECUTION_STATES)
    return round(100 * failed / considered, 1) if considered else 0.0


@transaction.atomic
def advance(run_id: int) -> None:
    """After results: close the current wave when every execution in it ended; stop
    the run when its failure rate passed the threshold, else schedule the next wave or
    finish. Idempotent (the worker, the sweep and repeated results may all call it)."""
    run = Run.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.state != RunState.RUNNING:
        return
    wave = Wave.objects.select_for_update().get(run=run, number=run.current_wave)
    if wave.state == WaveState.PENDING:
        if wave.not_before is None or wave.not_before <= timezone.now():
            _send_later(run.pk, wave.number)
        return
    if wave.state != WaveState.RUNNING:
        return
    counts = Counter(dict(Execution.objects.filter(run=run, wave=wave.number).values_list(
        "state").annotate(n=Count("pk")).order_by()))
    if any(counts.get(state) for state in PENDING_EXECUTION_STATES):
        return
    now = timezone.now()
    wave.failure_percent = _failure_percent(counts)
    wave.finished_at = now
    last = wave.number >= run.wave_count
    too_many = wave.failure_percent > run.failure_threshold
    wave.state = WaveState.STOPPED if too_many and not last else WaveState.DONE
    wave.save(update_fields=["state", "failure_percent", "finished_at"])
    if too_many and not last:
        failed = sum(counts.get(state, 0) for state in FAILED_EXECUTION_STATES)
        _pause(run, _("Wave %(n)d failed on %(failed)d of %(size)d devices (%(pct)s %%), above "
                      "the %(limit)d %% threshold. Continue or cancel.") % {
            "n": wave.number, "failed": failed, "size": sum(counts.values()),
            "pct": wave.failure_percent, "limit": run.failure_threshold})
        return
    if not last:
        following = Wave.objects.select_for_update().get(run=run, number=wave.number + 1)
        following.not_before = now + datetime.timedelta(seconds=run.pause_seconds)
        following.save(update_fields=["not_before"])
        run.current_wave = following.number
        run.save(update_fields=["current_wave"])
        _send_later(run.pk, following.number, countdown=run.pause_seconds)
        return
    _finish(run, RunState.COMPLETED)


def _pause(run: Run, reason: str) -> None:
    run.state, run.stop_reason = RunState.PAUSED, reason[:300]
    run.save(update_fields=["state", "stop_reason"])
    with acting_as_system(_("remediation run")):
        audit_record(action=AuditAction.TRANSITION, target=run,
                     changes={"state": [RunState.RUNNING, RunState.PAUSED]}, message=reason)
        _post(run, _("%(ref)s stopped itself. %(reason)s") % {"ref": run.reference,
                                                              "reason": reason})


def _finish(run: Run, state: str, actor: Any = None) -> None:
    before = run.state
    run.state, run.finished_at = state, timezone.now()
    run.save(update_fields=["state", "finished_at"])
    if actor is None:
        with acting_as_system(_("remediation run")):
            audit_record(action=AuditAction.TRANSITION, target=run,
                         changes={"state": [before, state]})
    transaction.on_commit(lambda: _after_finish(run.pk), robust=True)


def _after_finish(run_id: int) -> None:
    from .tasks import summarise

    summarise.delay(run_id)


# --- Decisions --------------------------------------------------------------------------

def _locked(run: Run) -> Run:
    return Run.objects.select_for_update(of=("self",)).select_related(
        "version__action", "change__template_version", "template_version__template",
        "incident", "problem").get(pk=run.pk)


@transaction.atomic
@as_actor
def run_continue(*, actor: Any, run: Run) -> Run:
    """Go on after the run stopped itself: the next wave (or the unsent one) is sent."""
    require_permission(actor, RUN)
    run = _locked(run)
    if run.state != RunState.PAUSED:
        raise _refuse("state", _("Only a stopped run continues; this one is %(state)s.")
                      % {"state": run.get_state_display().lower()}, code="not_paused")
    wave = Wave.objects.select_for_update().get(run=run, number=run.current_wave)
    if wave.state == WaveState.PENDING:
        authority_check(run.version, authority_of(run))  # why it stopped may still hold
        number = wave.number
    elif wave.number < run.wave_count:
        number = wave.number + 1
    else:
        number = 0
    run.state, run.stop_reason = RunState.RUNNING, ""
    run.save(update_fields=["state", "stop_reason"])
    audit_record(action=AuditAction.TRANSITION, target=run,
                 changes={"state": [RunState.PAUSED, RunState.RUNNING]},
                 message=_("Continued"))
    if number == 0:
        _finish(run, RunState.COMPLETED, actor)
        return run
    run.current_wave = number
    run.save(update_fields=["current_wave"])
    Wave.objects.filter(run=run, number=number).update(not_before=None)
    _send_later(run.pk, number)
    return run


@transaction.atomic
@as_actor
def run_cancel(*, actor: Any, run: Run) -> Run:
    """Stop: what was not sent never is, agents are asked to stop what they hold (their
    results still arrive and are kept), waiting waves are cancelled."""
    from fleet.services import jobs_cancel

    require_permission(actor, RUN)
    run = _locked(run)
    if run.finished:
        raise _refuse("state", _("This run is already %(state)s.")
                      % {"state": run.get_state_display().lower()}, code="finished")
    now = timezone.now()
    # Jobs first, then executions: the order the result intake locks them in.
    holding = list(Execution.objects.filter(
        run=run, state__in=PENDING_EXECUTION_STATES).exclude(
        wave__in=Wave.objects.filter(run=run, state=WaveState.PENDING).values("number"))
        .values_list("pk", flat=True))
    jobs_cancel(holding)
    not_sent = Execution.objects.filter(run=run, state=ExecutionState.QUEUED).update(
        state=ExecutionState.CANCELLED, updated_at=now,
        reason=_("Cancelled before it was sent."))
    Wave.objects.filter(run=run, state=WaveState.PENDING).update(state=WaveState.CANCELLED)
    before = run.state
    run.stop_reason = ""
    run.save(update_fields=["stop_reason"])
    audit_record(action=AuditAction.TRANSITION, target=run,
                 changes={"state": [before, RunState.CANCELLED]},
                 message=_("Cancelled: %(unsent)d not sent, %(asked)d asked to stop")
                 % {"unsent": not_sent, "asked": len(holding)})
    _finish(run, RunState.CANCELLED, actor)
    return run


# --- On the ticket ----------------------------------------------------------------------

def _tickets(run: Run) -> list[Any]:
    return [ticket for ticket in (run.incident, run.change, run.problem) if ticket is not None]


def _post(run: Run, body: str, actor: Any = None) -> None:
    """A work note on the run's incident, change and problem (the desk's timeline)."""
    from tickets.services import ticket_comment

    for ticket in _tickets(run):
        ticket_comment(ticket=ticket, actor=None, body=body, internal=True)


def summary_text(run: Run) -> str:
    data = progress(run)
    counts = data["counts"]
    parts = [ngettext("%(n)d succeeded", "%(n)d succeeded", counts["succeeded"])
             % {"n": counts["succeeded"]}]
    for state in ("failed", "timed_out", "refused", "unreachable", "cancelled"):
        if counts[state]:
            parts.append(f"{counts[state]} {ExecutionState(state).label.lower()}")
    text = _("%(ref)s %(action)s: %(state)s. %(parts)s, of %(n)d devices in %(waves)d "
             "wave(s).") % {"ref": run.reference, "action": run.version,
                            "state": run.get_state_display().lower(),
                            "parts": ", ".join(parts), "n": data["devices"],
                            "waves": run.wave_count}
    if run.excluded:
        text += " " + _("Left out at the start: %(n)d.") % {"n": len(run.excluded)}
    failed = list(Execution.objects.filter(run=run, state__in=FAILED_EXECUTION_STATES)
                  .select_related("device").order_by("device__name")[:10])
    if failed:
        text += " " + _("Failed on: %(list)s") % {"list": ", ".join(
            f"{e.device.name} ({e.get_state_display().lower()})" for e in failed)}
        if counts["failed"] + counts["timed_out"] + counts["refused"] + \
                counts["unreachable"] > len(failed):
            text += " …"
    return text


@transaction.atomic
def run_summarise(run_id: int) -> None:
    """Once finished: the summary on the ticket, then resolve the incident if the run
    was set to and succeeded on every device of the incident. Done once."""
    run = Run.objects.select_for_update(of=("self",)).select_related(
        "version__action", "incident", "change", "problem").filter(pk=run_id).first()
    if run is None or not run.finished or run.summary_posted_at is not None:
        return
    run.summary_posted_at = timezone.now()
    run.save(update_fields=["summary_posted_at"])
    with acting_as_system(_("remediation run")):  # the timeline says who wrote it
        _post(run, summary_text(run))
    if run.resolve_incident and run.state == RunState.COMPLETED:
        _resolve_incident(run)


def _resolve_incident(run: Run) -> None:
    from incidents.models import OPEN_STATES, IncidentState, ResolutionCode
    from incidents.services import incident_transition

    incident = run.incident
    if incident is None or incident.state not in OPEN_STATES:
        return
    own = {ci.pk for ci in targeting.ticket_devices(targeting._ticket_roots(incident, None))}
    executions = Execution.objects.filter(run=run)
    if own & set(executions.values_list("device_id", flat=True)):
        executions = executions.filter(device_id__in=own)
    if executions.exclude(state=ExecutionState.SUCCEEDED).exists():
        return
    with acting_as_system(_("remediation run")):
        incident_transition(actor=None, incident=incident, to_state=IncidentState.RESOLVED,
                            resolution_code=ResolutionCode.SOLVED_PERMANENTLY,
                            resolution_notes=_("Resolved by %(ref)s: %(action)s succeeded on "
                                               "every device of this incident.")
                            % {"ref": run.reference, "action": run.version})


# --- The sweep --------------------------------------------------------------------------

def sweep() -> None:
    """What a lost task, a killed worker or a lost nudge could leave behind: waves due
    but not sent, waves whose executions all ended without the run moving on, finished
    runs without their summary."""
    now = timezone.now()
    for run_id, number in Wave.objects.filter(
            run__state=RunState.RUNNING, state=WaveState.PENDING,
            number=F("run__current_wave")).exclude(not_before__gt=now).values_list(
            "run_id", "number"):
        wave_dispatch(run_id, number)
    # Waves a killed worker left half sent: the rest (the executions without a job).
    for run_id, number, sent_through in Wave.objects.filter(
            run__state=RunState.RUNNING, state=WaveState.RUNNING,
            number=F("run__current_wave")).values_list("run_id", "number", "sent_through"):
        if _unsent(run_id, number, sent_through).exists():
            wave_dispatch(run_id, number)
    for run_id in Run.objects.filter(state=RunState.RUNNING).values_list("pk", flat=True):
        if _current_wave_settled(run_id):
            advance(run_id)
    for run_id in Run.objects.filter(state__in=(RunState.COMPLETED, RunState.CANCELLED),
                                     summary_posted_at__isnull=True).values_list(
            "pk", flat=True):
        run_summarise(run_id)

