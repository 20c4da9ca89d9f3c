"""The change API: the record, its lifecycle and the standard change catalogue, with the
pipeline flow (open from a template, wait for the decision, report the result). Every
write calls changes.services."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from changes import services
from changes.filtersets import ChangeFilterSet
from changes.models import (
    ApprovalRequest,
    ApprovalState,
    Change,
    ChangeState,
    ChangeTemplate,
    ChangeTemplateVersion,
)
from tickets.services import ticket_comment

from .risk import ChangeRiskReviewActions
from .schedule import ChangeConflictsMixin
from .serializers import (
    ChangeCreateSerializer,
    ChangeNoteSerializer,
    ChangeSerializer,
    ChangeTransitionSerializer,
    ChangeUpdateSerializer,
    ResultSerializer,
    TemplateCreateSerializer,
    TemplateSerializer,
    TemplateUseSerializer,
    TemplateVersionSerializer,
    TemplateVersionWriteSerializer,
    WaitQuerySerializer,
)

# States in which a change still waits for its decision (the pipeline's "wait").
UNDECIDED = (ChangeState.NEW, ChangeState.ASSESS, ChangeState.AUTHORIZE)
WAIT_POLL_SECONDS = 0.5

PIPELINE_FLOW = """
**The pipeline flow** (CI/CD opening a change, as a service account with a desk token):

1. `POST /api/v1/changes/templates/{id}/use/` with the CIs and the planned start opens a
   standard change from the template's approved version (no further approval); with
   `"schedule": true` it is scheduled at once. A normal change is opened with
   `POST /api/v1/changes/` and moved with `…/{id}/transition/` (assess → authorize).
2. `GET /api/v1/changes/{id}/wait/?timeout=20` answers as soon as the change is decided
   (scheduled, cancelled, or its approval round rejected or asking for information), or
   after the timeout; `GET /api/v1/changes/{id}/` polls. `state` and `approval` say where
   it stands.
3. `POST /api/v1/changes/{id}/start/` when the deployment begins (refused before the
   planned start unless it is an emergency change).
4. `POST /api/v1/changes/{id}/result/` with `successful`, `successful_with_issues`,
   `failed` or `backed_out` finishes the implementation; the change goes to review.
