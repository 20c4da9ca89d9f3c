"""Admin screens for people, teams and tokens: for inspection; the one write here (revoking
tokens) goes through the service, so it is audited like one made in the desk."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from . import services
from .models import ApiToken, Team, TeamMembership, UserProfile

User = get_user_model()


class ProfileInline(admin.StackedInline):
    model = UserProfile
    can_delete = False
    fk_name = "user"
    readonly_fields = list(services.PROFILE_FIELDS)
    extra = 0


class ReadOnlyAdmin(admin.ModelAdmin):
    """Inspection only: people and teams are changed in the desk, where the services
    validate and audit every edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(ReadOnlyAdmin, GroupAdmin):
    """Roles are declared in accounts/roles.py; an edit here would be undone by the next
    sync_roles, so they are shown, not edited."""



@admin.register(User)
class PersonAdmin(ReadOnlyAdmin, UserAdmin):
    inlines = [ProfileInline]


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    readonly_fields = ["user", "joined_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ["name", "manager", "is_service_desk", "is_active"]
    list_filter = ["is_active", "is_service_desk"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at",
                    "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at",
                       "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            services.api_token_revoke(actor=request.user, token=token)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
