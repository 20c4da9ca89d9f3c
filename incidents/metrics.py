"""Incident metrics: how fast incidents are acknowledged and resolved, per priority, team
or category, over a period of days.

Definitions (wall-clock time; business-hours figures come with the SLA calendars):

- The period is ``start`` to ``end``, both days included, from 00:00 on ``start`` to
  24:00 on ``end`` in the given time zone (the desk: the person's own; the API: UTC).
- **Opened**: incidents created in the period, whatever became of them.
- **MTTA**, mean time to acknowledge: over the incidents *opened in the period* that have
  been acknowledged, the mean of ``acknowledged_at − created_at``. ``acknowledged_at`` is
  stamped once, when the incident is first assigned to a person (``incident_assign``);
  later reassignments do not move it. Incidents not yet acknowledged are left out (so
  they are counted in *opened* but not in *acknowledged*).
- **MTTR**, mean time to resolve: over the incidents *resolved in the period*, the mean of
  ``resolved_at − created_at``. A reopened incident loses its resolution stamp and gets a
  new one when resolved again, so its MTTR runs to the last resolution, time reopened
  included. Cancelled incidents are never resolved and do not count.
- The **median** of each, next to the mean: half the incidents took less.
- Groups are the incident's current priority, assignment group (for resolved incidents,
  the group that resolved it) and top-level category. Incidents without a group or a
  category form their own row.

Each grouping is one query: a window query numbers the durations within each group (for
the median), and an aggregate over it gives counts, means and medians. Both run on
SQLite (3.25+) and PostgreSQL: durations are the database's own datetime differences
(an ``interval`` on PostgreSQL, microseconds on SQLite) and the median is the middle
row, or the mean of the two middle rows, by ``ROW_NUMBER()`` and ``COUNT()`` windows.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Case, Count, DurationField, F, IntegerField, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from itsm.errors import DomainError
from tickets.models import Priority

from .models import Incident

GROUPINGS = {
    "priority": gettext_lazy("Priority"),
    "team": gettext_lazy("Team"),
    "category": gettext_lazy("Category"),
}
# The longest period one request may ask for: a year, leap day included.
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30

# Per grouping: the column grouped on and the column that names the group.
_GROUP_COLUMNS: dict[str, tuple[str, str | None]] = {
    "priority": ("priority", None),
    "team": ("assignment_group_id", "assignment_group__name"),
    "category": ("category_id", "category__name"),
    "all": ("", None),
}
_NO_GROUP_LABELS = {"team": gettext_lazy("No team"), "category": gettext_lazy("No category")}


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end``, both included."""

    start: datetime.date
    end: datetime.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self, tz: datetime.tzinfo) -> tuple[datetime.datetime, datetime.datetime]:
        """[start 00:00, the day after end 00:00) as aware datetimes in ``tz``."""
        midnight = datetime.time(0, 0)
        return (datetime.datetime.combine(self.start, midnight, tzinfo=tz),
                datetime.datetime.combine(self.end + datetime.timedelta(days=1), midnight,
                                          tzinfo=tz))


def default_period(days: int = DEFAULT_PERIOD_DAYS, today: datetime.date | None = None
                   ) -> Period:
    """The last ``days`` days, today included, in the current time zone."""
    today = today or timezone.localdate()
    return Period(today - datetime.timedelta(days=days - 1), today)


def metrics_period(start: datetime.date | None, end: datetime.date | None) -> Period:
    """The period asked for, with the defaults filled in; refuses a period that ends
    before it starts or is longer than MAX_PERIOD_DAYS (naming the field)."""
    if start is None and end is None:
        return default_period()
    if end is None:
        end = max(start, timezone.localdate())  # type: ignore[type-var]
    if start is None:
        start = end - datetime.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise DomainError(_("The period starts after it ends."), code="bad_period",
                          fields={"from": [_("Must be on or before “to”.")]})
    period = Period(start, end)
    if period.days > MAX_PERIOD_DAYS:
        raise DomainError(
            _("A period is at most %(max)d days long.") % {"max": MAX_PERIOD_DAYS},
            code="bad_period", fields={"from": [_("At most %(max)d days before “to”.") % {
                "max": MAX_PERIOD_DAYS}]})
    return period


def grouping(by: str | None) -> str:
    """The grouping asked for (priority by default); refuses an unknown one."""
    by = by or "priority"
    if by not in GROUPINGS:
        raise DomainError(
            _("Unknown grouping “%(by)s”: use one of %(choices)s.") % {
                "by": by, "choices": ", ".join(GROUPINGS)},
            code="bad_grouping", fields={"by": [_("Choose priority, team or category.")]})
    return by


@dataclass
class MetricsRow:
    """One group's figures. Durations are None when nothing was acknowledged/resolved."""

    key: int | None
    label: str
    opened: int = 0
    acknowledged: int = 0
    resolved: int = 0
    mtta: datetime.timedelta | None = None
    mtta_median: datetime.timedelta | None = None
    mttr: datetime.timedelta | None = None
    mttr_median: datetime.timedelta | None = None


def _as_duration(value: Any) -> datetime.timedelta | None:
    if value is None or isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(microseconds=float(value))  # SQLite: microseconds