"""


def changes_for_api() -> QuerySet[Change]:
    latest = ApprovalRequest.objects.order_by("-created_at", "-id").prefetch_related("tasks")
    return Change.objects.select_related("template_version").prefetch_related(
        "services", "cis", "incidents", "caused_incidents",
        Prefetch("approvals", queryset=latest, to_attr="all_rounds"))


class ChangeViewSet(ChangeRiskReviewActions, ChangeConflictsMixin, mixins.CreateModelMixin,
                    mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    __doc__ = "Changes (desk only). State moves only through the actions." + PIPELINE_FLOW

    serializer_class = ChangeSerializer
    filterset_class = ChangeFilterSet
    permission_classes = [permissions.IsAuthenticated, DeskPermission]
    # PUT and DELETE serve the review and caused-incident actions; a change itself is
    # never deleted (no destroy) and PUT on it is a partial update.
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Change]:
        return changes_for_api().order_by("id")

    def _detail(self, change: Change, code: int = status.HTTP_200_OK) -> Response:
        change = changes_for_api().get(pk=change.pk)
        return Response(self.get_serializer(_with_rounds(change)).data, status=code)

    def get_object(self) -> Change:
        return _with_rounds(super().get_object())

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        rows = [_with_rounds(change) for change in page]
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    @extend_schema(request=ChangeCreateSerializer, responses={201: ChangeSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ChangeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = services.change_create(actor=request.user, **_present(body.validated_data))
        return self._detail(change, status.HTTP_201_CREATED)

    @extend_schema(request=ChangeUpdateSerializer, responses=ChangeSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        change = self.get_object()
        body = ChangeUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.change_update(actor=request.user, change=change, **body.validated_data)
        return self._detail(change)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs["partial"] = True
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=ChangeTransitionSerializer, responses=ChangeSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        change = self.get_object()
        body = ChangeTransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        services.change_transition(actor=request.user, change=change,
                                   to_state=values.pop("to_state"), note=values.pop("note"),
                                   **values)
        return self._detail(change)

    @extend_schema(parameters=[WaitQuerySerializer], responses=ChangeSerializer,
                   summary="Wait until the change is decided (long poll, at most 25 s)")
    @action(detail=True, methods=["get"])
    def wait(self, request: Request, pk: str | None = None) -> Response:
        """Answers when the change leaves New/Assess/Authorize, or its approval round is
        rejected or asks for information, or when ``timeout`` seconds have passed (then
        the change is returned as it stands: call again)."""
        query = WaitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        change = self.get_object()
        deadline = time.monotonic() + query.validated_data["timeout"]
        while not _decided(change) and time.monotonic() < deadline:
            time.sleep(WAIT_POLL_SECONDS)
            change = _with_rounds(changes_for_api().get(pk=change.pk))
        return Response(self.get_serializer(change).data)

    @extend_schema(request=None, responses=ChangeSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        """The implementation begins (Scheduled → Implement)."""
        change = self.get_object()
        services.change_transition(actor=request.user, change=change,
                                   to_state=ChangeState.IMPLEMENT)
        return self._detail(change)

    @extend_schema(
        request=ResultSerializer, responses=ChangeSerializer,
        examples=[OpenApiExample("Deployment succeeded", request_only=True,
                                 value={"result": "successful",
                                        "note": "Pipeline run 4812: 14/14 checks green"})])
    @action(detail=True, methods=["post"])
    def result(self, request: Request, pk: str | None = None) -> Response:
        """Report how the implementation went: the change moves to Review with the result
        (a scheduled change is started first, in the same transaction)."""
        change = self.get_object()
        body = ResultSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with transaction.atomic():
            if change.state == ChangeState.SCHEDULED:
                change = services.change_transition(actor=request.user, change=change,
                                                    to_state=ChangeState.IMPLEMENT)
            services.change_transition(actor=request.user, change=change,
                                       to_state=ChangeState.REVIEW,
                                       note=body.validated_data["note"],
                                       result=body.validated_data["result"])
        return self._detail(change)

    @extend_schema(request=ChangeNoteSerializer, responses={201: ChangeSerializer})
    @action(detail=True, methods=["post"])
    def comment(self, request: Request, pk: str | None = None) -> Response:
        return self._note(request, internal=False)

    @extend_schema(request=ChangeNoteSerializer, responses={201: ChangeSerializer})
    @action(detail=True, methods=["post"], url_path="work-note")
    def work_note(self, request: Request, pk: str | None = None) -> Response:
        return self._note(request, internal=True)

    def _note(self, request: Request, *, internal: bool) -> Response:
        change = self.get_object()
        body = ChangeNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket_comment(ticket=change, actor=request.user, body=body.validated_data["body"],
                       internal=internal)
        return self._detail(change, status.HTTP_201_CREATED)


def _with_rounds(change: Change) -> Change:
    rounds = getattr(change, "all_rounds", None)
    if rounds is not None:
        change.latest_rounds = rounds[:1]
    return change


def _decided(change: Change) -> bool:
    if change.state not in UNDECIDED:
        return True
    rounds = getattr(change, "latest_rounds", None) or []
    return change.state == ChangeState.AUTHORIZE and bool(rounds) and rounds[0].state in (
        ApprovalState.REJECTED, ApprovalState.INFO_REQUESTED)


def _present(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# --- Standard change templates --------------------------------------------------------

class ManagePermission(permissions.BasePermission):
    message = "Only change managers manage the standard change catalogue."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or view.action == "use" or bool(
            request.user.has_perm(services.MANAGE))


TEMPLATE_KEY = OpenApiParameter("id", int, OpenApiParameter.PATH,
                                description="The template's id.")


class ChangeTemplateViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The standard change catalogue. Everyone with desk access reads it and opens
    changes from approved templates (``use``); change managers create templates and
    approve, version and retire them (``/changes/template-versions/``)."""

    serializer_class = TemplateSerializer
    permission_classes = [permissions.IsAuthenticated, DeskPermission, ManagePermission]

    def get_queryset(self) -> QuerySet[ChangeTemplate]:
        return ChangeTemplate.objects.prefetch_related(
            Prefetch("versions", queryset=ChangeTemplateVersion.objects.prefetch_related(
                "allowed_ci_classes"))).order_by("id")

    @extend_schema(request=TemplateCreateSerializer, responses={201: TemplateSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = TemplateCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.template_create(actor=request.user, **_present(body.validated_data))
        template = self.get_queryset().get(pk=version.template_id)
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TemplateUseSerializer, responses={201: ChangeSerializer},
        parameters=[TEMPLATE_KEY], summary="Open a standard change (the pipeline's step 1)",
        description=PIPELINE_FLOW,
        examples=[OpenApiExample(
            "A deployment pipeline", request_only=True,
            value={"cis": [42], "planned_start": "2026-12-01T22:00:00Z",
                   "justification": "Release 5.4.1 of the payroll web front end",
                   "schedule": True})])
    @action(detail=True, methods=["post"])
    def use(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        body = TemplateUseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = _present(body.validated_data)
        schedule = values.pop("schedule", False)
        with transaction.atomic():
            change = services.change_create_from_template(actor=request.user,
                                                          template=template, **values)
            if schedule:
                change = services.change_transition(actor=request.user, change=change,
                                                    to_state=ChangeState.SCHEDULED)
        change = _with_rounds(changes_for_api().get(pk=change.pk))
        return Response(ChangeSerializer(change, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class ChangeTemplateVersionViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Versions of standard change templates: drafts are edited, approved once (which
    retires the version before), and retired (no new changes from them)."""

    serializer_class = TemplateVersionSerializer
    permission_classes = [permissions.IsAuthenticated, DeskPermission, ManagePermission]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[ChangeTemplateVersion]:
        return ChangeTemplateVersion.objects.select_related("template").prefetch_related(
            "allowed_ci_classes").order_by("id")

    def _detail(self, version: ChangeTemplateVersion, code: int = 200) -> Response:
        return Response(TemplateVersionSerializer(self.get_queryset().get(pk=version.pk)).data,
                        status=code)

    @extend_schema(request=TemplateVersionWriteSerializer, responses=TemplateVersionSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        version = self.get_object()
        body = TemplateVersionWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.template_version_update(actor=request.user, version=version,
                                         **body.validated_data)
        return self._detail(version)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        kwargs["partial"] = True
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses={201: TemplateVersionSerializer},
                   summary="A new draft version copied from the latest")
    @action(detail=True, methods=["post"], url_path="new-version")
    def new_version(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        draft = services.template_version_create(actor=request.user,
                                                 template=version.template)
        return self._detail(draft, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TemplateVersionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        version = services.template_version_approve(actor=request.user,
                                                    version=self.get_object())
        return self._detail(version)

    @extend_schema(request=None, responses=TemplateVersionSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        version = services.template_version_retire(actor=request.user,
                                                   version=self.get_object())
        return self._detail(version)

