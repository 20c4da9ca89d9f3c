"""Availability data is edited in the desk (the CMDB service page) and the API, through
the services that check and audit it; the admin only shows it."""

from typing import Any

from django.contrib import admin

from .models import AvailabilityTarget, MaintenanceWindow, Outage


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Outage)
class OutageAdmin(ReadOnlyAdmin):
    list_display = ["service", "started_at", "ended_at", "source_incident"]
    list_select_related = ["service", "source_incident"]


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ReadOnlyAdmin):
    list_display = ["service", "starts_at", "ends_at", "reason"]
    list_select_related = ["service"]


@admin.register(AvailabilityTarget)
class AvailabilityTargetAdmin(ReadOnlyAdmin):
    list_display = ["service", "target_percent"]
    list_select_related = ["service"]
