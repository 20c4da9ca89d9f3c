"""Administrators keep the change categories here (audited). Everything else of change
enablement has its own desk pages (templates, policies, windows, the risk questionnaire
and settings), which go through the services."""

from typing import Any

from django.contrib import admin

from audit.admin import AuditedAdmin

from .models import ChangeCategory


@admin.register(ChangeCategory)
class ChangeCategoryAdmin(AuditedAdmin):
    list_display = ["name", "is_active", "order"]
    list_editable = ["is_active", "order"]
    list_filter = ["is_active"]
    search_fields = ["name"]

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # changes keep their category: deactivate instead
