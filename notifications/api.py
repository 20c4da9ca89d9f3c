"""``/api/v1/notifications/``: your own inbox (nobody else's, whoever asks), newest first
by cursor, and marking read."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from .filtersets import NotificationFilterSet
from .models import Notification
from .selectors import notifications_of, unread_badge
from .services import notifications_mark_read

MARK_READ_MAX_IDS = 500


class NotificationSerializer(serializers.ModelSerializer):
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "url", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, note: Notification) -> bool:
        return note.read_at is None


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                allow_empty=False, max_length=MARK_READ_MAX_IDS,
                                help_text="Your notifications to mark read.")
    all = serializers.BooleanField(required=False, default=False,
                                   help_text="Mark every unread notification read.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("all") == ("ids" in data):
            raise serializers.ValidationError(
                {"ids": ["Send either ids (a list) or all: true."]})
        return data


class MarkReadResultSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread and are now read.")
    unread = serializers.IntegerField(help_text="Unread left (counted up to 100).")


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """Your notifications, newest first. ``?unread=true`` for the unread ones. Anyone
    else's answers 404."""

    serializer_class = NotificationSerializer
    permission_classes = [permissions.IsAuthenticated]
    filterset_class = NotificationFilterSet
    pagination_class = NewestFirst

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return notifications_of(self.request.user)

    @extend_schema(request=MarkReadSerializer, responses=MarkReadResultSerializer)
    @action(detail=False, methods=["post"], url_path="mark-read")
    def mark_read(self, request: Request) -> Response:
        """Mark some of your notifications read (``{"ids": [..]}``) or all of them
        (``{"all": true}``). Ids that are not yours, or already read, change nothing."""
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = None if body.validated_data["all"] else body.validated_data["ids"]
        marked = notifications_mark_read(user=request.user, ids=ids)
        return Response({"marked": marked, "unread": unread_badge(request.user)})
