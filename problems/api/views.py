"""The problem API: list and filter, create, read, update, move along the lifecycle,
link and unlink incidents, publish known errors, resolve with the linked incidents.
Every write calls problems.services; refusals come back in the one error shape with the
field named."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from incidents.models import Incident
from itsm.errors import DomainError
from problems import services
from problems.filtersets import ProblemFilterSet
from problems.models import Problem, ProblemIncident
from tickets.services import ticket_comment

from .serializers import (
    ProblemCreateSerializer,
    ProblemIncidentLinkSerializer,
    ProblemKnownErrorSerializer,
    ProblemNoteSerializer,
    ProblemResolveOutcomeSerializer,
    ProblemResolveSerializer,
    ProblemSerializer,
    ProblemTransitionSerializer,
    ProblemWriteSerializer,
)

INCIDENT_NUMBER = OpenApiParameter("incident", str, OpenApiParameter.PATH,
                                   description="The incident's number (INC…).")


def problems_for_api() -> QuerySet[Problem]:
    links = ProblemIncident.objects.select_related("incident").order_by("linked_at", "id")
    return Problem.objects.prefetch_related(
        "services", "cis", Prefetch("incident_links", queryset=links))


class ProblemViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                     viewsets.ReadOnlyModelViewSet):
    """Problems (desk only). Problem managers write; the desk reads and links incidents.
    State and the known-error flag move only through their actions."""

    serializer_class = ProblemSerializer
    filterset_class = ProblemFilterSet
    permission_classes = [permissions.IsAuthenticated, DeskPermission]
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Problem]:
        return problems_for_api().order_by("id")

    def _detail(self, problem: Problem, code: int = status.HTTP_200_OK) -> Response:
        problem = problems_for_api().get(pk=problem.pk)
        return Response(self.get_serializer(problem).data, status=code)

    @extend_schema(request=ProblemCreateSerializer, responses={201: ProblemSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ProblemCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        problem = services.problem_create(actor=request.user, **body.validated_data)
        return self._detail(problem, status.HTTP_201_CREATED)

    @extend_schema(request=ProblemWriteSerializer, responses=ProblemSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        problem = self.get_object()
        body = ProblemWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.problem_update(actor=request.user, problem=problem, **body.validated_data)
        return self._detail(problem)

    @extend_schema(request=ProblemWriteSerializer, responses=ProblemSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=ProblemTransitionSerializer, responses=ProblemSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        problem = self.get_object()
        body = ProblemTransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.problem_transition(actor=request.user, problem=problem,
                                    **body.validated_data)
        return self._detail(problem)

    @extend_schema(
        request=ProblemResolveSerializer, responses=ProblemResolveOutcomeSerializer,
        examples=[OpenApiExample("Resolve with the incidents", request_only=True, value={
            "resolution": "Rekey timers aligned on all gateways", "resolve_incidents": True,
            "note_to_callers": "We fixed the VPN gateways: reconnect once."})])
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Resolve the problem and, with ``resolve_incidents``, each open linked incident
        (its caller reads ``note_to_callers``). Incidents that refuse are listed."""
        problem = self.get_object()
        body = ProblemResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = services.problem_resolve(actor=request.user, problem=problem,
                                           **body.validated_data)
        problem = problems_for_api().get(pk=problem.pk)
        return Response({
            "problem": self.get_serializer(problem).data,
            "incidents_resolved": outcome.incidents_resolved,
            "incidents_refused": outcome.incidents_refused})

    @extend_schema(request=ProblemKnownErrorSerializer, responses=ProblemSerializer)
    @action(detail=True, methods=["post"], url_path="known-error")
    def known_error(self, request: Request, pk: str | None = None) -> Response:
        """Publish (``true``, needs the workaround) or withdraw (``false``) the known error."""
        problem = self.get_object()
        body = ProblemKnownErrorSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.problem_set_known_error(actor=request.user, problem=problem,
                                         known_error=body.validated_data["known_error"])
        return self._detail(problem)

    @extend_schema(request=ProblemIncidentLinkSerializer, responses={201: ProblemSerializer})
    @action(detail=True, methods=["post"])
    def incidents(self, request: Request, pk: str | None = None) -> Response:
        """Link an incident (a known error's workaround goes to its caller)."""
        problem = self.get_object()
        body = ProblemIncidentLinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.problem_link_incident(actor=request.user, problem=problem,
                                       incident=body.validated_data["incident"])
        return self._detail(problem, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ProblemSerializer, parameters=[INCIDENT_NUMBER])
    @action(detail=True, methods=["delete"], url_path=r"incidents/(?P<incident>[A-Za-z0-9]+)")
    def unlink(self, request: Request, pk: str | None = None,
               incident: str | None = None) -> Response:
        """Unlink an incident."""
        problem = self.get_object()
        found = Incident.objects.filter(number=(incident or "").upper()).first()
        if found is None:
            raise DomainError(f"There is no incident {incident}.", code="not_found",
                              fields={"incident": ["No such incident."]})
        services.problem_unlink_incident(actor=request.user, problem=problem, incident=found)
        return self._detail(problem)

    @extend_schema(request=ProblemNoteSerializer, responses={201: ProblemSerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request: Request, pk: str | None = None) -> Response:
        return self._note(request, internal=False)

    @extend_schema(request=ProblemNoteSerializer, responses={201: ProblemSerializer})
    @action(detail=True, methods=["post"], url_path="work-note")
    def work_note(self, request: Request, pk: str | None = None) -> Response:
        return self._note(request, internal=True)

    def _note(self, request: Request, *, internal: bool) -> Response:
        problem = self.get_object()
        body = ProblemNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket_comment(ticket=problem, actor=request.user, body=body.validated_data["body"],
                       internal=internal)
        return self._detail(problem, status.HTTP_201_CREATED)
