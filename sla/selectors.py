"""Reads for the SLA panels and queues: a ticket's timers as people see them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .engine import progress, timers_of
from .models import ACTIVE_TIMER_STATES, Timer, TimerState


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
