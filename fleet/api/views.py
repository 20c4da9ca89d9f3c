"""The fleet REST API under ``/api/v1/fleet/``: devices (with their inventory summary
and latest snapshot; "refresh now"; revoke), live questions (ask, follow the answers),
enrolment groups and secrets (fleet managers; a secret is returned once, when made).
The services check the permissions and raise the errors the API turns into
``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from cmdb.api.views import CmdbFilterBackend
from itsm.errors import DomainError

from .. import live, selectors, services
from ..filtersets import DeviceFilterSet, EnrolmentSecretFilterSet, LiveQueryFilterSet
from ..models import Agent, EnrolmentGroup, EnrolmentSecret, LiveQuery
from .serializers import (
    DeviceDetailSerializer,
    DeviceSerializer,
    EnrolmentGroupSerializer,
    EnrolmentSecretCreatedSerializer,
    EnrolmentSecretSerializer,
    LiveQueryCreateSerializer,
    LiveQueryDetailSerializer,
    LiveQuerySerializer,
)


class _HasPermission(permissions.BasePermission):
    perm = ""
    message = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm(self.perm))


class FleetViewPermission(_HasPermission):
    perm = services.VIEW
    message = "Seeing the fleet needs the fleet view permission."


class FleetManagePermission(_HasPermission):
    perm = services.MANAGE
    message = "Managing enrolment needs the fleet manage permission."


VIEW = [permissions.IsAuthenticated, DeskPermission, FleetViewPermission]
MANAGE = [permissions.IsAuthenticated, DeskPermission, FleetManagePermission]


class DeviceViewSet(viewsets.ReadOnlyModelViewSet):
    """Enrolled devices (agents). Filters as the desk list: `q` (hostname, device name,
    serial, IP), `online`, `group`, `os`, `tag`, `version`, `revoked`. The detail adds
    the inventory summary and the latest live snapshot."""

    permission_classes = VIEW
    # The CMDB's backend: its schema extension types the tag filter (by tag name).
    filter_backends = [CmdbFilterBackend]
    filterset_class = DeviceFilterSet

    def get_queryset(self) -> QuerySet[Agent]:
        return selectors.devices()

    def get_serializer_class(self) -> Any:
        return DeviceSerializer if self.action == "list" else DeviceDetailSerializer

    @extend_schema(request=None, responses={202: DeviceDetailSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        """"Refresh now": ask the agent for a live snapshot. Poll the device until
        `snapshot.waiting` is false (`400 revoked` for a revoked agent)."""
        agent = self.get_object()
        live.snapshot_request(actor=request.user, agent=agent)
        return Response(DeviceDetailSerializer(selectors.devices().get(pk=agent.pk)).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=DeviceDetailSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Cut the agent off: its next request is refused and it stops (fleet managers;
        `400 revoked` when it already is)."""
        agent = self.get_object()
        services.agent_revoke(actor=request.user, agent=agent)
        return Response(DeviceDetailSerializer(selectors.devices().get(pk=agent.pk)).data)


class LiveQueryViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Fleet-wide live questions. `POST` asks every online device (offline ones are
    counted, not asked); follow `progress` on the detail until `done`. Parameter
    refusals name `params.<name>` (`params.name`, `params.version`, `params.percent`)."""

    permission_classes = VIEW
    filterset_class = LiveQueryFilterSet
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[LiveQuery]:
        return selectors.live_queries()

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return LiveQueryCreateSerializer
        return LiveQuerySerializer if self.action == "list" else LiveQueryDetailSerializer

    @extend_schema(request=LiveQueryCreateSerializer, responses={201: LiveQueryDetailSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = LiveQueryCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            query = live.live_query_create(actor=request.user, **body.validated_data)
        except DomainError as error:
            error.fields = {(name if name in ("kind", "params") else f"params.{name}"): messages
                            for name, messages in error.fields.items()}
            raise
        return Response(LiveQueryDetailSerializer(self.get_queryset().get(pk=query.pk)).data,
                        status=status.HTTP_201_CREATED)


class EnrolmentGroupViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Enrolment groups (fleet managers): devices enrolled with one of a group's secrets
    get its owner team and tags."""

    permission_classes = MANAGE
    serializer_class = EnrolmentGroupSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[EnrolmentGroup]:
        return selectors.enrolment_groups()

    def perform_create(self, serializer: EnrolmentGroupSerializer) -> None:
        from cmdb.services import tags_get_or_create

        data = dict(serializer.validated_data)
        group = services.enrolment_group_create(
            actor=self.request.user, name=data["name"],
            description=data.get("description", ""), owner_team=data.get("owner_team"),
            tags=tags_get_or_create(data.get("tags") or []))
        serializer.instance = self.get_queryset().get(pk=group.pk)


class EnrolmentSecretViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Enrolment secrets (fleet managers). The secret itself is in the `POST` response
    only (`secret`); afterwards only its `prefix` is shown. `POST {id}/revoke/` stops it."""

    permission_classes = MANAGE
    serializer_class = EnrolmentSecretSerializer
    filterset_class = EnrolmentSecretFilterSet
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[EnrolmentSecret]:
        return EnrolmentSecret.objects.select_related("group")

    @extend_schema(request=EnrolmentSecretSerializer,
                   responses={201: EnrolmentSecretCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = EnrolmentSecretSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        secret, raw = services.enrolment_secret_create(
            actor=request.user, group=data["group"], name=data.get("name", ""),
            expires_at=data["expires_at"], max_uses=data.get("max_uses"))
        secret.secret = raw  # type: ignore[attr-defined]
        response = Response(EnrolmentSecretCreatedSerializer(secret).data,
                            status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=None, responses=EnrolmentSecretSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        secret = services.enrolment_secret_revoke(actor=request.user, secret=self.get_object())
        return Response(EnrolmentSecretSerializer(secret).data)
