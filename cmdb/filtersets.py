"""One FilterSet per CMDB list, shared by the desk, the API and CSV export."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Team

from .models import (
    AttributeDefinition,
    AttributeType,
    CIClass,
    CIStatus,
    ConfigurationItem,
    Criticality,
    Environment,
    LicenceMetric,
    Relationship,
    RelationshipType,
    SoftwareLicence,
    Tag,
)

ATTRIBUTE_PREFIX = "attr."


class IPAddressFilter(django_filters.CharFilter):
    """A malformed address is a 400 naming the filter, not a database error."""

    field_class = forms.GenericIPAddressField


class ConfigurationItemFilterSet(django_filters.FilterSet):
    """Filters of the CI list. Besides the named filters, ``attr.<key>=<value>`` filters
    on an attribute (exact match; several may be combined)."""

    q = django_filters.CharFilter(method="filter_q", label=_("Search"),
                                  help_text=_("Name, hostname, serial, asset tag or IP"))
    ci_class = django_filters.ModelMultipleChoiceFilter(
        field_name="ci_class__key", to_field_name="key", queryset=CIClass.objects.all(),
        label=_("Class"))
    status = django_filters.MultipleChoiceFilter(choices=CIStatus.choices, label=_("Status"))
    owner_team = django_filters.ModelChoiceFilter(queryset=Team.objects.all(),
                                                  label=_("Owner team"))
    criticality = django_filters.ChoiceFilter(choices=Criticality.choices,
                                              label=_("Criticality"))
    environment = django_filters.ChoiceFilter(choices=Environment.choices,
                                              label=_("Environment"))
    tag = django_filters.ModelMultipleChoiceFilter(
        field_name="tags__name", to_field_name="name", queryset=Tag.objects.all(),
        label=_("Tag"), conjoined=True)
    location = django_filters.CharFilter(lookup_expr="icontains", label=_("Location"))
    serial_number = django_filters.CharFilter(lookup_expr="iexact", label=_("Serial number"))
    hostname = django_filters.CharFilter(lookup_expr="iexact", label=_("Hostname"))
    ip_address = IPAddressFilter(label=_("IP address"))
    assigned_to = django_filters.NumberFilter(field_name="assigned_to", label=_("Assigned to"))
    warranty_before = django_filters.DateFilter(field_name="warranty_end", lookup_expr="lte",
                                                label=_("Warranty ends before"),
                                                widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = ConfigurationItem
        fields = ["q", "ci_class", "status", "owner_team", "criticality", "environment", "tag",
                  "location"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(hostname__icontains=value)
            | Q(serial_number__iexact=value) | Q(asset_tag__iexact=value)
            | (Q(ip_address=value) if _looks_like_ip(value) else Q(pk__in=[]))
        )

    @property
    def qs(self) -> QuerySet:
        queryset = super().qs
        for key, value in self.attribute_filters().items():
            queryset = queryset.filter(_attribute_match(key, value))
        return queryset

    def attribute_filters(self) -> dict[str, str]:
        """``attr.<key>`` parameters with a value (an empty one filters nothing)."""
        data = self.data or {}
        found = {k[len(ATTRIBUTE_PREFIX):]: data.get(k) for k in data
                 if k.startswith(ATTRIBUTE_PREFIX) and k[len(ATTRIBUTE_PREFIX):].isidentifier()}
        return {k: v for k, v in found.items() if v not in (None, "")}

    def is_valid(self) -> bool:
        valid = super().is_valid()
        data = self.data or {}
        bad = [k for k in data if k.startswith(ATTRIBUTE_PREFIX)
               and not k[len(ATTRIBUTE_PREFIX):].isidentifier()]
        for key in bad:
            self.form.add_error(None, _("%(key)s is not an attribute name.") % {"key": key})
        return valid and not bad


def _looks_like_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _typed(kind: str, text: str) -> Any:
    if kind == AttributeType.BOOLEAN:
        return text.strip().lower() in ("true", "yes", "1", "on")
    if kind in (AttributeType.NUMBER, AttributeType.REFERENCE):
        try:
            number = float(text)
        except ValueError:
            return None
        return int(number) if number.is_integer() else number
    return text


def _attribute_match(key: str, value: str) -> Q:
    """Attribute values are stored typed, as their schema says (the number 16, the text
    "16"). Match the value the way each class that has this attribute stores it."""
    kinds = set(AttributeDefinition.objects.filter(key=key).values_list("type", flat=True))
    match = Q(pk__in=[])
    for kind in kinds or {AttributeType.TEXT}:
        typed = _typed(kind, str(value))
        if typed is not None:
            match |= Q(**{f"attributes__{key}": typed})
    return match


class RelationshipFilterSet(django_filters.FilterSet):
    ci = django_filters.NumberFilter(method="filter_ci", label=_("Either end"))
    source = django_filters.NumberFilter(field_name="source")
    target = django_filters.NumberFilter(field_name="target")
    type = django_filters.ModelChoiceFilter(field_name="type__key", to_field_name="key",
                                            queryset=RelationshipType.objects.all())

    class Meta:
        model = Relationship
        fields = ["ci", "source", "target", "type"]

    def filter_ci(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        return queryset.filter(Q(source=value) | Q(target=value))


class SoftwareLicenceFilterSet(django_filters.FilterSet):
    product = django_filters.NumberFilter(field_name="product")
    metric = django_filters.ChoiceFilter(choices=LicenceMetric.choices)
    owner_team = django_filters.ModelChoiceFilter(queryset=Team.objects.all())
    expires_before = django_filters.DateFilter(field_name="expiry_date", lookup_expr="lte")

    class Meta:
        model = SoftwareLicence
        fields = ["product", "metric", "owner_team", "expires_before"]
