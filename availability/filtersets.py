"""One FilterSet per availability list (the API's outages and maintenance windows)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import MaintenanceWindow, Outage


class OutageFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="description", lookup_expr="icontains",
                                  label=_("Text in the description"))
    service = django_filters.NumberFilter(field_name="service_id", label=_("Service (CI id)"))
    ongoing = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull",
                                           label=_("Only ongoing (true) or ended (false)"))
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at",
                                                      lookup_expr="lt")
    incident = django_filters.NumberFilter(field_name="source_incident_id",
                                           label=_("Major incident (id)"))

    class Meta:
        model = Outage
        fields: list[str] = []


class MaintenanceWindowFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="reason", lookup_expr="icontains",
                                  label=_("Text in the reason"))
    service = django_filters.NumberFilter(field_name="service_id", label=_("Service (CI id)"))
    upcoming = django_filters.BooleanFilter(method="filter_upcoming",
                                            label=_("Only windows not over yet (true)"))

    class Meta:
        model = MaintenanceWindow
        fields: list[str] = []

    def filter_upcoming(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        now = timezone.now()
        return queryset.filter(ends_at__gt=now) if value else queryset.filter(ends_at__lte=now)
