"""Serializers of the fleet API. They shape input and output; every write goes through
``fleet.services`` / ``fleet.live`` (never ``serializer.save()``)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Team

from .. import live, selectors
from ..models import Agent, EnrolmentGroup, EnrolmentSecret, LiveAnswer, LiveQuery, QueryKind


class DeviceSerializer(serializers.ModelSerializer):
    device = serializers.IntegerField(source="device_id", read_only=True,
                                      help_text="The device's CI id (`/api/v1/cmdb/cis/{id}/`).")
    device_name = serializers.CharField(source="device.name", read_only=True)
    device_class = serializers.CharField(source="device.ci_class.key", read_only=True)
    group_name = serializers.CharField(source="group.name", read_only=True, default=None)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = ["id", "hostname", "online", "last_seen_at", "channel", "agent_version",
                  "os_name", "group", "group_name", "device", "device_name", "device_class",
                  "tags", "enrolled_at", "reenrolled_at", "revoked_at"]
        read_only_fields = fields

    def get_tags(self, agent: Agent) -> list[str]:
        return [tag.name for tag in agent.device.tags.all()]


class DeviceDetailSerializer(DeviceSerializer):
    inventory = serializers.SerializerMethodField(
        help_text="Summary of the last inventory: os, kernel, cpu_model, cpu_cores, "
                  "memory_gb, disks [{mount, total_gb, used_percent}], software_count, "
                  "uptime_seconds, ip_addresses, received_at.")
    snapshot = serializers.SerializerMethodField(
        help_text="The latest live snapshot: at, processes (busiest first), process_count, "
                  "services, sessions; requested_at and waiting (a requested snapshot "
                  "has not arrived yet).")

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "policy", "inventory", "snapshot"]
        read_only_fields = fields

    def _inventory(self, agent: Agent) -> Any:
        if not hasattr(agent, "_fleet_inventory"):
            agent._fleet_inventory = selectors.device_inventory(agent)  # type: ignore[attr-defined]
        return agent._fleet_inventory  # type: ignore[attr-defined]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_inventory(self, agent: Agent) -> dict[str, Any]:
        summary = selectors.inventory_summary(self._inventory(agent))
        for disk in summary["disks"]:
            disk.pop("used_width", None)
        return summary

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_snapshot(self, agent: Agent) -> dict[str, Any]:
        inventory = self._inventory(agent)
        view = selectors.snapshot_view(inventory)
        view["requested_at"] = inventory.snapshot_requested_at if inventory else None
        view["waiting"] = live.snapshot_waiting(inventory)
        return view


class LiveQuerySerializer(serializers.ModelSerializer):
    asked_by = serializers.CharField(source="asked_by.username", read_only=True, default=None)
    answered = serializers.IntegerField(read_only=True, default=None)
    matched = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = LiveQuery
        fields = ["id", "kind", "params", "asked_by", "created_at", "expires_at", "targeted",
                  "offline", "answered", "matched"]
        read_only_fields = fields


class LiveQueryCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=QueryKind.choices)
    params = serializers.DictField(
        default=dict, help_text="process_running, service_stopped: `name`; package_below: "
                                "`name`, `version`; disk_above: `percent` (1–100).")


class LiveAnswerSerializer(serializers.ModelSerializer):
    hostname = serializers.CharField(source="agent.hostname", read_only=True)
    device = serializers.IntegerField(source="agent.device_id", read_only=True)

    class Meta:
        model = LiveAnswer
        fields = ["agent", "hostname", "device", "matched", "detail", "answered_at"]
        read_only_fields = fields


class ProgressSerializer(serializers.Serializer):
    targeted = serializers.IntegerField(help_text="Online agents asked.")
    answered = serializers.IntegerField()
    matched = serializers.IntegerField()
    refused = serializers.IntegerField(help_text="Answers refusing the question (local policy).")
    offline = serializers.IntegerField(help_text="Active agents offline, not asked.")
    waiting = serializers.IntegerField()
    expired = serializers.BooleanField()
    done = serializers.BooleanField(help_text="Nothing more will arrive.")


class LiveQueryDetailSerializer(LiveQuerySerializer):
    progress = serializers.SerializerMethodField()
    matched_answers = serializers.SerializerMethodField()

    class Meta(LiveQuerySerializer.Meta):
        fields = [*LiveQuerySerializer.Meta.fields, "progress", "matched_answers"]
        read_only_fields = fields

    def _progress(self, query: LiveQuery) -> live.Progress:
        if not hasattr(query, "_progress"):
            query._progress = live.live_query_progress(query)  # type: ignore[attr-defined]
        return query._progress  # type: ignore[attr-defined]

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, query: LiveQuery) -> dict[str, Any]:
        return self._progress(query).as_dict()

    @extend_schema_field(LiveAnswerSerializer(many=True))
    def get_matched_answers(self, query: LiveQuery) -> list[dict[str, Any]]:
        return LiveAnswerSerializer(self._progress(query).matched_rows, many=True).data


class EnrolmentGroupSerializer(serializers.ModelSerializer):
    owner_team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(),
                                                    required=False, allow_null=True)
    # Written as names; read back by to_representation (the relation is a manager).
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False,
                                 write_only=True,
                                 help_text="Tag names given to the group's devices.")
    device_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = EnrolmentGroup
        fields = ["id", "name", "description", "owner_team", "tags", "device_count",
                  "created_at"]
        read_only_fields = ["created_at"]

    def to_representation(self, group: EnrolmentGroup) -> dict[str, Any]:
        data = super().to_representation(group)
        data["tags"] = [tag.name for tag in group.tags.all()]
        return data


class EnrolmentSecretSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField(
        help_text="active, revoked, expired or exhausted.")

    class Meta:
        model = EnrolmentSecret
        fields = ["id", "group", "name", "prefix", "expires_at", "max_uses", "uses",
                  "revoked_at", "created_at", "state"]
        read_only_fields = ["prefix", "uses", "revoked_at", "created_at"]
        extra_kwargs = {"name": {"required": False, "allow_blank": True}}

    def get_state(self, secret: EnrolmentSecret) -> str:
        return selectors.secret_state(secret, timezone.now())


class EnrolmentSecretCreatedSerializer(EnrolmentSecretSerializer):
    secret = serializers.CharField(read_only=True, help_text="The secret itself: returned "
                                   "only in this response, never again.")

    class Meta(EnrolmentSecretSerializer.Meta):
        fields = [*EnrolmentSecretSerializer.Meta.fields, "secret"]
