"""The SLA engine: timers follow their tickets, and the tick fires thresholds.

``ticket_observer`` runs inside the transaction of every ticket change (registered with
``tickets.services.register_ticket_observer``), so timers commit or roll back with the
change that moved them, at the change's own instant. It reconciles the ticket's timers
with what applies now:

- for each kind of agreement (SLA, OLA, underpinning contract) the first active one whose
  conditions match covers the ticket. When that changes (a new priority, service,
  group…) the old timer is cancelled with the reason and the new target is measured from
  the old timer's start with the same pauses: nothing lost, nothing counted twice;
- a target's cancel, stop, pause and reset conditions are checked against the ticket's
  state (``state`` or ``state:hold_reason``) and changed fields; a timer stopped by a
  state resumes when the ticket is reopened, the time in between counted as paused;
- first response stops at the first public reply, or the first assignment taken, by a
  person of the assigned team (not by the system or automatic routing); next update
  starts at a caller's public reply and stops at the desk's next public reply.

``timers_tick`` claims timers whose ``next_check_at`` has passed (``SKIP LOCKED`` on
PostgreSQL), fires the threshold reached (once: ``Firing`` is unique per timer and
percent) and schedules the next check. Its cost follows the number of timers due. When
several thresholds were reached since the last check (beat was down), only the highest
acts; the others are recorded as skipped and never sent late.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from itsm.config_cache import versions_pinned

from .calendar import NoWorkingTime, deadline, elapsed, is_working, next_working_instant
from .definitions import BREACH, PlannedAgreement, PlannedTarget, agreements, calendar_spec
from .definitions import planned_target as planned_target_of
from .models import (
    ACTIVE_TIMER_STATES,
    AgreementKind,
    Firing,
    Metric,
    Timer,
    TimerEvent,
    TimerState,
)

logger = logging.getLogger(__name__)

# Timers claimed per transaction: small enough that a burst of breaches commits (and
# shows) batch by batch while another worker takes the next one (bench/sla.py).
TICK_BATCH = 100
STOPPED_STATES = (TimerState.MET, TimerState.MISSED)


def ticket_type_of(ticket: Any) -> str:
    return ticket._meta.model_name


def covered(ticket: Any) -> bool:
    """Whether any active agreement is about this type of ticket."""
    ticket_type = ticket_type_of(ticket)
    return any(a.ticket_type == ticket_type for kind in agreements().values() for a in kind)


# --- Matching -------------------------------------------------------------------------

def agreement_for(ticket: Any, kind: str) -> tuple[PlannedAgreement | None, str]:
    """The first active agreement of ``kind`` covering ``ticket``, and why."""
    ticket_type = ticket_type_of(ticket)
    caller = None
    for agreement in agreements().get(kind, ()):
        if agreement.needs_caller and caller is None:
            caller = ticket.requester  # read once, only when a condition needs it
        why = agreement.matches(ticket, ticket_type, caller)
        if why is not None:
            return agreement, why
    return None, ""


# --- Reconciling a ticket's timers ----------------------------------------------------

def ticket_observer(event: str, ticket: Any, details: dict[str, Any]) -> None:
    """The observer registered with the ticket services."""
    if event == "created" and not covered(ticket):
        return  # no agreement, and a new ticket has no timers yet
    timers_reconcile(ticket, event, details, at=timezone.now())


def _tokens(ticket: Any) -> set[str]:
    hold = getattr(ticket, "hold_reason", "") or ""
    return {ticket.state, f"{ticket.state}:{hold}"} if hold else {ticket.state}


def _is_team_person(ticket: Any, actor_id: int | None) -> bool:
    """A person (not the system) of the ticket's assignment group; with no group, any
    desk person other than the caller."""
    from accounts.models import TeamMembership

    if actor_id is None or actor_id == ticket.requester_id:
        return False
    if ticket.assignment_group_id:
        return TeamMembership.objects.filter(team_id=ticket.assignment_group_id,
                                             user_id=actor_id).exists()
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first()
    return actor is not None and actor.has_perm("accounts.access_desk")


def _new_value(changes: dict[str, Any], name: str) -> Any:
    value = changes.get(name)
    return value[1] if isinstance(value, list | tuple) and len(value) == 2 else None


@dataclass(frozen=True)
class _Clock:
    """A timer's pauses, carried over to the timer that replaces it."""

    paused_intervals: list[list[str]]
    paused_since: dt.datetime | None
    pause_reason: str

    @classmethod
    def of(cls, timer: Timer) -> _Clock:
        return cls(list(timer.paused_intervals), timer.paused_since, timer.pause_reason)


