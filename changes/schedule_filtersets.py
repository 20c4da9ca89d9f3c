"""Filters of the schedule pages, shared by the desk and the API: the windows list
(a FilterSet) and the forward schedule's parameters (a form: the schedule is a list of
entries built from several tables, not one queryset)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from cmdb.pickers import SERVICE, cis_of_kind
from itsm.errors import DomainError
from itsm.widgets import QuickSelect

from .models import ChangeType, Recurrence, ScheduleWindow, WindowKind


class WindowFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Name or reason"))
    kind = django_filters.ChoiceFilter(choices=WindowKind.choices, label=_("Kind"))
    ci = django_filters.NumberFilter(field_name="ci_id", label=_("CI or service (id)"))
    recurrence = django_filters.ChoiceFilter(choices=Recurrence.choices, label=_("Repeats"))
    active = django_filters.BooleanFilter(field_name="is_active", label=_("Active"))
    is_global = django_filters.BooleanFilter(field_name="ci", lookup_expr="isnull",
                                             label=_("Global (no CI)"))

    class Meta:
        model = ScheduleWindow
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = (value or "").strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(reason__icontains=value)
                               | Q(ci__name__icontains=value))


def services() -> QuerySet:
    return cis_of_kind(SERVICE).order_by("name")


class ScheduleFilterForm(forms.Form):
    """What part of the forward schedule to show: a range (the desk derives it from the
    calendar's view), a service, a team, change types."""

    start = forms.DateTimeField(label=_("From"), required=False)
    end = forms.DateTimeField(label=_("Until"), required=False)
    service = forms.ModelChoiceField(queryset=services(), required=False,
                                     label=_("Service"), widget=QuickSelect,
                                     empty_label=_("All services"))
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False,
                                  label=_("Team"), widget=QuickSelect,
                                  empty_label=_("All teams"))
    type = forms.MultipleChoiceField(choices=ChangeType.choices, required=False,
                                     label=_("Change types"),
                                     widget=forms.CheckboxSelectMultiple)

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"service": data.get("service"), "team": data.get("team"),
                "types": data.get("type") or None}

    def raise_errors(self) -> None:
        """The form's errors as the DomainError the API answers with."""
        fields = {name: [str(message) for message in messages]
                  for name, messages in self.errors.items()}
        first = next(iter(fields.values()))[0]
        raise DomainError(first, fields=fields)


def default_range(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last week and the next twelve (a subscribed feed's range)."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=7)
    return start, start + dt.timedelta(days=98)
