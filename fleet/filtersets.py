"""One FilterSet per fleet list, shared by the desk and the API."""

from __future__ import annotations

import contextlib
import ipaddress

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from cmdb.models import Tag

from .models import Agent, EnrolmentGroup, EnrolmentSecret, LiveQuery, QueryKind

BOOLEAN_CHOICES = (("true", _("Yes")), ("false", _("No")))


class DeviceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search"),
                                  help_text=_("Hostname, device name, serial or IP"))
    online = django_filters.BooleanFilter(
        label=_("Online"), widget=django_filters.widgets.BooleanWidget())
    group = django_filters.ModelChoiceFilter(queryset=EnrolmentGroup.objects.all(),
                                             label=_("Enrolment group"))
    os = django_filters.CharFilter(field_name="os_name", lookup_expr="icontains",
                                   label=_("Operating system"))
    tag = django_filters.ModelMultipleChoiceFilter(
        field_name="device__tags__name", to_field_name="name", queryset=Tag.objects.all(),
        label=_("Tag"), conjoined=True)
    version = django_filters.CharFilter(field_name="agent_version", label=_("Agent version"))
    revoked = django_filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", exclude=True, label=_("Revoked"),
        widget=django_filters.widgets.BooleanWidget())

    class Meta:
        model = Agent
        fields = ["q", "online", "group", "os", "tag", "version", "revoked"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        match = (Q(hostname__icontains=value) | Q(device__name__icontains=value)
                 | Q(device__serial_number__iexact=value))
        with contextlib.suppress(ValueError):
            match |= Q(device__ip_address=str(ipaddress.ip_address(value)))
        return queryset.filter(match)


class LiveQueryFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=QueryKind.choices, label=_("Question"))
    mine = django_filters.BooleanFilter(method="filter_mine", label=_("Asked by me"),
                                        widget=django_filters.widgets.BooleanWidget())

    class Meta:
        model = LiveQuery
        fields = ["kind", "mine"]

    def filter_mine(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        user = getattr(self.request, "user", None)
        if value is None or user is None:
            return queryset
        return queryset.filter(asked_by=user) if value else queryset.exclude(asked_by=user)


class EnrolmentSecretFilterSet(django_filters.FilterSet):
    group = django_filters.ModelChoiceFilter(queryset=EnrolmentGroup.objects.all())

    class Meta:
        model = EnrolmentSecret
        fields = ["group"]
