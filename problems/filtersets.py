"""One FilterSet for the problem lists, shared by the desk queue and the API."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Team, TeamMembership
from incidents.models import Category
from tickets.models import Priority

from .models import Problem, ProblemState
from .workflow import OPEN_STATES

QUEUES = {
    "open": _("All open"),
    "mine": _("My problems"),
    "my_groups": _("My groups"),
    "known_errors": _("Known errors"),
    "rca": _("In root cause analysis"),
    "resolved": _("Resolved"),
    "closed": _("Closed"),
    "all": _("All"),
}


class ProblemFilterSet(django_filters.FilterSet):
    queue = django_filters.ChoiceFilter(choices=list(QUEUES.items()), method="filter_queue",
                                        label=_("Queue"))
    q = django_filters.CharFilter(method="filter_q", label=_("Search"),
                                  help_text=_("Number, title or root cause"))
    state = django_filters.MultipleChoiceFilter(choices=ProblemState.choices,
                                                label=_("State"))
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices,
                                                   label=_("Priority"))
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.filter(parent__isnull=True), label=_("Category"))
    known_error = django_filters.BooleanFilter(label=_("Known error"))
    assignment_group = django_filters.ModelChoiceFilter(queryset=Team.objects.all(),
                                                        label=_("Group"))
    assignee = django_filters.NumberFilter(field_name="assignee", label=_("Assignee"))
    service = django_filters.NumberFilter(field_name="services", label=_("Service"))
    ci = django_filters.NumberFilter(field_name="cis", label=_("CI"))
    incident = django_filters.NumberFilter(field_name="incidents", label=_("Incident"))

    class Meta:
        model = Problem
        fields = ["queue", "q", "state", "priority", "category", "known_error",
                  "assignment_group", "assignee", "service", "ci", "incident"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(number__iexact=value) | Q(title__icontains=value)
                               | Q(root_cause__icontains=value))

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        user = getattr(self.request, "user", None)
        open_ = Q(state__in=OPEN_STATES)
        if value == "open":
            return queryset.filter(open_)
        if value == "mine":
            return queryset.filter(open_, assignee=user) if user else queryset.none()
        if value == "my_groups":
            groups = TeamMembership.objects.filter(user=user).values("team_id")
            return queryset.filter(open_, assignment_group__in=groups)
        if value == "known_errors":
            return queryset.filter(known_error=True).exclude(state=ProblemState.CLOSED)
        if value == "rca":
            return queryset.filter(state=ProblemState.RCA)
        if value == "resolved":
            return queryset.filter(state=ProblemState.RESOLVED)
        if value == "closed":
            return queryset.filter(state=ProblemState.CLOSED)
        return queryset
