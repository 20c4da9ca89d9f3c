"""Reads of service levels: a ticket's timers as people see them (the SLA panel), and
for the administration of agreements and calendars the calendar preview and the
agreements grouped by kind in the order they are tried."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .calendar import NoWorkingTime, working_periods
from .engine import progress, timers_of
from .models import (
    ACTIVE_TIMER_STATES,
    Agreement,
    AgreementKind,
    BusinessCalendar,
    Target,
    Timer,
    TimerState,
)


@dataclass
class TimerView:
    timer: Timer
    percent: float
    band: str
    left_seconds: float
    pauses: list[tuple[dt.datetime, dt.datetime | None]] = field(default_factory=list)

    @property
    def bar_percent(self) -> float:
        return max(0.0, min(self.percent, 100.0))

    @property
    def left_label(self) -> str:
        if self.left_seconds >= 0:
            return _("%(time)s of business time left") % {"time": duration(self.left_seconds)}
        return _("%(time)s of business time over") % {"time": duration(-self.left_seconds)}


def duration(seconds: float) -> str:
    """Business time as people read it: 3 h 05 min, 45 min, under a minute."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return _("under a minute")
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return ngettext("%(m)d min", "%(m)d min", minutes) % {"m": minutes}
    return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}


def condition_label(ticket_model: Any, token: str) -> str:
    """A target's condition as people read it: "on_hold:awaiting_caller" is
    "On hold: Awaiting caller" (the labels of the ticket's own fields)."""
    state, _sep, reason = token.partition(":")
    states = dict(ticket_model._meta.get_field("state").flatchoices)
    label = str(states.get(state, state))
    if reason:
        try:
            reasons = dict(ticket_model._meta.get_field("hold_reason").flatchoices)
        except FieldDoesNotExist:  # a ticket type without hold reasons
            reasons = {}
        label = f"{label}: {reasons.get(reason, reason)}"
    return label


def ticket_sla(ticket: Any, now: dt.datetime | None = None) -> dict[str, list[TimerView]]:
    """The ticket's timers: ``current`` (running, paused, and the met or missed ones of
    agreements that still apply) and ``replaced`` (cancelled: re-evaluated or reset)."""
    now = now or timezone.now()
    current, replaced = [], []
    for timer in timers_of(ticket):
        shown = progress(timer, now)
        pauses: list[tuple[dt.datetime, dt.datetime | None]] = list(timer.pauses())
        if timer.paused_since:
            pauses.append((timer.paused_since, None))
        view = TimerView(timer, shown["percent"], shown["band"], shown["left_seconds"],
                         pauses)
        if timer.pause_reason:
            timer.pause_label = condition_label(type(ticket), timer.pause_reason)
        (replaced if timer.state == TimerState.CANCELLED else current).append(view)
    current.sort(key=lambda v: (v.timer.state not in ACTIVE_TIMER_STATES, v.timer.kind,
                                v.timer.metric))
    return {"current": current, "replaced": replaced}


PREVIEW_PERIODS = 10


@dataclass(frozen=True)
class Period:
    """A working period, in the calendar's time zone."""

    start: dt.datetime
    end: dt.datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def calendar_preview(calendar: BusinessCalendar, *, start: dt.datetime | None = None,
                     count: int = PREVIEW_PERIODS) -> tuple[list[Period], bool]:
    """The next ``count`` working periods from ``start`` (now), in the calendar's time
    zone, and whether the calendar ran out of working time before ``count``."""
    zone = ZoneInfo(calendar.time_zone)
    start = start or timezone.now()
    periods: list[Period] = []
    try:
        for begins, ends in itertools.islice(working_periods(calendar.spec(), start), count):
            periods.append(Period(begins.astimezone(zone), ends.astimezone(zone)))
    except NoWorkingTime:
        return periods, True
    return periods, False


def agreements_by_kind() -> list[tuple[Any, list[Agreement]]]:
    """Every agreement, grouped by kind (SLA, OLA, underpinning contract), in the order
    the engine tries them."""
    agreements = (Agreement.objects.order_by("kind", "order", "name")
                  .prefetch_related("categories", "services", "assignment_groups",
                                    Prefetch("targets", Target.objects.select_related(
                                        "calendar").order_by("metric"))))
    grouped: dict[str, list[Agreement]] = {kind: [] for kind in AgreementKind.values}
    for agreement in agreements:
        grouped[agreement.kind].append(agreement)
    return [(AgreementKind(kind), items) for kind, items in grouped.items()]


def calendars_with_use() -> list[BusinessCalendar]:
    return list(BusinessCalendar.objects.annotate(
        target_count=Count("targets", distinct=True),
        interval_count=Count("intervals", distinct=True),
        holiday_count=Count("holidays", distinct=True)).order_by("name"))
