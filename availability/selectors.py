"""Reads of the availability app: a service's months against its target, the monthly
report over all business services, outages and upcoming maintenance. Months are
calendar months in the project's time zone (``TIME_ZONE``), the same for every reader."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from types import EllipsisType
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cmdb.models import ConfigurationItem

from . import calculations
from .calculations import Availability
from .models import AvailabilityTarget, MaintenanceWindow, Outage

MONTHS_ON_SERVICE_PAGE = 6


@dataclass(frozen=True)
class MonthFigures:
    year: int
    month: int
    start: datetime.datetime
    figures: Availability
    target: Decimal | None

    @property
    def met(self) -> bool | None:
        return self.figures.meets(self.target)

    @property
    def first_day(self) -> datetime.date:
        """For showing the month: a date, so no reader's time zone shifts it."""
        return datetime.date(self.year, self.month, 1)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class ReportRow:
    service: ConfigurationItem
    month: MonthFigures
    outage_count: int


def current_month(now: datetime.datetime | None = None) -> tuple[int, int]:
    local = timezone.localtime(now or timezone.now(), timezone.get_default_timezone())
    return local.year, local.month


def month_bounds(year: int, month: int) -> tuple[datetime.datetime, datetime.datetime]:
    return calculations.month_bounds(year, month, timezone.get_default_timezone())


def business_services() -> QuerySet[ConfigurationItem]:
    return ConfigurationItem.objects.filter(ci_class__is_service=True).select_related(
        "ci_class")


def _overlapping(queryset: QuerySet, start_field: str, end_field: str,
                 start: datetime.datetime, end: datetime.datetime) -> QuerySet:
    return queryset.filter(**{f"{start_field}__lt": end}).filter(
        Q(**{f"{end_field}__isnull": True}) | Q(**{f"{end_field}__gt": start}))


def _month(year: int, month: int, outages: list[tuple[Any, Any]],
           windows: list[tuple[Any, Any]], target: Decimal | None,
           now: datetime.datetime) -> MonthFigures:
    start, end = month_bounds(year, month)
    figures = calculations.availability(start=start, end=end, outages=outages,
                                        maintenance=windows, now=now)
    return MonthFigures(year, month, start, figures, target)


def target_of(service: ConfigurationItem) -> Decimal | None:
    row = AvailabilityTarget.objects.filter(service=service).first()
    return row.target_percent if row is not None else None


def service_months(service: ConfigurationItem, *, now: datetime.datetime | None = None,
                   count: int = MONTHS_ON_SERVICE_PAGE,
                   target: Decimal | EllipsisType | None = ...) -> list[MonthFigures]:
    """This month (to date) and the ``count - 1`` before it, newest first (``target``:
    the service's, if the caller has read it already)."""
    now = now or timezone.now()
    months = calculations.previous_months(*current_month(now), count)
    start = month_bounds(*months[-1])[0]
    end = month_bounds(*months[0])[1]
    outages = list(_overlapping(Outage.objects.filter(service=service), "started_at",
                                "ended_at", start, end).values_list("started_at", "ended_at"))
    windows = list(_overlapping(MaintenanceWindow.objects.filter(service=service),
                                "starts_at", "ends_at", start, end)
                   .values_list("starts_at", "ends_at"))
    if target is ...:
        target = target_of(service)
    return [_month(year, month, outages, windows, target, now) for year, month in months]


def month_report(year: int, month: int, *, now: datetime.datetime | None = None
                 ) -> list[ReportRow]:
    """Every business service over one month, worst first (services with no agreed time
    last), then by name."""
    now = now or timezone.now()
    start, end = month_bounds(year, month)
    services = list(business_services().order_by("name", "id"))
    outages: dict[int, list[tuple[Any, Any]]] = {}
    for service_id, started, ended in _overlapping(
            Outage.objects.filter(service__ci_class__is_service=True), "started_at",
            "ended_at", start, end).values_list("service_id", "started_at", "ended_at"):
        outages.setdefault(service_id, []).append((started, ended))
    windows: dict[int, list[tuple[Any, Any]]] = {}
    for service_id, starts, ends in _overlapping(
            MaintenanceWindow.objects.filter(service__ci_class__is_service=True), "starts_at",
            "ends_at", start, end).values_list("service_id", "starts_at", "ends_at"):
        windows.setdefault(service_id, []).append((starts, ends))
    targets = dict(AvailabilityTarget.objects.values_list("service_id", "target_percent"))
    rows = [ReportRow(service, _month(year, month, outages.get(service.pk, []),
                                      windows.get(service.pk, []), targets.get(service.pk),
                                      now),
                      len(outages.get(service.pk, [])))
            for service in services]
    rows.sort(key=lambda row: (row.month.figures.percent is None,
                               row.month.figures.percent or Decimal(0)))
    return rows


def service_outages(service: ConfigurationItem, *, limit: int = 20) -> list[Outage]:
    """The latest outages (ongoing ones first), with their incidents."""
    return list(Outage.objects.filter(service=service).select_related("source_incident")
                .order_by(F("ended_at").desc(nulls_first=True), "-started_at", "-id")[:limit])


def upcoming_maintenance(service: ConfigurationItem, *, now: datetime.datetime | None = None,
                         limit: int = 20) -> list[MaintenanceWindow]:
    """Windows not over yet (including the one under way), soonest first."""
    return list(MaintenanceWindow.objects.filter(service=service,
                                                 ends_at__gt=now or timezone.now())
                .order_by("starts_at", "id")[:limit])