class _Reconcile:
    """One reconciliation: the ticket's timers loaded once, changes collected, written
    at the end."""

    def __init__(self, ticket: Any, event: str, details: dict[str, Any], at: dt.datetime):
        self.ticket, self.event, self.details, self.at = ticket, event, details, at
        self.actor_id = details.get("actor_id")
        self.changes = details.get("changes") or {}
        self.content_type = ContentType.objects.get_for_model(ticket)
        self.tokens = _tokens(ticket)
        self.created: list[Timer] = []
        self.touched: dict[int, Timer] = {}
        self.events: list[tuple[Timer, str, str]] = []
        self._responded: bool | None = None
        if event == "created":
            self.timers: list[Timer] = []
        else:
            self.timers = list(Timer.objects.select_for_update().filter(
                content_type=self.content_type, object_id=ticket.pk).order_by("id"))

    # Facts about the event.
    def responded(self) -> bool:
        """A public reply, or an assignment taken, by a person of the assigned team."""
        if self._responded is None:
            reply = self.event == "commented" and not self.details.get("internal")
            taken = self.event == "updated" and _new_value(self.changes, "assignee")
            self._responded = bool(reply or taken) and _is_team_person(self.ticket,
                                                                        self.actor_id)
        return self._responded

    def caller_replied(self) -> bool:
        return (self.event == "commented" and not self.details.get("internal")
                and self.actor_id is not None and self.actor_id == self.ticket.requester_id)

    def desk_replied(self) -> bool:
        return (self.event == "commented" and not self.details.get("internal")
                and self.actor_id is not None and self.actor_id != self.ticket.requester_id)

    # Timers.
    def live(self, kind: str, metric: str) -> Timer | None:
        for timer in self.timers:
            if timer.kind == kind and timer.metric == metric and timer.is_active:
                return timer
        return None

    def history(self, kind: str, metric: str) -> list[Timer]:
        return [t for t in self.timers if t.kind == kind and t.metric == metric]

    def note(self, timer: Timer, kind: str, detail: str = "") -> None:
        self.events.append((timer, kind, detail))
        if timer.pk:
            self.touched[timer.pk] = timer

    def start(self, target: PlannedTarget, agreement: PlannedAgreement, why: str, *,
              started_at: dt.datetime, carried: _Clock | None = None) -> Timer:
        timer = Timer(
            content_type=self.content_type, object_id=self.ticket.pk,
            agreement_id=agreement.id, target_id=target.id, kind=agreement.kind,
            metric=target.metric, state=TimerState.RUNNING, started_at=started_at,
            goal_seconds=target.goal_seconds, calendar_id=target.calendar_id,
            reason=why[:300])
        if carried is not None:  # the same clock, measured against the new target
            timer.paused_intervals = list(carried.paused_intervals)
            timer.paused_since = carried.paused_since
            timer.pause_reason = carried.pause_reason
            if carried.paused_since is not None:
                timer.state = TimerState.PAUSED
        self.timers.append(timer)
        self.created.append(timer)
        self.note(timer, "started", why)
        return timer

    def cancel(self, timer: Timer, reason: str) -> None:
        self._close_pause(timer)
        timer.state = TimerState.CANCELLED
        timer.cancelled_reason = reason[:300]
        timer.stopped_at = self.at
        self.note(timer, "cancelled", reason)

    def stop(self, timer: Timer, cause: str) -> None:
        self._close_pause(timer)
        due = self._due(timer)
        missed = due is not None and self.at > due
        timer.state = TimerState.MISSED if missed else TimerState.MET
        timer.stopped_at = self.at
        timer.stop_cause = cause
        if missed and timer.breached_at is None:
            timer.breached_at = due
        self.note(timer, "stopped", _("missed") if missed else _("met"))

    def pause(self, timer: Timer, reason: str) -> None:
        if timer.state == TimerState.PAUSED:
            return
        timer.state = TimerState.PAUSED
        timer.paused_since = self.at
        timer.pause_reason = reason[:60]
        self.note(timer, "paused", reason)

    def resume(self, timer: Timer, detail: str = "") -> None:
        self._close_pause(timer)
        timer.state = TimerState.RUNNING
        self.note(timer, "resumed", detail)

    def reopen(self, timer: Timer) -> None:
        """A timer stopped by the ticket's state runs on; the stopped time is a pause."""
        if timer.stopped_at is not None and timer.stopped_at < self.at:
            timer.paused_intervals = [*timer.paused_intervals,
                                      [timer.stopped_at.isoformat(), self.at.isoformat()]]
        timer.state = TimerState.RUNNING
        timer.stopped_at = None
        timer.stop_cause = ""
        self.note(timer, "resumed", _("reopened"))

    def _close_pause(self, timer: Timer) -> None:
        if timer.paused_since is not None:
            if timer.paused_since < self.at:
                timer.paused_intervals = [
                    *timer.paused_intervals,
                    [timer.paused_since.isoformat(), self.at.isoformat()]]
            timer.paused_since = None
            timer.pause_reason = ""

    def _due(self, timer: Timer) -> dt.datetime | None:
        try:
            return deadline(calendar_spec(timer.calendar_id), timer.started_at,
                            timer.goal_seconds, timer.pauses(), timer.paused_since)
        except NoWorkingTime:
            return None

    # The rules.
    def run(self) -> None:
        for kind in AgreementKind.values:
            agreement, why = agreement_for(self.ticket, kind)
            for metric in Metric.values:
                target = agreement.targets.get(metric) if agreement else None
                timer = self.live(kind, metric)
                if timer is not None and (target is None or timer.target_id != target.id):
                    reason = (_("Now covered by %(name)s") % {"name": agreement.name}
                              if target is not None else
                              _("No agreement of this kind applies any more"))
                    clock = _Clock.of(timer)  # before the cancel closes an open pause
                    self.cancel(timer, reason)
                    if target is not None:
                        timer = self.start(target, agreement, why, started_at=timer.started_at,
                                           carried=clock)
                    else:
                        timer = None
                elif timer is None and target is not None:
                    timer = self._maybe_start(target, agreement, why)
                if timer is not None and target is not None:
                    self._apply_conditions(timer, target, agreement, why)

    def _maybe_start(self, target: PlannedTarget, agreement: PlannedAgreement,
                     why: str) -> Timer | None:
        history = self.history(agreement.kind, target.metric)
        if target.metric == Metric.NEXT_UPDATE:
            return (self.start(target, agreement, why, started_at=self.at)
                    if self.caller_replied() else None)
        stopped = [t for t in history if t.state in STOPPED_STATES]
        if stopped:
            last = stopped[-1]
            if (last.target_id == target.id and last.stop_cause == "state"
                    and not self.tokens & (target.stop_on | target.cancel_on)):
                self.reopen(last)
                return last
            return None  # measured already
        if target.start_on and not self.tokens & target.start_on:
            return None  # its start condition has not been reached yet
        if target.start_on and not history:
            return self.start(target, agreement, why, started_at=self.at)
        if any(t.state == TimerState.CANCELLED for t in history) and self.event != "created":
            # A target applies again after none did: the clock from the ticket's start,
            # with the pauses the last timer knew.
            last = history[-1]
            timer = self.start(target, agreement, why, started_at=self.ticket.created_at,
                               carried=_Clock.of(last))
            return timer
        return self.start(target, agreement, why, started_at=self.ticket.created_at)

    def _apply_conditions(self, timer: Timer, target: PlannedTarget,
                          agreement: PlannedAgreement, why: str) -> None:
        if not timer.is_active:
            return
        if self.tokens & target.cancel_on:
            self.cancel(timer, _("The ticket was %(state)s") % {"state": self.ticket.state})
            return
        if target.metric == Metric.FIRST_RESPONSE and self.responded():
            self.stop(timer, "response")
            return
        if target.metric == Metric.NEXT_UPDATE and self.desk_replied():
            self.stop(timer, "response")
            return
        if self.tokens & target.stop_on:
            self.stop(timer, "state")
            return
        changed = set(self.changes) & set(target.reset_on)
        if changed and timer.pk:
            self.cancel(timer, _("Started again: %(fields)s changed") % {
                "fields": ", ".join(sorted(changed))})
            timer = self.start(target, agreement, why, started_at=self.at)
        paused_by = sorted(self.tokens & target.pause_on)
        if paused_by:
            self.pause(timer, paused_by[-1])
        elif timer.state == TimerState.PAUSED:
            self.resume(timer)

    def save(self) -> None:
        for timer in [*self.created, *self.touched.values()]:
            schedule(timer)
        # Cancelled and stopped rows first: the new live timer may take their place.
        for timer in self.touched.values():
            timer.save()
        Timer.objects.bulk_create(self.created)
        TimerEvent.objects.bulk_create(
            TimerEvent(timer=timer, at=self.at, kind=kind, detail=detail[:300],
                       actor_id=self.actor_id)
            for timer, kind, detail in self.events)
        live = [t for t in self.timers if t.is_active]
        _summarise(self.ticket, type(self.ticket), self.ticket.pk, live)


