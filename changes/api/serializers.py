"""Serializers of the change record and the standard change catalogue: output shapes and
validated input for the services. They never save."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Team
from changes.models import (
    ApprovalRequest,
    ApprovalState,
    Change,
    ChangeCategory,
    ChangeImpact,
    ChangeResult,
    ChangeState,
    ChangeTemplate,
    ChangeTemplateVersion,
    ChangeType,
    RiskLevel,
    TemplateStatus,
)
from changes.workflow import change_moves
from cmdb.models import CIClass, ConfigurationItem
from incidents.models import Incident
from tickets.models import Priority

User = get_user_model()


class ApprovalSummarySerializer(serializers.Serializer):
    """The change's latest approval round, for a pipeline polling for the decision."""

    state = serializers.ChoiceField(choices=ApprovalState.choices)
    policy = serializers.CharField()
    rule = serializers.CharField()
    required = serializers.IntegerField()
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    pending = serializers.IntegerField()
    retrospective = serializers.BooleanField()


def approval_summary(change: Change) -> dict[str, Any] | None:
    rounds = getattr(change, "latest_rounds", None)
    if rounds is None:
        rounds = list(ApprovalRequest.objects.filter(change=change)
                      .prefetch_related("tasks").order_by("-created_at", "-id")[:1])
    if not rounds:
        return None
    current = rounds[0]
    votes = [task.state for task in current.tasks.all()]
    return {"state": current.state, "policy": current.policy_name, "rule": current.rule,
            "required": current.required_count,
            "approved": votes.count(ApprovalState.APPROVED),
            "rejected": votes.count(ApprovalState.REJECTED),
            "pending": votes.count(ApprovalState.PENDING),
            "retrospective": current.retrospective}


class ChangeSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    template = serializers.SerializerMethodField()
    transitions = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()
    retro_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Change
        fields = [
            "id", "number", "title", "description", "type", "state", "state_label",
            "category", "template", "template_version", "justification",
            "implementation_plan", "backout_plan", "test_plan", "services", "cis",
            "incidents", "caused_incidents", "planned_start", "planned_end", "actual_start",
            "actual_end", "outage_expected", "outage_minutes", "impact", "priority", "risk",
            "risk_score", "risk_factors", "risk_assessed_at", "requester", "opened_by",
            "assignment_group", "assignee", "result", "authorized_at", "retro_approval_due",
            "retro_overdue", "freeze_override_reason", "cab_required", "approval",
            "transitions", "created_at", "updated_at", "closed_at",
        ]
        read_only_fields = fields

    def get_template(self, change: Change) -> int | None:
        version = change.template_version
        return version.template_id if version else None

    def get_transitions(self, change: Change) -> list[dict[str, str]]:
        request = self.context.get("request")
        return [{"to_state": t.target, "label": str(t.label)}
                for t in change_moves(change, getattr(request, "user", None))]

    @extend_schema_field(ApprovalSummarySerializer(allow_null=True))
    def get_approval(self, change: Change) -> dict[str, Any] | None:
        return approval_summary(change)


def _cis(**filters: Any) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.filter(**filters), many=True, required=False)


