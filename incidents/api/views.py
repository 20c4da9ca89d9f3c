from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from incidents import escalation, selectors, services
from incidents.filtersets import IncidentFilterSet
from incidents.major_selectors import with_family
from incidents.models import Incident, IncidentState
from incidents.similar import similar_open_incidents, text_method
from sla.engine import timers_of
from sla.models import AgreementKind
from sla.timer_serializers import TimerSerializer

from .major import INCIDENT_KEY, MajorIncidentActions
from .serializers import (
    AssignSerializer,
    BodySerializer,
    EscalateSerializer,
    IncidentCreateSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    NoteSerializer,
    OverrideSerializer,
    ResolveSerializer,
    SimilarQuerySerializer,
    SimilarResultSerializer,
    TransitionSerializer,
)


class IncidentViewSet(MajorIncidentActions, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                      viewsets.ReadOnlyModelViewSet):
    """Incidents. The desk sees all; anyone else sees their own (others answer 404, so
    existence does not leak). Every change goes through the incident services: state,
    assignment and priority move only through their actions."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Incident.objects.none()
        return with_family(selectors.incidents_visible_to(self.request.user))

    def _detail(self, incident: Incident, code: int = status.HTTP_200_OK, *,
                fresh: bool = True) -> Response:
        if fresh:  # an action's service may have changed more than the row it returned
            incident = with_family(selectors.incidents_for_api()).get(pk=incident.pk)
        return Response(IncidentSerializer(incident, context={"request": self.request}).data,
                        status=code)

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = IncidentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = {k: v for k, v in body.validated_data.items() if v is not None}
        incident = services.incident_create(actor=request.user, **data)
        # The row just written, as written: no need to read it back. A new incident has
        # no children yet (with_family's annotations, known without asking).
        incident.children_count = 0
        incident.parent_number = incident.parent.number if incident.parent_id else None
        return self._detail(incident, status.HTTP_201_CREATED, fresh=False)

    @extend_schema(responses=TimerSerializer(many=True), parameters=[INCIDENT_KEY])
    @action(detail=True, methods=["get"])
    def sla(self, request: Request, pk: str | None = None) -> Response:
        """The incident's SLA, OLA and contract timers: live ones, met or missed ones,
        and the ones replaced when a change re-evaluated the agreements (cancelled). The
        caller sees the SLA timers only."""
        incident = self.get_object()
        timers = timers_of(incident)
        if not request.user.has_perm("accounts.access_desk"):
            # The caller sees the agreement made with them; OLAs and contracts are internal.
            timers = [t for t in timers if t.kind == AgreementKind.SLA]
        return Response(TimerSerializer(timers, many=True).data)

    @extend_schema(request=IncidentUpdateSerializer, responses=IncidentSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incident = self.get_object()
        body = IncidentUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.incident_update(actor=request.user, incident=incident,
                                 **body.validated_data)
        return self._detail(incident)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs["partial"] = True
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(parameters=[SimilarQuerySerializer], responses=SimilarResultSerializer,
                   summary="Open incidents similar to the one being logged (desk only)")
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None,
            permission_classes=[permissions.IsAuthenticated, DeskPermission])
    def similar(self, request: Request) -> Response:
        """Ranked duplicate suggestions with scores and reasons (see docs/incidents.md,
        "Finding duplicates"): same CI or service lately, similar text."""
        query = SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        suggestions = similar_open_incidents(
            title=values["title"], description=values["description"],
            service=values["service"], ci=values["ci"], limit=values["limit"])
        return Response(SimilarResultSerializer({
            "method": text_method().name, "results": suggestions}).data)

    @extend_schema(request=AssignSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.incident_assign(actor=request.user, incident=incident,
                                 group=body.validated_data["group"],
                                 assignee=body.validated_data.get("assignee"))
        return self._detail(incident)

    @extend_schema(request=TransitionSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        services.incident_transition(actor=request.user, incident=incident,
                                     to_state=values.pop("to_state"), note=values.pop("note"),
                                     **values)
        return self._detail(incident)

    @extend_schema(request=ResolveSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        services.incident_transition(actor=request.user, incident=incident,
                                     to_state=IncidentState.RESOLVED, note=values.pop("note"),
                                     **values)
        return self._detail(incident)

    @extend_schema(request=NoteSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.incident_transition(actor=request.user, incident=incident,
                                     to_state=IncidentState.IN_PROGRESS,
                                     note=body.validated_data["note"])
        return self._detail(incident)

    @extend_schema(request=BodySerializer, responses={201: IncidentSerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(request, internal=False)

    @extend_schema(request=BodySerializer, responses={201: IncidentSerializer})
    @action(detail=True, methods=["post"], url_path="work-note")
    def work_note(self, request: Request, pk: str | None = None) -> Response:
        return self._respond(request, internal=True)

    def _respond(self, request: Request, *, internal: bool) -> Response:
        incident = self.get_object()
        body = BodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.incident_respond(actor=request.user, incident=incident,
                                  body=body.validated_data["body"], internal=internal)
        return self._detail(incident, status.HTTP_201_CREATED)

    @extend_schema(request=OverrideSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="override-priority")
    def override_priority(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = OverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.incident_override_priority(actor=request.user, incident=incident,
                                            **body.validated_data)
        return self._detail(incident)

    @extend_schema(request=EscalateSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, pk: str | None = None) -> Response:
        """Hierarchical escalation: tells the group's manager (level 1), then the incident
        managers (level 2). With ``to_level`` the call is idempotent."""
        incident = self.get_object()
        body = EscalateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        escalation.incident_escalate(actor=request.user, incident=incident,
                                     reason=body.validated_data["reason"],
                                     to_level=body.validated_data.get("to_level"))
        return self._detail(incident)
