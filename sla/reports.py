"""SLA reports: the share of timers that met their target per agreement, team and
priority over a period, and the list of breaches with what is known of their cause.

Which timers count (definitions also in docs/sla.md, "Reports"): each timer once, in the
period in which its outcome became known.

- **met**: stopped in time (state ``met``), counted in the period it stopped;
- **missed**: stopped late (state ``missed``), counted in the period of its breach (the
  due time passing), not of the late stop;
- **breached, still open**: running or paused and already breached, counted in the period
  of its breach. It cannot be met any more, so it counts against the share met now
  rather than later, and later closing it does not move it to another period.

So a past period's figures do not change when its breached tickets are closed; only a
reopened ticket moves them (its met timer runs again and leaves the period it was met
in). Running timers not yet breached have no outcome and do not count. Cancelled timers
never count: a cancelled timer was replaced by another (the agreement was re-evaluated,
or the timer started again) or its ticket was cancelled.

**% met** is met / (met + missed + breached still open). Team and priority are the
ticket's now (for a closed ticket, those it was closed with); the breach list also
names the group that held the ticket at the breach.

The summary is one query whatever the number of timers: a grouped count over the timers
joined to their incidents, rolled up here into the three groupings. The breach list is
one query per page plus three for the page's incidents, group changes and warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Team
from incidents.escalation import EscalationLevel
from incidents.metrics import Period, duration_text
from incidents.models import Incident
from tickets.models import Activity, ActivityKind, Priority

from .models import Agreement, AgreementKind, Firing, Metric, Timer, TimerState

GROUPINGS = {
    "agreement": gettext_lazy("Agreement"),
    "team": gettext_lazy("Team"),
    "priority": gettext_lazy("Priority"),
}
OPEN_STATES = (TimerState.RUNNING, TimerState.PAUSED)
NOT_MET_STATES = (TimerState.MISSED, *OPEN_STATES)
KIND_ORDER = {kind: index for index, kind in enumerate(AgreementKind.values)}
METRIC_ORDER = {metric: index for index, metric in enumerate(Metric.values)}
BREACH_OUTCOMES = {"missed": gettext_lazy("missed"), "open": gettext_lazy("still open")}


# --- Which timers count ----------------------------------------------------------------

def breached_in(period: Period, tz: dt.tzinfo) -> Q:
    """Missed or still open timers whose due time passed in the period."""
    start, end = period.bounds(tz)
    return Q(state__in=NOT_MET_STATES, breached_at__gte=start, breached_at__lt=end)


def counted_in(period: Period, tz: dt.tzinfo) -> Q:
    """The timers whose outcome became known in the period (see the module docstring)."""
    start, end = period.bounds(tz)
    return Q(state=TimerState.MET, stopped_at__gte=start, stopped_at__lt=end) | breached_in(
        period, tz)


def ticket_content_type() -> ContentType:
    """Incidents are the only tickets with timers so far; the filter keeps others out."""
    return ContentType.objects.get_for_model(Incident)


# --- The summary -----------------------------------------------------------------------

@dataclass
class Counts:
    met: int = 0
    missed: int = 0
    breached_open: int = 0

    @property
    def total(self) -> int:
        return self.met + self.missed + self.breached_open

    @property
    def not_met(self) -> int:
        return self.missed + self.breached_open

    @property
    def percent_met(self) -> float | None:
        """Share met, one decimal; None when nothing counted."""
        return round(100 * self.met / self.total, 1) if self.total else None

    def add(self, other: Counts) -> None:
        self.met += other.met
        self.missed += other.missed
        self.breached_open += other.breached_open


@dataclass
class SummaryRow:
    """One group: its counts over every metric and per metric (in Metric order)."""

    key: Any
    label: str
    kind: str = ""  # agreements only: sla, ola or uc
    counts: Counts = field(default_factory=Counts)
    metrics: dict[str, Counts] = field(default_factory=dict)

    def add(self, metric: str, counts: Counts) -> None:
        self.counts.add(counts)
        self.metrics.setdefault(metric, Counts()).add(counts)

    @property
    def kind_label(self) -> str:
        return str(AgreementKind(self.kind).label) if self.kind else ""

    def metric_rows(self) -> list[tuple[str, str, Counts]]:
        """(metric, its label, counts), in Metric order."""
        return [(metric, str(Metric(metric).label), self.metrics[metric])
                for metric in sorted(self.metrics, key=METRIC_ORDER.__getitem__)]


@dataclass
class Summary:
    period: Period
    time_zone: str
    overall: SummaryRow
    by_agreement: list[SummaryRow]
    by_team: list[SummaryRow]
    by_priority: list[SummaryRow]

    def groupings(self) -> list[tuple[str, str, list[SummaryRow]]]:
        """(grouping, its label, rows) in the order the page and the CSV show them."""
        return [("agreement", str(GROUPINGS["agreement"]), self.by_agreement),
                ("team", str(GROUPINGS["team"]), self.by_team),
                ("priority", str(GROUPINGS["priority"]), self.by_priority)]


_SUMMARY_SQL = """
SELECT t.agreement_id, a.name, t.kind, t.metric, i.assignment_group_id, g.name, i.priority,
       SUM(CASE WHEN t.state = %s THEN 1 ELSE 0 END),
       SUM(CASE WHEN t.state = %s THEN 1 ELSE 0 END),
       SUM(CASE WHEN t.state IN (%s, %s) THEN 1 ELSE 0 END)