def _summarise(ticket: Any, model: Any, pk: int, live: list[Timer]) -> None:
    """The ticket's ``sla_due_at`` and ``sla_warned`` (the queues sort and filter on
    them), from its live timers."""
    dues = [t.due_at for t in live if t.state == TimerState.RUNNING and t.due_at]
    due = min(dues) if dues else None
    warned = max((t.warned_percent for t in live), default=0)
    if ticket is not None and (ticket.sla_due_at, ticket.sla_warned) == (due, warned):
        return
    model.objects.filter(pk=pk).update(sla_due_at=due, sla_warned=warned)
    if ticket is not None:
        ticket.sla_due_at, ticket.sla_warned = due, warned


def timers_reconcile(ticket: Any, event: str, details: dict[str, Any],
                     at: dt.datetime | None = None) -> None:
    """Bring the ticket's timers in line with the ticket after ``event``."""
    work = _Reconcile(ticket, event, details, at or timezone.now())
    work.run()
    if work.events:
        work.save()


def timers_backfill(ticket: Any, now: dt.datetime | None = None) -> list[Timer]:
    """Measure a ticket that existed before its agreements (an organisation adopting
    SLAs, the demo): from its opening; first response met at its first response or
    acknowledgement, resolution at its resolution; a cancelled ticket's timers cancelled;
    a ticket on hold for a pausing reason paused since its last update. Pauses before
    that are not known and not counted. Does nothing if the ticket has timers already."""
    now = now or timezone.now()
    content_type = ContentType.objects.get_for_model(ticket)
    if Timer.objects.filter(content_type=content_type, object_id=ticket.pk).exists():
        return []
    tokens = _tokens(ticket)
    made: list[Timer] = []
    for kind in AgreementKind.values:
        agreement, why = agreement_for(ticket, kind)
        if agreement is None:
            continue
        for target in agreement.targets.values():
            if target.metric == Metric.NEXT_UPDATE:
                continue  # starts with a caller's reply, which is not replayed
            timer = Timer(content_type=content_type, object_id=ticket.pk,
                          agreement_id=agreement.id, target_id=target.id, kind=kind,
                          metric=target.metric, started_at=ticket.created_at,
                          goal_seconds=target.goal_seconds, calendar_id=target.calendar_id,
                          reason=why[:300])
            if target.start_on and not tokens & target.start_on:
                continue  # not started: its start state is not the ticket's now
            if target.start_on:
                timer.started_at = max(ticket.updated_at, ticket.created_at)
            responded = (getattr(ticket, "first_response_at", None)
                         or getattr(ticket, "acknowledged_at", None))
            stop = responded if target.metric == Metric.FIRST_RESPONSE else None
            if tokens & target.stop_on:
                stop = min(filter(None, [stop, ticket.resolved_at or ticket.closed_at or now]))
            if tokens & target.cancel_on:
                timer.state, timer.stopped_at = TimerState.CANCELLED, ticket.closed_at or now
                timer.cancelled_reason = _("The ticket was %(state)s") % {"state": ticket.state}
            elif stop is not None and stop <= now:
                due = threshold_instant(timer, BREACH)
                missed = due is not None and stop > due
                timer.state = TimerState.MISSED if missed else TimerState.MET
                timer.stopped_at = stop
                timer.stop_cause = "response" if stop == responded else "state"
                timer.breached_at = due if missed else None
            elif tokens & target.pause_on:
                timer.state = TimerState.PAUSED
                timer.paused_since = max(ticket.updated_at, ticket.created_at)
                timer.pause_reason = sorted(tokens & target.pause_on)[-1]
            schedule(timer)
            made.append(timer)
    Timer.objects.bulk_create(made)
    _summarise(ticket, type(ticket), ticket.pk, [t for t in made if t.is_active])
    return made


