"""Serializers of the availability API. They shape input and output; every write goes
through ``availability.services`` (never ``serializer.save()``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cmdb.models import ConfigurationItem

from ..models import MaintenanceWindow, Outage


class OutageSerializer(serializers.ModelSerializer):
    service = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"),
        help_text="The business service (CI id). Not changed after recording.")
    service_name = serializers.CharField(source="service.name", read_only=True)
    source_incident = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                         help_text="The major incident that "
                                                         "opened it, if any.")
    source_incident_number = serializers.CharField(source="source_incident.number",
                                                   read_only=True, allow_null=True,
                                                   default=None)
    ongoing = serializers.BooleanField(source="is_ongoing", read_only=True)

    class Meta:
        model = Outage
        fields = ["id", "service", "service_name", "started_at", "ended_at", "ongoing",
                  "description", "source_incident", "source_incident_number", "created_by",
                  "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class OutageUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Outage
        fields = ["started_at", "ended_at", "description"]


class OutageEndSerializer(serializers.Serializer):
    ended_at = serializers.DateTimeField(required=False, allow_null=True,
                                         help_text="When it ended (now if left out).")


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    service = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.select_related("ci_class"),
        help_text="The business service (CI id). Not changed after creation.")
    service_name = serializers.CharField(source="service.name", read_only=True)

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "service", "service_name", "starts_at", "ends_at", "reason",
                  "created_by", "created_at", "updated_at"]
        read_only_fields = ["created_by", "created_at", "updated_at"]


class MaintenanceWindowUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MaintenanceWindow
        fields = ["starts_at", "ends_at", "reason"]


class AvailabilityTargetSerializer(serializers.Serializer):
    target_percent = serializers.CharField(
        allow_null=True, allow_blank=True,
        help_text="Percent of agreed time, above 0 and at most 100 (e.g. \"99.5\"); null "
                  "removes the target.")


class MonthAvailabilitySerializer(serializers.Serializer):
    service = serializers.IntegerField()
    service_name = serializers.CharField()
    month = serializers.CharField(help_text="YYYY-MM, in the platform's time zone.")
    availability_percent = serializers.DecimalField(max_digits=7, decimal_places=3,
                                                    allow_null=True,
                                                    help_text="Null: no agreed time.")
    target_percent = serializers.DecimalField(max_digits=6, decimal_places=3,
                                              allow_null=True)
    target_met = serializers.BooleanField(allow_null=True)
    agreed_seconds = serializers.IntegerField()
    downtime_seconds = serializers.IntegerField()


def month_data(service: ConfigurationItem, month: Any) -> dict[str, Any]:
    """A :class:`availability.selectors.MonthFigures` in the API's shape."""
    figures = month.figures
    return {"service": service.pk, "service_name": service.name, "month": month.key,
            "availability_percent": figures.percent, "target_percent": month.target,
            "target_met": month.met, "agreed_seconds": int(figures.agreed.total_seconds()),
            "downtime_seconds": int(figures.downtime.total_seconds())}