def _scope_sql(period: Period, by: str, tz: datetime.tzinfo) -> tuple[str, tuple[Any, ...]]:
    """The inner query: one row per incident opened or resolved in the period, with its
    group, whether it was opened in the period, and each duration (NULL when it does not
    count) numbered within its group."""
    start, end = period.bounds(tz)
    opened_in = Q(created_at__gte=start, created_at__lt=end)
    resolved_in = Q(resolved_at__gte=start, resolved_at__lt=end)
    column, label_column = _GROUP_COLUMNS[by]
    group = F(column) if column else Value(0)
    partition = [F(column)] if column else None  # "all": one partition
    to_acknowledge = Case(
        When(opened_in & Q(acknowledged_at__isnull=False),
             then=F("acknowledged_at") - F("created_at")),
        output_field=DurationField())
    to_resolve = Case(When(resolved_in, then=F("resolved_at") - F("created_at")),
                      output_field=DurationField())
    rows = (
        Incident.objects.filter(opened_in | resolved_in)
        .annotate(
            group_key=group,
            group_label=F(label_column) if label_column else Value(""),
            opened=Case(When(opened_in, then=Value(1)), default=Value(0),
                        output_field=IntegerField()),
            to_acknowledge=to_acknowledge,
            to_resolve=to_resolve,
        )
        .annotate(
            # Durations first, missing ones last: the middle rows are among the first n.
            ack_rank=Window(RowNumber(), partition_by=partition,
                            order_by=[F("to_acknowledge").asc(nulls_last=True)]),
            ack_count=Window(Count("to_acknowledge"), partition_by=partition),
            res_rank=Window(RowNumber(), partition_by=partition,
                            order_by=[F("to_resolve").asc(nulls_last=True)]),
            res_count=Window(Count("to_resolve"), partition_by=partition),
        )
        .order_by()
        .values("group_key", "group_label", "opened", "to_acknowledge", "ack_rank",
                "ack_count", "to_resolve", "res_rank", "res_count")
    )
    sql, params = rows.query.sql_with_params()
    return sql, tuple(params)


# The middle row of n is number (n + 1) / 2 and, for even n, also (n + 2) / 2 (integer
# division on both databases); the median is their mean.
_AGGREGATE_SQL = """
SELECT group_key, group_label, SUM(opened),
       COUNT(to_acknowledge), AVG(to_acknowledge),
       AVG(CASE WHEN ack_rank IN ((ack_count + 1) / 2, (ack_count + 2) / 2)
                THEN to_acknowledge END),
       COUNT(to_resolve), AVG(to_resolve),
       AVG(CASE WHEN res_rank IN ((res_count + 1) / 2, (res_count + 2) / 2)
                THEN to_resolve END)
FROM ({scope}) scope
GROUP BY group_key, group_label
"""


def _label(by: str, key: Any, label: str) -> str:
    if by == "priority":
        return str(Priority(key).label) if key in Priority.values else str(key)
    if by == "all":
        return _("All incidents")
    return label if key is not None else str(_NO_GROUP_LABELS[by])


def incident_metrics(*, period: Period, by: str = "priority",
                     tz: datetime.tzinfo | None = None) -> list[MetricsRow]:
    """Counts, MTTA and MTTR (mean and median) per group for ``period``, in one query.
    ``by`` is one of GROUPINGS (or "all" for one row over every incident)."""
    if by not in _GROUP_COLUMNS:
        raise ValueError(f"unknown grouping {by!r}")
    tz = tz or timezone.get_current_timezone()
    scope, params = _scope_sql(period, by, tz)
    with connection.cursor() as cursor:
        cursor.execute(_AGGREGATE_SQL.format(scope=scope), params)
        found = cursor.fetchall()
    rows = [
        MetricsRow(key=key, label=_label(by, key, label), opened=int(opened or 0),
                   acknowledged=acknowledged, mtta=_as_duration(mtta),
                   mtta_median=_as_duration(mtta_median), resolved=resolved,
                   mttr=_as_duration(mttr), mttr_median=_as_duration(mttr_median))
        for key, label, opened, acknowledged, mtta, mtta_median, resolved, mttr, mttr_median
        in found
    ]
    if by == "priority":
        rows.sort(key=lambda row: row.key)
    else:  # by name, the row without a group last
        rows.sort(key=lambda row: (row.key is None, row.label.lower()))
    return rows


def incident_metrics_overall(*, period: Period,
                             tz: datetime.tzinfo | None = None) -> MetricsRow:
    """The same figures over every incident of the period (one query)."""
    rows = incident_metrics(period=period, by="all", tz=tz)
    return rows[0] if rows else MetricsRow(key=None, label=_("All incidents"))


def duration_text(value: datetime.timedelta | None) -> str:
    """A duration for people: "45 s", "12 min", "3 h 05 min", "2 d 4 h"."""
    if value is None:
        return "—"
    seconds = max(0, round(value.total_seconds()))
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    minutes = seconds // 60
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


def utc() -> datetime.tzinfo:
    return zoneinfo.ZoneInfo("UTC")
