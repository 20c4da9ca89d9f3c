"""Administrators edit incident management's business settings here (audited): the
priority matrix, categories, routing rules and the reopen/auto-close periods."""

from typing import Any

from django.contrib import admin

from audit.admin import AuditedAdmin

from .models import Category, IncidentSettings, PriorityMatrixEntry, RoutingRule


@admin.register(PriorityMatrixEntry)
class PriorityMatrixAdmin(AuditedAdmin):
    list_display = ["impact", "urgency", "priority"]
    list_editable = ["priority"]
    list_display_links = None

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Category)
class CategoryAdmin(AuditedAdmin):
    list_display = ["__str__", "is_active", "order"]
    list_filter = ["is_active", "parent"]
    search_fields = ["name"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(AuditedAdmin):
    list_display = ["order", "name", "assignment_group", "priority_bump", "is_active"]
    list_display_links = ["name"]
    list_filter = ["is_active", "assignment_group"]
    autocomplete_fields = ["category"]
    raw_id_fields = ["service", "ci"]


@admin.register(IncidentSettings)
class IncidentSettingsAdmin(AuditedAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return not IncidentSettings.objects.exists()

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
