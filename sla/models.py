"""Service level management: business calendars, agreements (SLA, OLA, underpinning
contract) with their targets and thresholds, and the timers that measure each ticket.

Definitions are data that administrators edit in the desk. A timer is one row per ticket
per target; ``sla.engine`` keeps timers in step with their tickets inside the ticket's
transaction, and ``sla.engine.timers_tick`` (beat, every few seconds) fires thresholds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .calendar import CalendarSpec

MINUTES_PER_DAY = 24 * 60


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessCalendar(models.Model):
    """Working time: weekly intervals in a time zone, holidays and one-off exceptions."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    # Where generated holidays come from (the `holidays` package): a country code and an
    # optional subdivision, e.g. GB / ENG.
    holiday_country = models.CharField(_("holiday country"), max_length=3, blank=True)
    holiday_subdivision = models.CharField(_("holiday region"), max_length=10, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def spec(self) -> CalendarSpec:
        """The calendar as ``sla.calendar`` computes with it (three small queries; the
        engine keeps specs per calendar and version: ``sla.selectors.calendar_spec``)."""
        weekly: list[list[tuple[int, int]]] = [[] for _day in range(7)]
        for weekday, start, end in self.intervals.values_list(
                "weekday", "start_minute", "end_minute").order_by("weekday", "start_minute"):
            weekly[weekday].append((start, end))
        return CalendarSpec(
            time_zone=self.time_zone,
            weekly=tuple(tuple(day) for day in weekly),
            holidays=frozenset(self.holidays.values_list("date", flat=True)),
            exceptions={day: tuple(tuple(pair) for pair in intervals)
                        for day, intervals in self.exceptions.values_list("date", "intervals")},
        )


class WorkingInterval(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE,
                                 related_name="intervals")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=Weekday.choices)
    # Minutes after local midnight; 1440 is the end of the day.
    start_minute = models.PositiveSmallIntegerField(_("from"))
    end_minute = models.PositiveSmallIntegerField(_("until"))

    class Meta:
        ordering = ["weekday", "start_minute"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_minute__lt=models.F("end_minute"))
                & Q(end_minute__lte=MINUTES_PER_DAY),
                name="sla_interval_in_order"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {minutes_label(self.start_minute)}–" \
               f"{minutes_label(self.end_minute)}"


