"""Change success metrics and the emergency change report.

Definitions:

- A change **counts** in a period when it was *closed* in it (``closed_at``, days in the
  given time zone) with a result. Cancelled changes never count.
- **Success rate**: (successful + successful with issues) / counted, one decimal. Failed
  and backed-out changes are the failures (``FAILED_RESULTS``).
- Groups are the change's assignment group (the implementer team) or its category; the
  changes without one form their own row.
- The **team failure rate** (a risk factor, ``changes.risk``) is failed + backed out over
  the team's changes closed with a result in the last ``days`` days.
- **Emergency changes** of a period are those started in it (``actual_start``; those
  never started by their creation), whatever their state, flagged when approved after
  the fact (an approved retrospective round) or still awaiting approval past
  ``retro_approval_due``.

Each grouping is one aggregate query; the team failure rate one more; the emergency list
one query.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from incidents.metrics import Period, default_period
from itsm.errors import DomainError

from .models import (
    FAILED_RESULTS,
    ApprovalRequest,
    ApprovalState,
    Change,
    ChangeResult,
    ChangeState,
    ChangeType,
)

GROUPINGS = {"team": gettext_lazy("Team"), "category": gettext_lazy("Category")}
_GROUP_COLUMNS = {"team": ("assignment_group_id", "assignment_group__name"),
                  "category": ("category_id", "category__name")}
_NO_GROUP = {"team": gettext_lazy("No team"), "category": gettext_lazy("No category")}
MAX_DAYS = 366


@dataclass
class SuccessRow:
    key: int | None
    label: str
    successful: int = 0
    with_issues: int = 0
    failed: int = 0
    backed_out: int = 0

    @property
    def total(self) -> int:
        return self.successful + self.with_issues + self.failed + self.backed_out

    @property
    def succeeded(self) -> int:
        return self.successful + self.with_issues

    @property
    def success_rate(self) -> float | None:
        """Percent, one decimal; None when nothing counted."""
        return round(100 * self.succeeded / self.total, 1) if self.total else None

    def add(self, other: SuccessRow) -> None:
        self.successful += other.successful
        self.with_issues += other.with_issues
        self.failed += other.failed
        self.backed_out += other.backed_out


def grouping(by: str | None) -> str:
    by = by or "team"
    if by not in GROUPINGS:
        raise DomainError(
            _("Unknown grouping “%(by)s”: use team or category.") % {"by": by},
            code="bad_grouping", fields={"by": [_("Choose team or category.")]})
    return by


def period_of(days: int | None = None, period: Period | None = None) -> Period:
    """The period asked for: given, or the last ``days`` days (30 by default)."""
    if period is not None:
        return period
    if days is None:
        return default_period()
    if not 1 <= int(days) <= MAX_DAYS:
        raise DomainError(_("Between 1 and %(max)d days.") % {"max": MAX_DAYS},
                          code="bad_period", fields={"days": [
                              _("Between 1 and %(max)d days.") % {"max": MAX_DAYS}]})
    return default_period(int(days))


def _counted(period: Period, tz: datetime.tzinfo) -> Q:
    start, end = period.bounds(tz)
    return Q(state=ChangeState.CLOSED, closed_at__gte=start, closed_at__lt=end) & ~Q(result="")


def _result_counts() -> dict[str, Any]:
    return {
        "successful": Count("pk", filter=Q(result=ChangeResult.SUCCESSFUL)),
        "with_issues": Count("pk", filter=Q(result=ChangeResult.WITH_ISSUES)),
        "failed": Count("pk", filter=Q(result=ChangeResult.FAILED)),
        "backed_out": Count("pk", filter=Q(result=ChangeResult.BACKED_OUT)),
    }


def success_rates(*, by: str = "team", days: int | None = None, period: Period | None = None,
                  tz: datetime.tzinfo | None = None) -> list[SuccessRow]:
    """Per team or category: the changes closed in the period with a result, by result,
    and the success rate. One aggregate query."""
    by = grouping(by)
    period = period_of(days, period)
    tz = tz or timezone.get_current_timezone()
    key, label = _GROUP_COLUMNS[by]
    found = (Change.objects.filter(_counted(period, tz)).order_by()
             .values(key, label).annotate(**_result_counts()))
    rows = [SuccessRow(key=row[key],
                       label=row[label] if row[key] is not None else str(_NO_GROUP[by]),
                       successful=row["successful"], with_issues=row["with_issues"],
                       failed=row["failed"], backed_out=row["backed_out"])
            for row in found]
    rows.sort(key=lambda row: (row.key is None, row.label.lower()))
    return rows


def success_overall(rows: list[SuccessRow]) -> SuccessRow:
    """The rows of one grouping added up (every change counted once)."""
    overall = SuccessRow(key=None, label=_("All changes"))
    for row in rows:
        overall.add(row)
    return overall


@dataclass(frozen=True)
class FailureRate:
    total: int
    failed: int

    @property
    def rate(self) -> float:
        return self.failed / self.total if self.total else 0.0


def failure_rate(*, days: int, team_id: int | None = None, category_id: int | None = None,
                 now: datetime.datetime | None = None) -> FailureRate:
    """The team's (or category's) changes closed with a result in the last ``days``
    days, and how many of them failed or were backed out (one query)."""
    since = (now or timezone.now()) - datetime.timedelta(days=days)
    scope = {"assignment_group_id": team_id} if team_id is not None else {
        "category_id": category_id}
    counts = Change.objects.filter(
        **scope, state=ChangeState.CLOSED, closed_at__gte=since,
    ).exclude(result="").aggregate(
        total=Count("pk"), failed=Count("pk", filter=Q(result__in=FAILED_RESULTS)))
    return FailureRate(total=counts["total"] or 0, failed=counts["failed"] or 0)


@dataclass
class EmergencyRow:
    change: Change
    approved_after: bool  # an approval round approved after the fact

    @property
    def retro_overdue(self) -> bool:
        return self.change.retro_overdue

    @property
    def awaiting_retro(self) -> bool:
        return bool(self.change.retro_approval_due and self.change.authorized_at is None)

    @property
    def result_label(self) -> str:
        return self.change.get_result_display() if self.change.result else ""


def emergency_changes(*, days: int | None = None, period: Period | None = None,
                      tz: datetime.tzinfo | None = None) -> Any:
    """The emergency changes of the period (query), oldest first, each annotated with
    ``approved_after``."""
    period = period_of(days, period)
    tz = tz or timezone.get_current_timezone()
    start, end = period.bounds(tz)
    retrospective = ApprovalRequest.objects.filter(
        change=OuterRef("pk"), retrospective=True, state=ApprovalState.APPROVED)
    return (Change.objects.filter(type=ChangeType.EMERGENCY)
            .annotate(started=Coalesce("actual_start", "created_at"),
                      approved_after=Exists(retrospective))
            .filter(started__gte=start, started__lt=end)
            .select_related("assignment_group", "category")
            .order_by("started", "pk"))


def emergency_report(days: int | None = None, *, period: Period | None = None,
                     tz: datetime.tzinfo | None = None) -> list[EmergencyRow]:
    """The emergency changes of the period with their flags (one query)."""
    return [EmergencyRow(change=change, approved_after=change.approved_after)
            for change in emergency_changes(days=days, period=period, tz=tz)]
