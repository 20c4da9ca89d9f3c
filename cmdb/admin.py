"""Administrators edit the CMDB's data model here: classes and their attribute schemas,
relationship types and the CMDB settings. Each edit is validated and audited. CIs,
licences and relationships are edited in the desk, through the services."""

from typing import Any

from django.contrib import admin

from audit.admin import AuditedAdmin
from audit.models import AuditAction
from audit.services import audit_record

from .models import AttributeDefinition, CIClass, CmdbSettings, RelationshipType


class AttributeInline(admin.TabularInline):
    model = AttributeDefinition
    fk_name = "ci_class"
    extra = 0
    fields = ["order", "key", "label", "type", "required", "choices", "reference_class",
              "help_text"]


@admin.register(CIClass)
class CIClassAdmin(AuditedAdmin):
    list_display = ["name", "key", "is_asset", "is_service", "order"]
    search_fields = ["name", "key"]
    inlines = [AttributeInline]

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for inline_form in formset.forms:
            if inline_form.has_changed() and inline_form.instance.pk:
                audit_record(action=AuditAction.UPDATE, target=form.instance, changes={
                    f"attribute {inline_form.instance.key}": [None, {
                        name: str(inline_form.cleaned_data.get(name))
                        for name in inline_form.changed_data}]}, message="Django admin")

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # A class with CIs cannot go (PROTECT); an empty one can.
        return super().has_delete_permission(request, obj) and not (obj and obj.items.exists())


@admin.register(RelationshipType)
class RelationshipTypeAdmin(AuditedAdmin):
    list_display = ["name", "reverse_name", "key", "propagates_impact"]
    filter_horizontal = ["allowed_sources", "allowed_targets"]


@admin.register(CmdbSettings)
class CmdbSettingsAdmin(AuditedAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return not CmdbSettings.objects.exists()

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
