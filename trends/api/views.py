"""The trends REST API under ``/api/v1/trends/proposals/``: proposals (read), accepting
one (``POST …/accept/``: opens the problem with its incidents) and dismissing one
(``POST …/dismiss/`` with a reason). Reading needs desk access; deciding needs
``trends.decide_proposal``, checked by the services, whose refusals become
``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission

from .. import selectors, services
from ..filtersets import ProposalFilterSet
from .serializers import (
    ProposalAcceptedSerializer,
    ProposalAcceptSerializer,
    ProposalDismissSerializer,
    ProposalSerializer,
)


class ProposalViewSet(viewsets.ReadOnlyModelViewSet):
    """Problems proposed by trend detection: clusters of recent incidents (the same CI,
    service or category, or similar text) from the threshold up. `state` is `open`,
    `accepted` or `dismissed`. Deciding twice is `400 already_decided` (field `state`);
    dismissing without a reason is `400 reason_required` (field `reason`)."""

    permission_classes = [permissions.IsAuthenticated, DeskPermission]
    serializer_class = ProposalSerializer
    filterset_class = ProposalFilterSet
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> Any:
        return selectors.proposals()

    @extend_schema(request=ProposalAcceptSerializer, responses=ProposalAcceptedSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Open the problem the proposal suggests, with its incidents linked."""
        proposal = self.get_object()
        serializer = ProposalAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        problem = services.proposal_accept(actor=request.user, proposal=proposal,
                                           **serializer.validated_data)
        proposal = self.get_queryset().get(pk=proposal.pk)
        return Response({"proposal": ProposalSerializer(proposal).data,
                         "problem": problem.pk, "problem_number": problem.number})

    @extend_schema(request=ProposalDismissSerializer, responses=ProposalSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        """Set the proposal aside with a reason; it comes back only if its cluster
        grows."""
        proposal = self.get_object()
        serializer = ProposalDismissSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.proposal_dismiss(actor=request.user, proposal=proposal,
                                  reason=serializer.validated_data["reason"])
        return Response(ProposalSerializer(self.get_queryset().get(pk=proposal.pk)).data)