class HolidaySource(models.TextChoices):
    MANUAL = "manual", _("entered by hand")
    GENERATED = "generated", _("generated")


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE,
                                 related_name="holidays")
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=150)
    source = models.CharField(max_length=10, choices=HolidaySource.choices,
                              default=HolidaySource.MANUAL)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"],
                                               name="sla_one_holiday_per_date")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class CalendarException(models.Model):
    """A date with its own working time: closed (no intervals) or special hours. It
    replaces the weekly intervals and any holiday of that date."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE,
                                 related_name="exceptions")
    date = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=150)
    # [[start_minute, end_minute], ...], sorted, not overlapping; [] = closed all day.
    intervals = models.JSONField(_("working intervals"), default=list, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"],
                                               name="sla_one_exception_per_date")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.reason}"


def minutes_label(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- Agreements -----------------------------------------------------------------------

class AgreementKind(models.TextChoices):
    SLA = "sla", _("SLA")
    OLA = "ola", _("OLA")
    UC = "uc", _("Underpinning contract")


class TicketType(models.TextChoices):
    INCIDENT = "incident", _("Incident")


class Agreement(models.Model):
    """An SLA (with the customer), OLA (between internal teams) or underpinning contract
    (with a vendor). Its conditions decide which tickets it covers: empty means any. For
    each kind, the active agreements are tried in ``order`` and the first match applies."""

    name = models.CharField(_("name"), max_length=150, unique=True)
    kind = models.CharField(_("kind"), max_length=5, choices=AgreementKind.choices,
                            default=AgreementKind.SLA)
    description = models.TextField(_("description"), blank=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    ticket_type = models.CharField(_("ticket type"), max_length=20, choices=TicketType.choices,
                                   default=TicketType.INCIDENT)
    # Conditions.
    priorities = models.JSONField(_("priorities"), default=list, blank=True)
    categories = models.ManyToManyField("incidents.Category", blank=True,
                                        related_name="+", verbose_name=_("categories"))
    services = models.ManyToManyField("cmdb.ConfigurationItem", blank=True,
                                      related_name="+", verbose_name=_("services"))
    assignment_groups = models.ManyToManyField("accounts.Team", blank=True, related_name="+",
                                               verbose_name=_("assignment groups"))
    caller_vip = models.BooleanField(_("caller is a VIP"), null=True, blank=True)
    caller_departments = models.JSONField(_("caller's departments"), default=list,
                                          blank=True)
    # Who the agreement is with: the customer, an internal team, a vendor.
    counterpart = models.CharField(_("with"), max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "order", "name"]
        permissions = [("manage_sla", "Can manage SLA definitions and calendars")]

    def __str__(self) -> str:
        return self.name


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")
    NEXT_UPDATE = "next_update", _("Next update after a customer reply")


class ThresholdAction(models.TextChoices):
    NOTIFY_ASSIGNEE = "notify_assignee", _("Notify the assignee")
    NOTIFY_TEAM = "notify_team", _("Notify the team")
    NOTIFY_TEAM_MANAGER = "notify_team_manager", _("Notify the team's manager")
    NOTIFY_INCIDENT_MANAGER = "notify_incident_manager", _("Notify the incident managers")
    REASSIGN = "reassign", _("Reassign to a team")
    RAISE_PRIORITY = "raise_priority", _("Raise the priority")
    MARK_ESCALATED = "mark_escalated", _("Mark as escalated")


def default_pause_on() -> list[str]:
    return ["on_hold:awaiting_caller", "on_hold:awaiting_vendor"]


class Target(models.Model):
    """What an agreement promises for one metric, in business time of a calendar, and
    the conditions on the ticket's state that pause, stop, cancel or reset its timer."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE,
                                  related_name="targets")
    metric = models.CharField(_("metric"), max_length=20, choices=Metric.choices)
    goal_minutes = models.PositiveIntegerField(_("goal (business minutes)"))
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT,
                                 related_name="targets", verbose_name=_("calendar"))
    # Conditions: states, or "state:hold reason" (e.g. "on_hold:awaiting_caller").
    # start_on empty: the clock starts when the ticket is opened (next update: at the
    # caller's reply); else when the ticket first reaches one of these states.
    start_on = models.JSONField(_("start when"), default=list, blank=True)
    pause_on = models.JSONField(_("pause while"), default=default_pause_on, blank=True)
    stop_on = models.JSONField(_("stop when"), default=list, blank=True)
    cancel_on = models.JSONField(_("cancel when"), default=list, blank=True)
    # Fields whose change starts the timer again from zero (e.g. assignment_group for an
    # OLA measured per team).
    reset_on = models.JSONField(_("start again when these change"), default=list,
                                blank=True)

    class Meta:
        ordering = ["agreement", "metric"]
        constraints = [models.UniqueConstraint(fields=["agreement", "metric"],
                                               name="sla_one_target_per_metric")]

    def __str__(self) -> str:
        return f"{self.agreement}: {self.get_metric_display()}"


