"""Trend settings are edited in the admin; proposals are decided in the desk and the API
(through the services that audit them), so the admin only shows them."""

from typing import Any

from django.contrib import admin

from .models import Proposal, TrendSettings


@admin.register(TrendSettings)
class TrendSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "window_days", "threshold", "text_similarity", "kinds"]

    def has_add_permission(self, request: Any) -> bool:  # one row
        return not TrendSettings.objects.exists() and super().has_add_permission(request)


@admin.register(Proposal)
class ProposalAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "key", "state", "incident_count", "last_seen"]
    list_filter = ["state", "kind"]
    search_fields = ["title", "key"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
