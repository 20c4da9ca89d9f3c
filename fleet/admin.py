"""Admin screens of the fleet, for inspection: groups, secrets, agents, signing keys,
jobs and live questions. Hashes are never shown. The writes here (revoking agents and
secrets) go through the services, so they are audited like the desk's; everything else
is done in the desk (/desk/fleet/)."""

from typing import Any

from django.contrib import admin

from accounts.admin import ReadOnlyAdmin

from . import services
from .models import Agent, EnrolmentGroup, EnrolmentSecret, Job, LiveQuery, SigningKey


@admin.register(EnrolmentGroup)
class EnrolmentGroupAdmin(ReadOnlyAdmin):
    list_display = ["name", "owner_team", "created_at"]
    search_fields = ["name"]


@admin.register(EnrolmentSecret)
class EnrolmentSecretAdmin(ReadOnlyAdmin):
    list_display = ["name", "group", "prefix", "expires_at", "uses", "max_uses",
                    "revoked_at"]
    list_filter = ["group"]
    exclude = ["secret_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected secrets")
    def revoke(self, request: Any, queryset: Any) -> None:
        for secret in queryset.filter(revoked_at__isnull=True):
            services.enrolment_secret_revoke(actor=request.user, secret=secret)


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ["hostname", "online", "last_seen_at", "agent_version", "os_name",
                    "group", "revoked_at"]
    list_filter = ["online", "group"]
    search_fields = ["hostname", "id"]
    exclude = ["token_hash"]
    list_select_related = ["group"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected agents")
    def revoke(self, request: Any, queryset: Any) -> None:
        for agent in queryset.filter(revoked_at__isnull=True):
            services.agent_revoke(actor=request.user, agent=agent)


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "created_at", "retired_at"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "kind", "sequence", "state", "created_at", "finished_at"]
    list_filter = ["kind", "state"]
    list_select_related = ["agent"]
    raw_id_fields = ["agent", "live_query"]


@admin.register(LiveQuery)
class LiveQueryAdmin(ReadOnlyAdmin):
    list_display = ["kind", "params", "asked_by", "created_at", "targeted", "offline"]
    list_filter = ["kind"]