# --- Scheduling -----------------------------------------------------------------------

def threshold_instant(timer: Timer, percent: int) -> dt.datetime | None:
    """When the timer reaches ``percent`` of its goal (None while paused before it)."""
    return deadline(calendar_spec(timer.calendar_id), timer.started_at,
                    timer.goal_seconds * percent / 100, timer.pauses(), timer.paused_since)


def schedule(timer: Timer) -> None:
    """``due_at`` and the next check, from the timer's clock and its target."""
    if timer.state == TimerState.CANCELLED:
        timer.next_check_at = timer.next_percent = None
        return
    try:
        timer.due_at = threshold_instant(timer, BREACH)  # None while paused before it
    except NoWorkingTime:
        timer.due_at = None
    if timer.state != TimerState.RUNNING:
        timer.next_check_at = timer.next_percent = None
        return
    target = planned_target_of(timer.target_id)
    percents = [t.percent for t in target.thresholds] if target else [BREACH]
    upcoming = [p for p in percents if p > timer.warned_percent]
    if not upcoming:
        timer.next_check_at = timer.next_percent = None
        return
    try:
        timer.next_check_at = threshold_instant(timer, upcoming[0])
    except NoWorkingTime:
        timer.next_check_at = None
    timer.next_percent = upcoming[0] if timer.next_check_at else None


