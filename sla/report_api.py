"""GET /api/v1/sla/reports/summary/ and /api/v1/sla/reports/breaches/: % met per
agreement, team and priority, and the breach list (definitions in sla/reports.py and
docs/sla.md, "Reports"). Days are UTC days, as everywhere in the API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import DeskPermission
from incidents import metrics
from incidents.api.metrics import IncidentMetricsQuerySerializer

from . import reports
from .models import AgreementKind, Metric


class SlaReportQuerySerializer(IncidentMetricsQuerySerializer):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD: the incident metrics' period, with its rules."""

    by = None  # type: ignore[assignment]  # no grouping: the summary has all three

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"period": metrics.metrics_period(attrs.get("from"), attrs.get("to"))}


class CountsSerializer(serializers.Serializer):
    met = serializers.IntegerField(help_text="Stopped before the due time.")
    missed = serializers.IntegerField(help_text="Stopped after the due time.")
    breached_open = serializers.IntegerField(
        help_text="Past the due time and still running or paused.")
    total = serializers.IntegerField()
    percent_met = serializers.FloatField(
        allow_null=True, help_text="met / total × 100, one decimal; null when total is 0.")


class MetricCountsSerializer(CountsSerializer):
    metric = serializers.ChoiceField(choices=Metric.choices)
    label = serializers.CharField()


class SummaryRowSerializer(CountsSerializer):
    key = serializers.IntegerField(
        allow_null=True, help_text="Agreement id, team id or priority (1–4); null for the "
                                   "overall row and for tickets without a team.")
    label = serializers.CharField()
    kind = serializers.CharField(help_text="Agreements: `sla`, `ola` or `uc`; else empty.")
    metrics = MetricCountsSerializer(many=True, help_text="The same counts per metric.")


class SummarySerializer(serializers.Serializer):
    to = serializers.DateField()
    time_zone = serializers.CharField(help_text="Days are counted in this time zone (UTC).")
    overall = SummaryRowSerializer()
    by_agreement = SummaryRowSerializer(many=True)
    by_team = SummaryRowSerializer(many=True)
    by_priority = SummaryRowSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {"from": serializers.DateField(), **super().get_fields()}


def _counts(counts: reports.Counts) -> dict[str, Any]:
    return {"met": counts.met, "missed": counts.missed,
            "breached_open": counts.breached_open, "total": counts.total,
            "percent_met": counts.percent_met}


def summary_row_data(row: reports.SummaryRow) -> dict[str, Any]:
    return {"key": row.key, "label": row.label,
            "kind": row.kind, **_counts(row.counts),
            "metrics": [{"metric": metric, "label": label, **_counts(counts)}
                        for metric, label, counts in row.metric_rows()]}


def summary_data(summary: reports.Summary) -> dict[str, Any]:
    data: dict[str, Any] = {"from": summary.period.start, "to": summary.period.end,
                            "time_zone": "UTC", "overall": summary_row_data(summary.overall)}
    for grouping, _label, rows in summary.groupings():
        data[f"by_{grouping}"] = [summary_row_data(row) for row in rows]
    return data


class SlaReportSummaryView(APIView):
    """% of SLA timers met per agreement (SLA, OLA, underpinning contract), assignment
    team and priority, with counts met, missed and breached-still-open, per metric.
    A timer counts in the period its outcome became known: met when it stopped in time,
    missed or breached-open when its due time passed. Cancelled timers never count."""

    permission_classes = [permissions.IsAuthenticated, DeskPermission]

    @extend_schema(parameters=[SlaReportQuerySerializer], responses=SummarySerializer,
                   operation_id="sla_reports_summary")
    def get(self, request: Request) -> Response:
        query = SlaReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = reports.sla_summary(period=query.validated_data["period"],
                                      tz=metrics.utc())
        return Response(summary_data(summary))


class BreachSerializer(serializers.Serializer):
    """One breached timer and what is known of why."""

    timer = serializers.IntegerField(source="timer_id")
    ticket = serializers.CharField(source="number", help_text="The incident's number.")
    title = serializers.CharField()
    agreement = serializers.CharField()
    kind = serializers.ChoiceField(choices=AgreementKind.choices)
    metric = serializers.ChoiceField(choices=Metric.choices)
    outcome = serializers.ChoiceField(
        choices=list(reports.BREACH_OUTCOMES),
        help_text="`missed`: stopped late; `open`: breached, still running or paused.")
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    late_seconds = serializers.SerializerMethodField(
        help_text="Wall clock from the due time to the stop (or now, when open).")
    paused_seconds = serializers.SerializerMethodField(help_text="Wall clock paused.")
    pauses = serializers.IntegerField()
    reassignments = serializers.IntegerField(
        help_text="Times the ticket moved to another group (all told).")
    target_changes = serializers.IntegerField(
        source="re_evaluations",
        help_text="Timers cancelled before this one for the same metric: the agreement "
                  "was re-evaluated (a new priority…) or the timer started again.")
    last_target_change = serializers.CharField(source="last_re_evaluation")
    escalation_level = serializers.IntegerField()
    priority = serializers.IntegerField(help_text="The ticket's priority now.")
    team_at_breach = serializers.CharField(help_text="The group holding it at the breach.")
    team_now = serializers.CharField()
    warnings = serializers.ListField(child=serializers.IntegerField(),
                                     help_text="Thresholds (%) that acted before it.")
    cause = serializers.CharField(help_text="The facts above in one sentence.")

    def get_late_seconds(self, breach: reports.Breach) -> int:
        return round(breach.late.total_seconds())

    def get_paused_seconds(self, breach: reports.Breach) -> int:
        return round(breach.paused.total_seconds())


class BreachPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BreachSerializer(many=True)


class BreachCursor(CursorPagination):
    ordering = ("breached_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class SlaReportBreachesView(APIView):
    """The timers breached in the period (missed, or still open), oldest breach first,
    with the facts known about each: paused time, reassignments, target changes,
    escalation level, the group at the breach, the warnings that acted."""

    permission_classes = [permissions.IsAuthenticated, DeskPermission]

    @extend_schema(
        parameters=[SlaReportQuerySerializer,
                    OpenApiParameter("cursor", str, description="From `next`/`previous`."),
                    OpenApiParameter("page_size", int, description="At most 200.")],
        responses=BreachPageSerializer, operation_id="sla_reports_breaches")
    def get(self, request: Request) -> Response:
        query = SlaReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        timers = reports.breaches(period=query.validated_data["period"], tz=metrics.utc())
        paginator = BreachCursor()
        page = paginator.paginate_queryset(timers, request, view=self)
        rows = reports.breach_rows(page or [])
        return paginator.get_paginated_response(BreachSerializer(rows, many=True).data)
