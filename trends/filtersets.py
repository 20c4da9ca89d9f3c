"""One FilterSet for the proposals, shared by the desk page's tabs and the API list."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from .models import ClusterKind, Proposal, ProposalState


class ProposalFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ProposalState.choices, label=_("State"))
    kind = django_filters.ChoiceFilter(choices=ClusterKind.choices, label=_("Kind"))

    class Meta:
        model = Proposal
        fields = ["state", "kind"]