# --- The tick -------------------------------------------------------------------------

def timers_tick(now: dt.datetime | None = None, batch: int = TICK_BATCH) -> dict[str, int]:
    """Fire what is due: thresholds reached and actions that waited for working hours.
    Each batch is its own transaction; rows another worker holds are skipped."""
    now = now or timezone.now()
    counts = {"checked": 0, "fired": 0, "skipped": 0, "actions": 0}
    while True:
        with transaction.atomic(), versions_pinned():
            due = list(Timer.objects.filter(next_check_at__lte=now, state=TimerState.RUNNING)
                       .order_by("next_check_at")
                       .select_for_update(skip_locked=True)[:batch])
            for timer in due:
                _check(timer, now, counts)
        counts["checked"] += len(due)
        if len(due) < batch:
            break
    while True:
        with transaction.atomic(), versions_pinned():
            waiting = list(Firing.objects.filter(actions_due_at__lte=now,
                                                 actions_done_at__isnull=True)
                           .select_related("timer").order_by("actions_due_at")
                           .select_for_update(skip_locked=True, of=("self",))[:batch])
            for firing in waiting:
                _act(firing, now)
        counts["actions"] += len(waiting)
        if len(waiting) < batch:
            break
    return counts


def _check(timer: Timer, now: dt.datetime, counts: dict[str, int]) -> None:
    target = planned_target_of(timer.target_id)
    thresholds = target.thresholds if target else ()
    reached = []
    for threshold in thresholds:
        if threshold.percent <= timer.warned_percent:
            continue
        at = threshold_instant(timer, threshold.percent)
        if at is None or at > now:
            break
        reached.append((threshold.percent, at))
    if not reached:
        schedule(timer)  # checked early (the clock moved): look again when it is due
        timer.save(update_fields=["due_at", "next_check_at", "next_percent", "updated_at"])
        return
    top, top_at = reached[-1]
    firings = _record(timer, reached, top, target, now)
    timer.warned_percent = top
    if top >= BREACH and timer.breached_at is None:
        timer.breached_at = top_at
    schedule(timer)
    timer.save(update_fields=["warned_percent", "breached_at", "due_at", "next_check_at",
                              "next_percent", "updated_at"])
    _summarise_in_database(timer)
    counts["skipped"] += sum(f.skipped for f in firings)
    fired = [f for f in firings if not f.skipped]
    counts["fired"] += len(fired)
    for firing in fired:
        if firing.actions_done_at is not None:
            continue  # a threshold without actions: recorded, nothing to run
        threshold = target.threshold(firing.percent) if target else None
        spec = calendar_spec(timer.calendar_id)
        if threshold is not None and threshold.working_hours_only and not is_working(spec, now):
            firing.actions_due_at = next_working_instant(spec, now)
            firing.save(update_fields=["actions_due_at"])
            continue
        _act(firing, now)


