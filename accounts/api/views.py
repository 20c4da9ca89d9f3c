from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.filtersets import PersonFilterSet, TeamFilterSet
from accounts.models import ApiToken, Team

from .serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    MemberSerializer,
    MeSerializer,
    TeamSerializer,
    UserSerializer,
)

User = get_user_model()


class DeskPermission(permissions.BasePermission):
    message = "The service desk API is for service desk staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("accounts.access_desk"))


def _profile_and_roles(data: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
    data = dict(data)
    roles = data.pop("roles", None)
    data.pop("password", None)
    return data, roles


class UserViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """People. Listing needs desk access; creating and editing needs *manage users*."""

    serializer_class = UserSerializer
    permission_classes = [permissions.IsAuthenticated, DeskPermission]
    filterset_class = PersonFilterSet

    def get_queryset(self) -> Any:
        return selectors.people().distinct()

    def perform_create(self, serializer: UserSerializer) -> None:
        data, roles = _profile_and_roles(serializer.validated_data)
        with transaction.atomic():
            user = services.user_create(
                actor=self.request.user, password=serializer.validated_data.get("password"),
                roles=roles if roles is not None else ["requester"], **data,
            )
        serializer.instance = selectors.people().get(pk=user.pk)

    def perform_update(self, serializer: UserSerializer) -> None:
        data, roles = _profile_and_roles(serializer.validated_data)
        data.pop("username", None)
        password = serializer.validated_data.get("password")
        with transaction.atomic():
            user = services.user_update(actor=self.request.user, user=serializer.instance, **data)
            if password:
                services.user_set_password(actor=self.request.user, user=user, password=password)
            if roles is not None:
                services.user_set_roles(actor=self.request.user, user=user, roles=roles)
        serializer.instance = selectors.people().get(pk=user.pk)

    @extend_schema(responses=MeSerializer, request=MeSerializer, methods=["GET", "PATCH"])
    @action(detail=False, methods=["get", "patch"], permission_classes=[
        permissions.IsAuthenticated])
    def me(self, request: Request) -> Response:
        """The signed-in person. Anyone may read it and edit their own details."""
        user = selectors.people().get(pk=request.user.pk)
        if request.method == "PATCH":
            serializer = MeSerializer(user, data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            data, _roles = _profile_and_roles(serializer.validated_data)
            services.user_update(actor=request.user, user=user, **data)
            user = selectors.people().get(pk=request.user.pk)
        return Response(MeSerializer(user).data)


class TeamViewSet(viewsets.ModelViewSet):
    """Teams (assignment groups). Editing needs *manage teams*; a team's manager may
    change its members."""

    serializer_class = TeamSerializer
    permission_classes = [permissions.IsAuthenticated, DeskPermission]
    filterset_class = TeamFilterSet
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.teams()

    def perform_create(self, serializer: TeamSerializer) -> None:
        data = dict(serializer.validated_data)
        team = services.team_create(actor=self.request.user, **data)
        serializer.instance = selectors.teams().get(pk=team.pk)

    def perform_update(self, serializer: TeamSerializer) -> None:
        team = services.team_update(
            actor=self.request.user, team=serializer.instance, **serializer.validated_data
        )
        serializer.instance = selectors.teams().get(pk=team.pk)

    @extend_schema(responses=UserSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def members(self, request: Request, pk: str | None = None) -> Response:
        team = self.get_object()
        return Response(UserSerializer(selectors.team_members(team), many=True).data)

    @extend_schema(request=MemberSerializer, responses={201: UserSerializer(many=True)})
    @action(detail=True, methods=["post"], url_path="members/add", pagination_class=None,
            filter_backends=[])
    def add_member(self, request: Request, pk: str | None = None) -> Response:
        team: Team = self.get_object()
        body = MemberSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.team_add_member(actor=request.user, team=team, user=body.validated_data["user"])
        return Response(UserSerializer(selectors.team_members(team), many=True).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberSerializer, responses=UserSerializer(many=True))
    @action(detail=True, methods=["post"], url_path="members/remove", pagination_class=None,
            filter_backends=[])
    def remove_member(self, request: Request, pk: str | None = None) -> Response:
        team: Team = self.get_object()
        body = MemberSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.team_remove_member(actor=request.user, team=team,
                                    user=body.validated_data["user"])
        return Response(UserSerializer(selectors.team_members(team), many=True).data)


class ApiTokenViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin,
                      viewsets.ReadOnlyModelViewSet):
    """Your own API tokens. The token itself is returned once, on creation; DELETE
    revokes (the record stays for the audit trail)."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiToken.objects.none()
        return selectors.api_tokens_of(self.request.user)

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.api_token_create(
            actor=request.user, user=request.user, name=serializer.validated_data["name"],
            expires_at=serializer.validated_data.get("expires_at"),
        )
        data = ApiTokenCreatedSerializer(token).data
        data["token"] = raw
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        services.api_token_revoke(actor=self.request.user, token=instance)
