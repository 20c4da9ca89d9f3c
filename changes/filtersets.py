"""One FilterSet for the change lists, shared by the desk queues and the API."""

from __future__ import annotations

import datetime

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Team, TeamMembership

from .models import Change, ChangeCategory, ChangeState, ChangeType, RiskLevel

CLOSED_STATES = (ChangeState.CLOSED, ChangeState.CANCELLED)
OPEN_STATES = tuple(state for state in ChangeState.values if state not in CLOSED_STATES)
UPCOMING_DAYS = 7

QUEUES = {
    "open": _("All open"),
    "mine": _("My changes"),
    "my_groups": _("My groups"),
    "authorize": _("Awaiting authorisation"),
    "upcoming": _("Scheduled (next 7 days)"),
    "implement": _("In implementation"),
    "review": _("In review"),
    "emergency": _("Emergency"),
    "closed": _("Closed"),
    "all": _("All"),
}
# Sorts of the desk list: the keyset's columns and whether it runs newest first.
# "planned" lists the changes that have a planned start, soonest first.
SORTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "created": (("created_at", "id"), True),
    "planned": (("planned_start", "id"), False),
}


class ChangeFilterSet(django_filters.FilterSet):
    queue = django_filters.ChoiceFilter(choices=list(QUEUES.items()), method="filter_queue",
                                        label=_("Queue"))
    q = django_filters.CharFilter(method="filter_q", label=_("Search"),
                                  help_text=_("Number or title"))
    state = django_filters.MultipleChoiceFilter(choices=ChangeState.choices,
                                                label=_("State"))
    type = django_filters.MultipleChoiceFilter(choices=ChangeType.choices, label=_("Type"))
    risk = django_filters.MultipleChoiceFilter(choices=RiskLevel.choices, label=_("Risk"))
    category = django_filters.ModelChoiceFilter(queryset=ChangeCategory.objects.all(),
                                                label=_("Category"))
    assignment_group = django_filters.ModelChoiceFilter(queryset=Team.objects.all(),
                                                        label=_("Group"))
    assignee = django_filters.NumberFilter(field_name="assignee", label=_("Implementer"))
    service = django_filters.NumberFilter(field_name="services", label=_("Service"))
    ci = django_filters.NumberFilter(field_name="cis", label=_("CI"))
    # The planned window overlaps [planned_from, planned_to].
    planned_from = django_filters.IsoDateTimeFilter(method="filter_planned_from",
                                                    label=_("Planned from"))
    planned_to = django_filters.IsoDateTimeFilter(method="filter_planned_to",
                                                  label=_("Planned until"))

    class Meta:
        model = Change
        fields = ["queue", "q", "state", "type", "risk", "category", "assignment_group",
                  "assignee", "service", "ci", "planned_from", "planned_to"]

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(number__iexact=value) | Q(title__icontains=value))

    def filter_planned_from(self, queryset: QuerySet, name: str,
                            value: datetime.datetime | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(Q(planned_end__gte=value)
                               | Q(planned_end__isnull=True, planned_start__gte=value))

    def filter_planned_to(self, queryset: QuerySet, name: str,
                          value: datetime.datetime | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(planned_start__lte=value)

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        user = getattr(self.request, "user", None)
        open_ = Q(state__in=OPEN_STATES)
        if value == "open":
            return queryset.filter(open_)
        if value == "mine":
            return queryset.filter(open_, assignee=user) if user else queryset.none()
        if value == "my_groups":
            # A semi-join (IN) of the person's teams, as the incident queue does.
            groups = TeamMembership.objects.filter(user=user).values("team_id")
            return queryset.filter(open_, assignment_group__in=groups)
        if value == "authorize":
            return queryset.filter(state=ChangeState.AUTHORIZE)
        if value == "upcoming":
            # Late ones (planned start passed, not started) stay in view too.
            until = timezone.now() + datetime.timedelta(days=UPCOMING_DAYS)
            return queryset.filter(state=ChangeState.SCHEDULED, planned_start__lte=until)
        if value == "implement":
            return queryset.filter(state=ChangeState.IMPLEMENT)
        if value == "review":
            return queryset.filter(state=ChangeState.REVIEW)
        if value == "emergency":
            return queryset.filter(open_, type=ChangeType.EMERGENCY)
        if value == "closed":
            return queryset.filter(state__in=CLOSED_STATES)
        return queryset