class Threshold(models.Model):
    """A share of the goal (100 = breach) and what happens when a timer reaches it."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="thresholds")
    percent = models.PositiveSmallIntegerField(_("at % of the goal"))
    actions = models.JSONField(_("actions"), default=list, blank=True)
    reassign_to = models.ForeignKey("accounts.Team", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("reassign to"))
    working_hours_only = models.BooleanField(
        _("only in working hours"), default=False,
        help_text=_("Outside the calendar's working time, the actions wait for the next "
                    "working period."))

    class Meta:
        ordering = ["target", "percent"]
        constraints = [
            models.UniqueConstraint(fields=["target", "percent"],
                                    name="sla_one_threshold_per_percent"),
            models.CheckConstraint(condition=Q(percent__gte=1) & Q(percent__lte=100),
                                   name="sla_threshold_percent_range"),
        ]

    def __str__(self) -> str:
        return f"{self.percent}%"

    @property
    def is_breach(self) -> bool:
        return self.percent >= 100


# --- Timers ---------------------------------------------------------------------------

class TimerState(models.TextChoices):
    RUNNING = "running", _("running")
    PAUSED = "paused", _("paused")
    MET = "met", _("met")
    MISSED = "missed", _("missed")
    CANCELLED = "cancelled", _("cancelled")


ACTIVE_TIMER_STATES = (TimerState.RUNNING, TimerState.PAUSED)


class Timer(models.Model):
    """One ticket measured against one target.

    ``due_at`` is wall-clock time computed through the calendar (unknown while paused);
    ``next_check_at`` is when the next threshold is reached, the only column the tick
    reads to find work. Pauses are kept as closed intervals plus the open one."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="timers")
    target = models.ForeignKey(Target, on_delete=models.PROTECT, related_name="timers")
    kind = models.CharField(max_length=5, choices=AgreementKind.choices)
    metric = models.CharField(max_length=20, choices=Metric.choices)
    state = models.CharField(max_length=10, choices=TimerState.choices,
                             default=TimerState.RUNNING)
    started_at = models.DateTimeField(_("started"))
    goal_seconds = models.PositiveIntegerField()
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    paused_intervals = models.JSONField(default=list, blank=True)  # [[iso, iso], ...]
    paused_since = models.DateTimeField(_("paused since"), null=True, blank=True)
    pause_reason = models.CharField(max_length=60, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    next_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    warned_percent = models.PositiveSmallIntegerField(default=0)  # highest fired so far
    breached_at = models.DateTimeField(_("breached"), null=True, blank=True, db_index=True)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True, db_index=True)
    # "state" (the ticket reached a stop state: reopening resumes the timer) or
    # "response" (the reply that met first response or next update).
    stop_cause = models.CharField(max_length=10, blank=True)
    reason = models.CharField(_("applies because"), max_length=300, blank=True)
    cancelled_reason = models.CharField(_("cancelled because"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="sla_timer_ticket"),
            models.Index(fields=["state", "due_at"], name="sla_timer_state_due"),
        ]
        constraints = [
            # One live timer per ticket, kind of agreement and metric.
            models.UniqueConstraint(
                fields=["content_type", "object_id", "kind", "metric"],
                condition=Q(state__in=["running", "paused"]), name="sla_one_live_timer"),
        ]

    def __str__(self) -> str:
        return f"{self.target} ({self.get_state_display()})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_TIMER_STATES

    def pauses(self) -> list[tuple[dt.datetime, dt.datetime]]:
        return [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b))
                for a, b in self.paused_intervals]


class Firing(models.Model):
    """A threshold a timer reached: written once (the unique constraint makes a second
    tick, worker or redelivery a no-op). ``skipped`` marks a warning passed over because
    a later threshold was reached at the same check (beat was down): it is not sent
    late. Actions limited to working hours wait with ``actions_due_at``."""

    timer = models.ForeignKey(Timer, on_delete=models.CASCADE, related_name="firings")
    percent = models.PositiveSmallIntegerField()
    reached_at = models.DateTimeField(_("reached"))
    fired_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    skipped = models.BooleanField(default=False)
    actions_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    actions_done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.JSONField(default=list, blank=True)  # what each action did

    class Meta:
        ordering = ["reached_at", "percent"]
        constraints = [models.UniqueConstraint(fields=["timer", "percent"],
                                               name="sla_fire_once")]

    def __str__(self) -> str:
        return f"{self.timer_id} {self.percent}%"


class TimerEvent(models.Model):
    """The history of a timer as the ticket page shows it: started, paused, resumed,
    stopped, cancelled, reset."""

    timer = models.ForeignKey(Timer, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=20)
    detail = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


def ticket_key(ticket: Any) -> tuple[int, int]:
    return ContentType.objects.get_for_model(ticket).pk, ticket.pk