def _record(timer: Timer, reached: list[tuple[int, dt.datetime]], top: int,
            target: PlannedTarget | None, now: dt.datetime) -> list[Firing]:
    """The thresholds reached, written once each: a row another worker or an earlier
    delivery wrote already is left alone and not acted on. On PostgreSQL one statement
    (``ON CONFLICT DO NOTHING RETURNING``); elsewhere an insert per row in a savepoint."""
    def done(percent: int) -> dt.datetime | None:
        """Nothing left to do: passed over, or a threshold without actions."""
        threshold = target.threshold(percent) if target else None
        if percent != top or threshold is None or not threshold.actions:
            return now
        return None

    rows = [Firing(timer=timer, percent=percent, reached_at=at, skipped=percent != top,
                   actions_done_at=done(percent)) for percent, at in reached]
    if connection.vendor == "postgresql":
        written_at = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Firing._meta.db_table} (timer_id, percent, reached_at, "
                "fired_at, skipped, actions_done_at, outcome) VALUES "
                + ", ".join(["(%s, %s, %s, %s, %s, %s, '[]'::jsonb)"] * len(rows))
                + " ON CONFLICT (timer_id, percent) DO NOTHING RETURNING id, percent",
                [value for row in rows for value in (
                    timer.pk, row.percent, row.reached_at, written_at, row.skipped,
                    row.actions_done_at)])
            written = dict((percent, pk) for pk, percent in cursor.fetchall())
        for row in rows:
            row.pk, row.fired_at = written.get(row.percent), written_at
        return [row for row in rows if row.pk is not None]
    written = []
    for row in rows:
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:  # fired already (another worker, a redelivered task)
            continue
        written.append(row)
    return written


def _summarise_in_database(timer: Timer) -> None:
    """``_summarise`` for a ticket whose other timers are not loaded: one UPDATE."""
    live = Timer.objects.filter(content_type_id=timer.content_type_id,
                                object_id=OuterRef("pk"), state__in=ACTIVE_TIMER_STATES)
    earliest = live.filter(state=TimerState.RUNNING).order_by().values("object_id").annotate(
        due=Min("due_at")).values("due")
    highest = live.order_by().values("object_id").annotate(
        warned=Max("warned_percent")).values("warned")
    model = ContentType.objects.get_for_id(timer.content_type_id).model_class()
    model.objects.filter(pk=timer.object_id).update(
        sla_due_at=Subquery(earliest), sla_warned=Coalesce(Subquery(highest), 0))


def _act(firing: Firing, now: dt.datetime) -> None:
    from .actions import threshold_actions_run

    target = planned_target_of(firing.timer.target_id)
    threshold = target.threshold(firing.percent) if target else None
    firing.outcome = threshold_actions_run(firing, threshold) if threshold else []
    firing.actions_done_at = timezone.now()  # when they ran (the tick began at ``now``)
    firing.save(update_fields=["outcome", "actions_done_at"])


# --- Reading --------------------------------------------------------------------------

def timers_of(ticket: Any) -> list[Timer]:
    return list(Timer.objects.filter(
        content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk)
        .select_related("agreement", "target", "calendar").order_by("kind", "metric", "-id"))


def progress(timer: Timer, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the ticket page shows of a timer at ``now``: business time used and left,
    the share of the goal and the colour band of the thresholds passed."""
    now = now or timezone.now()
    end = timer.stopped_at if not timer.is_active and timer.stopped_at else now
    try:
        used = elapsed(calendar_spec(timer.calendar_id), timer.started_at, end,
                       timer.pauses(), timer.paused_since)
    except NoWorkingTime:
        used = 0.0
    share = used / timer.goal_seconds * 100 if timer.goal_seconds else 100.0
    return {"used_seconds": used, "left_seconds": timer.goal_seconds - used,
            "percent": share, "band": band(share)}


def band(percent: float) -> str:
    if percent >= BREACH:
        return "breached"
    if percent >= 75:
        return "danger"
    if percent >= 50:
        return "warning"
    return "ok"


def live_timers(tickets: Iterable[Any]) -> dict[int, list[Timer]]:
    tickets = list(tickets)
    if not tickets:
        return {}
    content_type = ContentType.objects.get_for_model(tickets[0])
    found: dict[int, list[Timer]] = {}
    for timer in Timer.objects.filter(content_type=content_type,
                                      object_id__in=[t.pk for t in tickets],
                                      state__in=ACTIVE_TIMER_STATES):
        found.setdefault(timer.object_id, []).append(timer)
    return found
