"""Reads for the administration of agreements and calendars: the calendar preview and
the agreements grouped by kind in the order they are tried."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Prefetch
from django.utils import timezone

from .calendar import NoWorkingTime, working_periods
from .models import Agreement, AgreementKind, BusinessCalendar, Target

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
