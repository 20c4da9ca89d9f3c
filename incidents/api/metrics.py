"""GET /api/v1/incidents/metrics/: MTTA and MTTR per priority, team or category over a
period (definitions in incidents/metrics.py and docs/incidents.md, "Metrics")."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import DeskPermission
from incidents import metrics


class IncidentMetricsQuerySerializer(serializers.Serializer):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD&by=priority|team|category (``from`` is a Python
    keyword, so that field is added in ``get_fields``)."""

    to = serializers.DateField(
        required=False, input_formats=["%Y-%m-%d"],
        help_text="Last day of the period (UTC), included. Default: today (or `from`, "
                  "when that is later).")
    by = serializers.ChoiceField(
        choices=list(metrics.GROUPINGS), required=False, default="priority",
        help_text="Group by `priority` (default), `team` (assignment group) or `category`.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        return {"from": serializers.DateField(
            required=False, input_formats=["%Y-%m-%d"],
            help_text="First day of the period (UTC), included. Default: 29 days before "
                      "`to`, so 30 days. At most 366 days long."), **fields}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The domain rules (order, length, grouping) raise DomainError: 400 naming the field.
        return {"period": metrics.metrics_period(attrs.get("from"), attrs.get("to")),
                "by": metrics.grouping(attrs.get("by"))}


class IncidentMetricsRowSerializer(serializers.Serializer):
    key = serializers.IntegerField(
        allow_null=True, help_text="Priority (1–4), team id or category id; null for "
                                   "incidents without a team or category.")
    label = serializers.CharField()
    opened = serializers.IntegerField(help_text="Incidents opened in the period.")
    acknowledged = serializers.IntegerField(
        help_text="Of those, how many were acknowledged (assigned to a person).")
    resolved = serializers.IntegerField(help_text="Incidents resolved in the period.")
    mtta_seconds = serializers.IntegerField(
        allow_null=True, help_text="Mean time to acknowledge, seconds (null: none).")
    mtta = serializers.CharField(help_text="The same for people, e.g. `1 h 05 min`.")
    mtta_median_seconds = serializers.IntegerField(allow_null=True)
    mtta_median = serializers.CharField()
    mttr_seconds = serializers.IntegerField(
        allow_null=True, help_text="Mean time to resolve (created to resolved), seconds.")
    mttr = serializers.CharField()
    mttr_median_seconds = serializers.IntegerField(allow_null=True)
    mttr_median = serializers.CharField()


class IncidentMetricsSerializer(serializers.Serializer):
    to = serializers.DateField()
    by = serializers.ChoiceField(choices=list(metrics.GROUPINGS))
    time_zone = serializers.CharField(help_text="Days are counted in this time zone (UTC).")
    overall = IncidentMetricsRowSerializer(
        help_text="Every incident of the period, in one row.")
    results = IncidentMetricsRowSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {"from": serializers.DateField(), **super().get_fields()}


def _seconds(value: Any) -> int | None:
    return None if value is None else round(value.total_seconds())


def row_data(row: metrics.MetricsRow) -> dict[str, Any]:
    data: dict[str, Any] = {"key": row.key, "label": row.label, "opened": row.opened,
                            "acknowledged": row.acknowledged, "resolved": row.resolved}
    for name in ("mtta", "mtta_median", "mttr", "mttr_median"):
        value = getattr(row, name)
        data[f"{name}_seconds"] = _seconds(value)
        data[name] = metrics.duration_text(value)
    return data


class IncidentMetricsView(APIView):
    """Mean and median time to acknowledge (MTTA) and to resolve (MTTR) per group, for
    the service desk. MTTA counts incidents *opened* in the period (acknowledged = first
    assigned to a person); MTTR counts incidents *resolved* in the period (created to
    resolved, wall-clock time). Days are UTC days."""

    permission_classes = [permissions.IsAuthenticated, DeskPermission]

    @extend_schema(parameters=[IncidentMetricsQuerySerializer],
                   responses=IncidentMetricsSerializer,
                   operation_id="incidents_metrics")
    def get(self, request: Request) -> Response:
        query = IncidentMetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, by = query.validated_data["period"], query.validated_data["by"]
        tz = metrics.utc()  # the API speaks UTC (accounts.middleware)
        rows = metrics.incident_metrics(period=period, by=by, tz=tz)
        overall = metrics.incident_metrics_overall(period=period, tz=tz)
        return Response({
            "from": period.start, "to": period.end, "by": by, "time_zone": "UTC",
            "overall": row_data(overall), "results": [row_data(row) for row in rows],
        })
