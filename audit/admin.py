from typing import Any

from django.contrib import admin

from .models import AuditAction, AuditEntry
from .services import audit_record, diff


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only everywhere."""

    list_display = ["at", "actor_label", "source", "action", "content_type", "object_repr"]
    list_filter = ["action", "source", "content_type"]
    search_fields = ["actor_label", "object_repr", "message"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdmin(admin.ModelAdmin):
    """Writes an audit entry with the changed fields for every save and delete."""

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        before = {name: form.initial.get(name) for name in form.changed_data} if change else {}
        super().save_model(request, obj, form, change)
        after = {name: form.cleaned_data.get(name) for name in form.changed_data}
        audit_record(action=AuditAction.UPDATE if change else AuditAction.CREATE, target=obj,
                     changes=diff(before, after), message="Django admin")

    def delete_model(self, request: Any, obj: Any) -> None:
        audit_record(action=AuditAction.DELETE, target=obj, message="Django admin")
        super().delete_model(request, obj)
