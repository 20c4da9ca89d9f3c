"""The SLA reports as CSV: the summary (one row per group and metric) and the breach list
(streamed in batches, each batch hydrated with a fixed number of queries)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from .models import Timer
from .reports import Breach, Counts, Summary, SummaryRow, breach_rows

CSV_BATCH_SIZE = 500
SUMMARY_COLUMNS = ("grouping", "key", "label", "kind", "metric", "met", "missed",
                   "breached_open", "total", "percent_met")
BREACH_COLUMNS = (
    "ticket", "title", "agreement", "kind", "metric", "outcome", "started", "due",
    "stopped", "late_minutes", "paused_minutes", "pauses", "reassignments",
    "target_changes", "last_target_change", "escalation_level", "priority",
    "team_at_breach", "team_now", "warnings", "cause",
)
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text(value: Any) -> str:
    """A text cell, defused: a leading apostrophe keeps a spreadsheet from running it."""
    value = "" if value is None else str(value)
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _counts(counts: Counts) -> list[Any]:
    percent = counts.percent_met
    return [counts.met, counts.missed, counts.breached_open, counts.total,
            "" if percent is None else f"{percent:.1f}"]


def _group_rows(grouping: str, row: SummaryRow) -> Iterator[list[Any]]:
    key = "" if row.key is None else row.key
    yield [grouping, key, text(row.label), row.kind, "all", *_counts(row.counts)]
    for metric, _label, counts in row.metric_rows():
        yield [grouping, key, text(row.label), row.kind, metric, *_counts(counts)]


def summary_csv_rows(summary: Summary) -> Iterator[list[Any]]:
    yield list(SUMMARY_COLUMNS)
    yield from _group_rows("overall", summary.overall)
    for grouping, _label, rows in summary.groupings():
        for row in rows:
            yield from _group_rows(grouping, row)


def _when(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else ""


def _minutes(value: dt.timedelta) -> str:
    return f"{value.total_seconds() / 60:.0f}"


def breach_csv_row(breach: Breach, tz: dt.tzinfo) -> list[Any]:
    return [
        text(breach.number), text(breach.title), text(breach.agreement), breach.kind,
        breach.metric, breach.outcome, _when(breach.started_at, tz), _when(breach.due_at, tz),
        _when(breach.stopped_at, tz), _minutes(breach.late), _minutes(breach.paused),
        breach.pauses, breach.reassignments, breach.re_evaluations,
        text(breach.last_re_evaluation), breach.escalation_level, breach.priority,
        text(breach.team_at_breach), text(breach.team_now),
        " ".join(str(percent) for percent in breach.warnings), text(breach.cause),
    ]


def breach_csv_rows(timers: QuerySet[Timer], tz: dt.tzinfo,
                    now: dt.datetime | None = None) -> Iterator[list[Any]]:
    """The header, then every breach of ``timers`` (from ``reports.breaches``), read in
    keyset batches so memory and query count follow the batch, not the period."""
    now = now or timezone.now()
    yield list(BREACH_COLUMNS)
    last: tuple[dt.datetime, int] | None = None
    while True:
        batch = timers
        if last is not None:
            moment, pk = last
            batch = batch.filter(Q(breached_at__gt=moment) | Q(breached_at=moment, id__gt=pk))
        found = list(batch.order_by("breached_at", "id")[:CSV_BATCH_SIZE])
        for breach in breach_rows(found, now):
            yield breach_csv_row(breach, tz)
        if len(found) < CSV_BATCH_SIZE:
            return
        last = (found[-1].breached_at, found[-1].pk)  # type: ignore[assignment]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(rows: Iterable[list[Any]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