FROM {timer} t
JOIN {agreement} a ON a.id = t.agreement_id
JOIN {incident} i ON i.id = t.object_id
LEFT JOIN {team} g ON g.id = i.assignment_group_id
WHERE t.content_type_id = %s
  AND ((t.state = %s AND t.stopped_at >= %s AND t.stopped_at < %s)
       OR (t.state IN (%s, %s, %s) AND t.breached_at >= %s AND t.breached_at < %s))
GROUP BY t.agreement_id, a.name, t.kind, t.metric, i.assignment_group_id, g.name, i.priority
"""


def _summary_sql() -> str:
    # The ORM has no relation from a timer to its incident (object_id is generic): the
    # join is written out, with the tables' real names.
    quote = connection.ops.quote_name
    return _SUMMARY_SQL.format(timer=quote(Timer._meta.db_table),
                               agreement=quote(Agreement._meta.db_table),
                               incident=quote(Incident._meta.db_table),
                               team=quote(Team._meta.db_table))


def priority_label(priority: int | None) -> str:
    return str(Priority(priority).label) if priority in Priority.values else str(priority)


def sla_summary(*, period: Period, tz: dt.tzinfo | None = None) -> Summary:
    """% met per agreement, team and priority (and per metric within each) for the
    timers counted in ``period`` (days in ``tz``, the current time zone by default)."""
    tz = tz or timezone.get_current_timezone()
    start, end = (connection.ops.adapt_datetimefield_value(value)
                  for value in period.bounds(tz))
    params = [TimerState.MET, TimerState.MISSED, *OPEN_STATES, ticket_content_type().pk,
              TimerState.MET, start, end, *NOT_MET_STATES, start, end]
    with connection.cursor() as cursor:
        cursor.execute(_summary_sql(), params)
        found = cursor.fetchall()
    overall = SummaryRow(key=None, label=_("All agreements"))
    agreements: dict[int, SummaryRow] = {}
    teams: dict[int | None, SummaryRow] = {}
    priorities: dict[int, SummaryRow] = {}
    for (agreement_id, agreement_name, kind, metric, team_id, team_name, priority,
         met, missed, breached_open) in found:
        counts = Counts(int(met or 0), int(missed or 0), int(breached_open or 0))
        overall.add(metric, counts)
        agreements.setdefault(agreement_id, SummaryRow(
            key=agreement_id, label=agreement_name, kind=kind)).add(metric, counts)
        teams.setdefault(team_id, SummaryRow(
            key=team_id, label=team_name if team_id is not None else _("No team"),
        )).add(metric, counts)
        priorities.setdefault(priority, SummaryRow(
            key=priority, label=priority_label(priority))).add(metric, counts)
    return Summary(
        period=period, time_zone=str(tz), overall=overall,
        by_agreement=sorted(agreements.values(),
                            key=lambda row: (KIND_ORDER.get(row.kind, 9), row.label.lower())),
        by_team=sorted(teams.values(), key=lambda row: (row.key is None, row.label.lower())),
        by_priority=sorted(priorities.values(), key=lambda row: row.key),
    )


# --- The breach list -------------------------------------------------------------------

def breaches(*, period: Period, tz: dt.tzinfo | None = None) -> QuerySet[Timer]:
    """The timers breached in ``period`` (missed, or still open), oldest breach first,
    each with how often its target was re-evaluated before it (cancelled predecessors of
    the same ticket, kind and metric) and the last reason. ``breach_rows`` turns a page
    of them into ``Breach``es."""
    tz = tz or timezone.get_current_timezone()
    predecessors = Timer.objects.filter(
        content_type=OuterRef("content_type"), object_id=OuterRef("object_id"),
        kind=OuterRef("kind"), metric=OuterRef("metric"), state=TimerState.CANCELLED,
        id__lt=OuterRef("id"))
    return (Timer.objects.filter(breached_in(period, tz), content_type=ticket_content_type())
            .select_related("agreement")
            .annotate(
                re_evaluations=Subquery(
                    predecessors.order_by().values("object_id")
                    .annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()),
                last_re_evaluation=Subquery(
                    predecessors.order_by("-id").values("cancelled_reason")[:1]))
            .order_by("breached_at", "id"))


@dataclass
class Breach:
    """A breached timer and the facts that may explain it."""

    timer_id: int
    ticket_id: int
    number: str
    title: str
    agreement: str
    kind: str
    metric: str
    outcome: str  # "missed" (stopped late) or "open" (breached, still running or paused)
    started_at: dt.datetime
    due_at: dt.datetime
    stopped_at: dt.datetime | None
    late: dt.timedelta  # wall clock, from the due time to the stop (or now, when open)
    paused: dt.timedelta  # wall clock while the timer was paused
    pauses: int
    reassignments: int  # the ticket's functional escalations, all told
    re_evaluations: int
    last_re_evaluation: str
    escalation_level: int
    priority: int
    team_at_breach: str
    team_now: str
    warnings: list[int]  # thresholds that acted before the breach (percent)

    @property
    def kind_label(self) -> str:
        return str(AgreementKind(self.kind).label)

    @property
    def metric_label(self) -> str:
        return str(Metric(self.metric).label)

    @property
    def outcome_label(self) -> str:
        return str(BREACH_OUTCOMES[self.outcome])

    @property
    def priority_label(self) -> str:
        return priority_label(self.priority)

    @property
    def escalation_label(self) -> str:
        return str(EscalationLevel(self.escalation_level).label) \
            if self.escalation_level in EscalationLevel.values else str(self.escalation_level)

    @property
    def late_text(self) -> str:
        return duration_text(self.late)

    @property
    def paused_text(self) -> str:
        return duration_text(self.paused)

    def causes(self) -> list[str]:
        """Facts, each a short sentence; nothing guessed."""
        facts = [_("With %(team)s at the breach") % {"team": self.team_at_breach}
                 if self.team_at_breach else _("No assignment group at the breach")]
        if self.pauses:
            facts.append(ngettext("Paused once, %(time)s", "Paused %(n)d times, %(time)s",
                                  self.pauses) % {"n": self.pauses, "time": self.paused_text})
        if self.reassignments:
            facts.append(ngettext("Reassigned once", "Reassigned %(n)d times",
                                  self.reassignments) % {"n": self.reassignments})
        if self.re_evaluations:
            facts.append(ngettext(
                "Target changed once (%(why)s)", "Target changed %(n)d times (last: %(why)s)",
                self.re_evaluations) % {"n": self.re_evaluations,
                                        "why": self.last_re_evaluation})
        if self.escalation_level:
            facts.append(_("Escalation: %(level)s") % {"level": self.escalation_label})
        facts.append(_("Warned at %(percents)s") % {
            "percents": ", ".join(f"{p} %" for p in self.warnings)}
            if self.warnings else _("No warning acted before the breach"))
        return facts

    @property
    def cause(self) -> str:
        return "; ".join(self.causes())


def _paused(timer: Timer, end: dt.datetime) -> tuple[dt.timedelta, int]:
    """Wall-clock time paused up to ``end``, and how many pauses."""
    spans = [(start, min(stop, end)) for start, stop in timer.pauses()]
    if timer.paused_since is not None:
        spans.append((timer.paused_since, end))
    total = sum((stop - start for start, stop in spans if stop > start), dt.timedelta(0))
    return total, len(spans)


def _group_changes(ticket_ids: Iterable[int]) -> dict[int, list[tuple[dt.datetime, Any, Any]]]:
    """Per ticket, its assignment group changes (when, before, after), oldest first."""
    found: dict[int, list[tuple[dt.datetime, Any, Any]]] = {}
    for object_id, at, changes in (
            Activity.objects.filter(content_type=ticket_content_type(),
                                    object_id__in=list(ticket_ids),
                                    kind=ActivityKind.FIELD_CHANGE,
                                    changes__has_key="assignment_group")
            .order_by("created_at", "id").values_list("object_id", "created_at", "changes")):
        change = changes.get("assignment_group")
        if isinstance(change, list) and len(change) == 2:
            found.setdefault(object_id, []).append((at, change[0], change[1]))
    return found


def group_at(changes: list[tuple[dt.datetime, Any, Any]], at: dt.datetime,
             current: int | None) -> int | None:
    """The group holding the ticket at ``at``: after the last change before it, or
    before the first change after it, or (never changed) the current one."""
    before = [after for when, _before, after in changes if when <= at]
    if before:
        return before[-1]
    return changes[0][1] if changes else current


def breach_rows(timers: Iterable[Timer], now: dt.datetime | None = None) -> list[Breach]:
    """``Breach``es for timers from ``breaches()``: three queries whatever their number
    (four when a group at the breach is no longer the ticket's)."""
    now = now or timezone.now()
    timers = list(timers)
    if not timers:
        return []
    ticket_ids = {timer.object_id for timer in timers}
    incidents = Incident.objects.select_related("assignment_group").only(
        "number", "title", "priority", "escalation_level", "reassignment_count",
        "assignment_group", "assignment_group__name").in_bulk(ticket_ids)
    changes = _group_changes(ticket_ids)
    warnings: dict[int, list[int]] = {}
    for timer_id, percent in (Firing.objects.filter(
            timer__in=timers, skipped=False, percent__lt=100)
            .order_by("percent").values_list("timer_id", "percent")):
        warnings.setdefault(timer_id, []).append(percent)
    # A deleted ticket takes its breaches out of the list (the summary's join does too).
    timers = [timer for timer in timers if timer.object_id in incidents]
    group_ids: dict[int, int | None] = {}
    for timer in timers:
        incident = incidents[timer.object_id]
        group_ids[timer.pk] = group_at(changes.get(timer.object_id, []),
                                       timer.breached_at or now,
                                       incident.assignment_group_id)
    names = {incident.assignment_group_id: incident.assignment_group.name
             for incident in incidents.values() if incident.assignment_group_id}
    missing = {pk for pk in group_ids.values() if pk is not None and pk not in names}
    if missing:
        names.update(Team.objects.filter(pk__in=missing).values_list("pk", "name"))
    rows = []
    for timer in timers:
        incident = incidents[timer.object_id]
        is_open = timer.state in OPEN_STATES
        due = timer.due_at or timer.breached_at
        end = now if is_open else (timer.stopped_at or now)
        paused, pauses = _paused(timer, end)
        group_id = group_ids[timer.pk]
        rows.append(Breach(
            timer_id=timer.pk, ticket_id=incident.pk, number=incident.number,
            title=incident.title, agreement=timer.agreement.name, kind=timer.kind,
            metric=timer.metric, outcome="open" if is_open else "missed",
            started_at=timer.started_at, due_at=due, stopped_at=None if is_open else end,
            late=max(end - due, dt.timedelta(0)), paused=paused, pauses=pauses,
            reassignments=incident.reassignment_count,
            re_evaluations=getattr(timer, "re_evaluations", None) or 0,
            last_re_evaluation=getattr(timer, "last_re_evaluation", None) or "",
            escalation_level=incident.escalation_level, priority=incident.priority,
            team_at_breach=names.get(group_id, "") if group_id is not None else "",
            team_now=incident.assignment_group.name if incident.assignment_group else "",
            warnings=warnings.get(timer.pk, [])))
    return rows
