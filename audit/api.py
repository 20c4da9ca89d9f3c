from typing import Any

from rest_framework import permissions, serializers, viewsets
from rest_framework.pagination import CursorPagination

from .filtersets import AuditEntryFilterSet
from .models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    record_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "actor_label", "source", "action", "record_type",
                  "object_id", "object_repr", "changes", "message", "ip_address"]

    def get_record_type(self, entry: AuditEntry) -> str | None:
        ct = entry.content_type
        return f"{ct.app_label}.{ct.model}" if ct else None


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200


class CanViewAudit(permissions.BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("audit.view_auditentry"))


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit log, newest first."""

    serializer_class = AuditEntrySerializer
    permission_classes = [permissions.IsAuthenticated, CanViewAudit]
    filterset_class = AuditEntryFilterSet
    pagination_class = NewestFirst
    queryset = AuditEntry.objects.select_related("content_type")