class ChangeWriteSerializer(serializers.Serializer):
    """Fields a person sets on a normal or emergency change."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    category = serializers.PrimaryKeyRelatedField(
        queryset=ChangeCategory.objects.filter(is_active=True), required=False,
        allow_null=True)
    justification = serializers.CharField(required=False, allow_blank=True)
    implementation_plan = serializers.CharField(required=False, allow_blank=True)
    backout_plan = serializers.CharField(required=False, allow_blank=True)
    test_plan = serializers.CharField(required=False, allow_blank=True)
    cis = _cis()
    services = _cis(ci_class__is_service=True)
    incidents = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all(), many=True,
                                                   required=False)
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    planned_end = serializers.DateTimeField(required=False, allow_null=True)
    outage_expected = serializers.BooleanField(required=False)
    outage_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    impact = serializers.ChoiceField(choices=ChangeImpact.choices, required=False)
    requester = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(
        is_active=True), required=False)
    assignment_group = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(is_active=True), required=False, allow_null=True)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            raise serializers.ValidationError(
                {"planned_end": "The planned end must be after the planned start."})
        return data


class ChangeCreateSerializer(ChangeWriteSerializer):
    type = serializers.ChoiceField(
        choices=[(ChangeType.NORMAL, "Normal"), (ChangeType.EMERGENCY, "Emergency")],
        default=ChangeType.NORMAL,
        help_text="Standard changes are opened from a template: "
                  "POST /api/v1/changes/templates/{id}/use/.")


class ChangeUpdateSerializer(ChangeWriteSerializer):
    title = serializers.CharField(max_length=200, required=False)
    result = serializers.ChoiceField(choices=ChangeResult.choices, required=False,
                                     allow_blank=True)
    freeze_override_reason = serializers.CharField(required=False, allow_blank=True)


class TemplateUseSerializer(serializers.Serializer):
    """Open a standard change from the template's approved version."""

    cis = _cis()
    planned_start = serializers.DateTimeField(required=False, allow_null=True)
    planned_end = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="Defaults to the start plus the template's expected duration.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    justification = serializers.CharField(required=False, allow_blank=True)
    requester = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(
        is_active=True), required=False)
    assignment_group = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(is_active=True), required=False, allow_null=True)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True)
    schedule = serializers.BooleanField(
        default=False, help_text="Move the new change to Scheduled at once (its guards "
                                 "apply: dates, backout plan, no freeze).")


class ChangeTransitionSerializer(serializers.Serializer):
    to_state = serializers.ChoiceField(choices=ChangeState.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    result = serializers.ChoiceField(choices=ChangeResult.choices, required=False)
    freeze_override_reason = serializers.CharField(required=False, allow_blank=True)


class ResultSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=ChangeResult.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class WaitQuerySerializer(serializers.Serializer):
    timeout = serializers.IntegerField(
        min_value=1, max_value=25, default=20,
        help_text="Seconds to wait at most (1–25); poll again after a timeout.")


class ChangeNoteSerializer(serializers.Serializer):
    body = serializers.CharField()


# --- Templates ------------------------------------------------------------------------

class TemplateVersionSerializer(serializers.ModelSerializer):
    allowed_ci_classes = serializers.SlugRelatedField(slug_field="key", many=True,
                                                      read_only=True)

    class Meta:
        model = ChangeTemplateVersion
        fields = ["id", "template", "version", "status", "title", "description", "category",
                  "implementation_plan", "backout_plan", "test_plan", "risk", "impact",
                  "expected_minutes", "outage_expected", "allowed_ci_classes",
                  "remediation_action", "created_by", "created_at", "approved_by",
                  "approved_at", "retired_at"]
        read_only_fields = fields


class TemplateSerializer(serializers.ModelSerializer):
    current_version = serializers.SerializerMethodField()
    versions = TemplateVersionSerializer(many=True, read_only=True)

    class Meta:
        model = ChangeTemplate
        fields = ["id", "name", "description", "owner_team", "created_at", "current_version",
                  "versions"]
        read_only_fields = fields

    def get_current_version(self, template: ChangeTemplate) -> int | None:
        approved = [v for v in template.versions.all() if v.status == TemplateStatus.APPROVED]
        return max(approved, key=lambda v: v.version).pk if approved else None


class TemplateVersionWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.PrimaryKeyRelatedField(
        queryset=ChangeCategory.objects.filter(is_active=True), required=False,
        allow_null=True)
    implementation_plan = serializers.CharField()
    backout_plan = serializers.CharField()
    test_plan = serializers.CharField(required=False, allow_blank=True)
    risk = serializers.ChoiceField(choices=RiskLevel.choices, required=False)
    impact = serializers.ChoiceField(choices=ChangeImpact.choices, required=False)
    expected_minutes = serializers.IntegerField(min_value=1, required=False)
    outage_expected = serializers.BooleanField(required=False)
    allowed_ci_classes = serializers.SlugRelatedField(
        slug_field="key", queryset=CIClass.objects.all(), many=True, required=False)
    remediation_action = serializers.CharField(max_length=100, required=False,
                                               allow_blank=True)


class TemplateCreateSerializer(TemplateVersionWriteSerializer):
    name = serializers.CharField(max_length=200)
    template_description = serializers.CharField(
        required=False, allow_blank=True, help_text="The catalogue entry's description "
        "(``description`` is the first version's).")
    owner_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(is_active=True), required=False, allow_null=True)
