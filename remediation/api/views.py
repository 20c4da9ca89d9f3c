"""The remediation REST API under ``/api/v1/remediation/``: the action library (actions,
their versions, four-eyes approval) and runs (preview, start, follow, continue, cancel,
the executions with their output). Every write calls ``remediation.services`` or
``remediation.runs``; their refusals come back as ``{code, message, fields}`` with the
field named as in the request (``params.days``, ``authority.change``,
``rollout.batch_size``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from itsm.api.pagination import IdCursorPagination
from itsm.errors import DomainError

from .. import runs, selectors, services
from ..access import can_view
from ..filtersets import ActionFilterSet, ExecutionFilterSet, RunFilterSet, VersionFilterSet
from ..models import Action, ActionVersion, ExecutionState, Run, RunState
from . import examples
from .serializers import (
    ActionVersionSerializer,
    ActionVersionWriteSerializer,
    RemediationActionCreateSerializer,
    RemediationActionSerializer,
    RemediationActionUpdateSerializer,
    RunDetailSerializer,
    RunExecutionSerializer,
    RunPreviewSerializer,
    RunRequestSerializer,
    RunSerializer,
    RunWaitQuerySerializer,
    run_arguments,
)

TAG = "Remediation"
EXECUTION_FILTERS = [
    OpenApiParameter("state", str, enum=ExecutionState.values,
                     description="Only executions in this state."),
    OpenApiParameter("wave", int, description="Only this wave's executions."),
]
WAIT_POLL_SECONDS = 0.5


class RemediationPermission(permissions.BasePermission):
    """Reading needs desk access and the fleet view or any remediation permission; each
    write needs its own permission (``view.write_permissions`` by action). The services
    check again."""

    message = "Remediation is for desk people who see the fleet or hold a remediation " \
              "permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not can_view(user):
            return False
        needed = getattr(view, "write_permissions", {}).get(view.action)
        if needed and not user.has_perm(needed):
            self.message = NEEDS.get(needed, self.message)
            return False
        return True


NEEDS = {
    services.AUTHOR: "Writing remediation actions needs remediation.add_action "
                     "(remediation operators).",
    services.APPROVE: "Approving and retiring versions needs "
                      "remediation.approve_actionversion (remediation approvers).",
    runs.RUN: "Starting, continuing and cancelling runs needs remediation.run_action "
              "(remediation operators).",
}
PERMISSIONS = [permissions.IsAuthenticated, DeskPermission, RemediationPermission]


class NewestFirst(IdCursorPagination):
    ordering = "-id"


# --- The library ----------------------------------------------------------------------


@extend_schema(tags=[TAG])
class ActionViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                    viewsets.ReadOnlyModelViewSet):
    """The action library: each action with its versions (newest first) and the id of
    its approved version, the one that runs. Filters: `name` (contains), `status`,
    `risk`, `read_only` (the last three match one and the same version)."""

    serializer_class = RemediationActionSerializer
    filterset_class = ActionFilterSet
    permission_classes = PERMISSIONS
    write_permissions = {"create": services.AUTHOR, "partial_update": services.AUTHOR,
                         "update": services.AUTHOR, "new_version": services.AUTHOR}
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Action]:
        return selectors.actions().order_by("id")

    def _detail(self, action_id: int, code: int = status.HTTP_200_OK) -> Response:
        record = self.get_queryset().get(pk=action_id)
        return Response(RemediationActionSerializer(record).data, status=code)

    @extend_schema(request=RemediationActionCreateSerializer,
                   responses={201: RemediationActionSerializer},
                   summary="Create an action with its first draft version",
                   examples=[examples.ACTION_CREATE])
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = RemediationActionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.action_create(actor=request.user, **body.validated_data)
        return self._detail(version.action_id, status.HTTP_201_CREATED)

    @extend_schema(request=RemediationActionUpdateSerializer,
                   responses=RemediationActionSerializer,
                   summary="Edit the action's title, description, resolve-the-incident flag")
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        record = self.get_object()
        body = RemediationActionUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = {"title": record.title, "description": record.description,
                  "resolves_incident": record.resolves_incident, **body.validated_data}
        services.action_update(actor=request.user, action=record, **values)
        return self._detail(record.pk)

    @extend_schema(request=None, responses={201: ActionVersionSerializer},
                   summary="A new draft version copied from the latest")
    @action(detail=True, methods=["post"], url_path="new-version", filter_backends=[])
    def new_version(self, request: Request, pk: str | None = None) -> Response:
        """How an approved version is changed: the copy is a draft (`400 draft_exists`
        when the latest version is still a draft: edit that one)."""
        draft = services.version_new(actor=request.user, action=self.get_object())
        return Response(ActionVersionSerializer(selectors.versions().get(pk=draft.pk)).data,
                        status=status.HTTP_201_CREATED)


@extend_schema(tags=[TAG])
class VersionViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Action versions. A draft is edited (`PATCH`; whoever edits it becomes its author),
    approved by a remediation approver who is not its author (four eyes; approving
    retires the approved version before it) and retired (no new runs; runs already
    started carry on). An approved or retired version never changes. Filters: `action`
    (name), `status`."""

    serializer_class = ActionVersionSerializer
    filterset_class = VersionFilterSet
    permission_classes = PERMISSIONS
    write_permissions = {"partial_update": services.AUTHOR, "update": services.AUTHOR,
                         "approve": services.APPROVE, "retire": services.APPROVE}
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[ActionVersion]:
        return selectors.versions().order_by("id")

    def _detail(self, version: ActionVersion) -> Response:
        record = self.get_queryset().get(pk=version.pk)
        return Response(ActionVersionSerializer(record).data)

    @extend_schema(request=ActionVersionWriteSerializer, responses=ActionVersionSerializer,
                   summary="Edit a draft version")
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        version = self.get_object()
        body = ActionVersionWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        services.version_update(actor=request.user, version=version, **body.validated_data)
        return self._detail(version)

    @extend_schema(request=None, responses=ActionVersionSerializer,
                   summary="Approve a draft (four eyes)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """`403 permission_denied` for the version's author ("You wrote this version:
        another approver must approve it."), `400 not_draft` for a version that is not a
        draft."""
        return self._detail(services.version_approve(actor=request.user,
                                                     version=self.get_object()))

    @extend_schema(request=None, responses=ActionVersionSerializer,
                   summary="Retire a version")
    @action(detail=True, methods=["post"], filter_backends=[])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(services.version_retire(actor=request.user,
                                                    version=self.get_object()))


# --- Runs -------------------------------------------------------------------------------

# The services name some fields as their keyword arguments; the request nests them.
REQUEST_FIELDS = {
    "authority_kind": "authority.kind", "change": "authority.change",
    "template_version": "authority.template_version", "incident": "authority.incident",
    "problem": "authority.problem",
    "rollout": "rollout.mode", "canary_size": "rollout.canary_size",
    "canary_percent": "rollout.canary_percent", "batch_size": "rollout.batch_size",
    "pause_seconds": "rollout.pause_seconds",
    "failure_threshold": "rollout.failure_threshold", "expires_in": "expires_in_minutes",
}


def _as_requested(call: Callable[[], Any], *, by_action: bool) -> Any:
    """Run ``call``; a refusal names the field as the request did."""
    try:
        return call()
    except DomainError as error:
        names = {**REQUEST_FIELDS, "version": "action" if by_action else "version"}
        error.fields = {names.get(name, name): messages
                        for name, messages in error.fields.items()}
        raise


RUN_FLOW = """
**Driving a run from a pipeline** (a desk token of a remediation operator):

1. `POST /api/v1/remediation/runs/preview/` with the body of the start: who would receive
   it (online, offline), who is left out and why, and the waves' sizes. Nothing is
   written; whatever the start would refuse is refused here (`400`, the field named).
2. `POST /api/v1/remediation/runs/` starts it (`201`, the run with `progress`). The first
   wave is sent at once; each next wave when the one before ended (after
   `rollout.pause_seconds`).
3. Poll `GET /api/v1/remediation/runs/{id}/` (or `…/wait/?timeout=20`, which answers as
   soon as the run is no longer `running`). `progress` counts the executions per state,
   overall and per wave. `state`: `running`; `paused` when a wave failed on more than
   `rollout.failure_threshold` % of its devices or the authority lapsed (`stop_reason`
   says which): `POST …/continue/` or `POST …/cancel/`; `completed` or `cancelled` at the
   end, with `summary` (the text posted on the incident, change or problem).
4. `GET /api/v1/remediation/runs/{id}/executions/?state=failed` lists the devices with
   their exit code, output and duration.
"""


@extend_schema(tags=[TAG])
@extend_schema_view(
    list=extend_schema(summary="Runs, newest first"),
    retrieve=extend_schema(summary="A run with its progress (poll this)"))
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    __doc__ = ("Remediation runs: an approved action version sent to devices under an "
               "authority, in waves. Filters: `state`, `action` (name), `incident`, "
               "`change` and `problem` (number or id).\n" + RUN_FLOW)

    filterset_class = RunFilterSet
    permission_classes = PERMISSIONS
    pagination_class = NewestFirst
    write_permissions = {"create": runs.RUN, "preview": runs.RUN, "continue_": runs.RUN,
                         "cancel": runs.RUN}
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[Run]:
        # The counts only where they are shown: a page of executions or a decision on a
        # run of 20,000 devices need not count them first.
        return selectors.runs() if self.action in ("list", "retrieve") else Run.objects.all()

    def get_serializer_class(self) -> Any:
        return RunSerializer if self.action == "list" else RunDetailSerializer

    def _detail(self, run: Run, code: int = status.HTTP_200_OK) -> Response:
        return Response(RunDetailSerializer(selectors.runs().get(pk=run.pk)).data,
                        status=code)

    @staticmethod
    def _request(request: Request) -> tuple[dict[str, Any], bool]:
        body = RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        by_action = "action" in body.validated_data
        return _as_requested(lambda: run_arguments(body.validated_data),
                             by_action=by_action), by_action

    @extend_schema(request=RunRequestSerializer, responses=RunPreviewSerializer,
                   summary="What a run would do, without starting it",
                   description="Same body as the start. " + RUN_FLOW,
                   examples=[examples.RUN_REQUEST, examples.PREVIEW_RESPONSE])
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def preview(self, request: Request) -> Response:
        values, by_action = self._request(request)

        def check() -> dict[str, Any]:
            found = runs.run_preview(
                version=values["version"], targets=values["targets"],
                authority=values["authority"], params=values["params"],
                expires_at=timezone.now() + values["expires_in"])
            sizes = runs.wave_sizes(len(found.eligible), values["rollout"],
                                    canary_size=values["canary_size"],
                                    canary_percent=values["canary_percent"],
                                    batch_size=values["batch_size"])
            return {"receive": len(found.eligible), "online": found.online,
                    "offline": found.offline, "excluded": found.excluded,
                    "excluded_by_reason": found.excluded_by_reason(), "waves": sizes}

        return Response(RunPreviewSerializer(_as_requested(check, by_action=by_action)).data)

    @extend_schema(request=RunRequestSerializer,
                   responses={201: RunDetailSerializer},
                   summary="Start a run (the pipeline's step 2)",
                   description=RUN_FLOW,
                   examples=[examples.RUN_REQUEST, examples.RUN_RESPONSE])
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        values, by_action = self._request(request)
        run = _as_requested(lambda: runs.run_start(actor=request.user, **values),
                            by_action=by_action)
        return self._detail(run, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=RunDetailSerializer,
                   summary="Continue a run that stopped itself")
    @action(detail=True, methods=["post"], url_path="continue", url_name="continue",
            filter_backends=[])
    def continue_(self, request: Request, pk: str | None = None) -> Response:
        """The next wave (or the one not sent) is sent; `400 not_paused` unless the run
        is `paused`; `400` naming `change` or `template_version` when the authority that
        stopped it still does not allow it."""
        return self._detail(runs.run_continue(actor=request.user, run=self.get_object()))

    @extend_schema(request=None, responses=RunDetailSerializer,
                   summary="Cancel a run")
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """What was not sent never is; agents are asked to stop what they hold (their
        results still arrive and are kept). `400 finished` for a finished run."""
        return self._detail(runs.run_cancel(actor=request.user, run=self.get_object()))

    @extend_schema(parameters=[RunWaitQuerySerializer],
                   responses=RunDetailSerializer,
                   summary="Wait until the run stops running (long poll, at most 25 s)")
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def wait(self, request: Request, pk: str | None = None) -> Response:
        """Answers when the run is `paused`, `completed` or `cancelled`, or after
        `timeout` seconds with the run as it stands (call again)."""
        query = RunWaitQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        run = self.get_object()
        deadline = time.monotonic() + query.validated_data["timeout"]
        while run.state == RunState.RUNNING and time.monotonic() < deadline:
            time.sleep(WAIT_POLL_SECONDS)
            run = Run.objects.only("state").get(pk=run.pk)
        return self._detail(run)

    @extend_schema(responses=RunExecutionSerializer(many=True),
                   parameters=EXECUTION_FILTERS, summary="The run's devices with their output")
    @action(detail=True, methods=["get"], filter_backends=[],
            pagination_class=IdCursorPagination)
    def executions(self, request: Request, pk: str | None = None) -> Response:
        """One row per device: wave, state, reason, exit code, duration, stdout and
        stderr. Filters: `state`, `wave`. Pages (`page_size` up to 200) in a stable
        order."""
        run = self.get_object()
        found = ExecutionFilterSet(request.query_params, selectors.executions(run),
                                   request=request)
        if not found.is_valid():
            raise ValidationError(found.errors)
        rows = self.paginate_queryset(found.qs)
        outputs = selectors.execution_outputs(rows)
        data = RunExecutionSerializer(rows, many=True, context={"outputs": outputs}).data
        return self.get_paginated_response(data)


