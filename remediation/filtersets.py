"""One FilterSet per remediation list (the API's actions, versions, runs and a run's
executions)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from itsm.filters import AnyYesNoWidget

from .models import (
    Action,
    ActionRisk,
    ActionVersion,
    Execution,
    ExecutionState,
    Run,
    RunState,
    VersionStatus,
)


def _number_or_id(prefix: str, value: str) -> Q:
    """A ticket given as its number (INC0000012, any case) or its id."""
    value = value.strip()
    match = Q(**{f"{prefix}__number__iexact": value})
    if value.isdigit():
        match |= Q(**{f"{prefix}_id": int(value)})
    return match


class ActionFilterSet(django_filters.FilterSet):
    """``status``, ``risk`` and ``read_only`` match one and the same version of the
    action: ``?status=approved&risk=low`` lists actions whose approved version is low
    risk."""

    name = django_filters.CharFilter(lookup_expr="icontains", label=_("Name contains"))
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices, method="_version",
                                         label=_("Has a version with this status"))
    risk = django_filters.ChoiceFilter(choices=ActionRisk.choices, method="_version",
                                       label=_("Risk of the version"))
    read_only = django_filters.BooleanFilter(method="_version", widget=AnyYesNoWidget,
                                             label=_("Read-only version"))

    class Meta:
        model = Action
        fields = ["name", "status", "risk", "read_only"]

    def _version(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # applied together in filter_queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        conditions = {name: self.form.cleaned_data[name] for name in
                      ("status", "risk", "read_only")
                      if self.form.cleaned_data.get(name) not in (None, "")}
        if conditions:
            queryset = queryset.filter(pk__in=ActionVersion.objects.filter(
                **conditions).values("action_id"))
        return queryset


class VersionFilterSet(django_filters.FilterSet):
    action = django_filters.CharFilter(field_name="action__name", label=_("Action name"))
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices)

    class Meta:
        model = ActionVersion
        fields = ["action", "status"]


class RunFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=RunState.choices)
    action = django_filters.CharFilter(field_name="version__action__name",
                                       label=_("Action name"))
    incident = django_filters.CharFilter(method="_ticket",
                                         label=_("Incident number (INC…) or id"))
    change = django_filters.CharFilter(method="_ticket", label=_("Change number (CHG…) or id"))
    problem = django_filters.CharFilter(method="_ticket",
                                        label=_("Problem number (PRB…) or id"))

    class Meta:
        model = Run
        fields = ["state", "action", "incident", "change", "problem"]

    def _ticket(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_number_or_id(name, value)) if value.strip() else queryset


class ExecutionFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ExecutionState.choices)
    wave = django_filters.NumberFilter(label=_("Wave number"))

    class Meta:
        model = Execution
        fields = ["state", "wave"]
