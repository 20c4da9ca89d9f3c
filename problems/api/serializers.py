"""Serializers of the problem API: output shapes and validated input for the services.
They never save."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import Team
from changes.models import Change
from cmdb.models import ConfigurationItem
from incidents.models import Category, Incident
from problems.models import MAX_WHYS, CauseCategory, Problem, ProblemIncident, ProblemState
from tickets.models import Priority

User = get_user_model()


class ProblemLinkedIncidentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="incident.id", read_only=True)
    number = serializers.CharField(source="incident.number", read_only=True)
    title = serializers.CharField(source="incident.title", read_only=True)
    state = serializers.CharField(source="incident.state", read_only=True)
    linked_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ProblemIncident
        fields = ["id", "number", "title", "state", "linked_by", "linked_at"]
        read_only_fields = fields


class FiveWhySerializer(serializers.Serializer):
    why = serializers.CharField(allow_blank=True, max_length=500)
    answer = serializers.CharField(allow_blank=True, max_length=1000)


class ProblemSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    incidents = ProblemLinkedIncidentSerializer(source="incident_links", many=True, read_only=True)
    five_whys = FiveWhySerializer(many=True, read_only=True)
    transitions = serializers.SerializerMethodField()

    class Meta:
        model = Problem
        fields = [
            "id", "number", "title", "description", "state", "state_label", "priority",
            "category", "services", "cis", "incidents", "root_cause", "cause_category",
            "cause_ci", "cause_not_found", "cause_not_found_reason", "five_whys",
            "workaround", "known_error", "known_error_at", "fix_change", "resolution",
            "requester", "opened_by", "assignment_group", "assignee", "transitions",
            "created_at", "updated_at", "resolved_at", "closed_at",
        ]
        read_only_fields = fields

    def get_transitions(self, problem: Problem) -> list[dict[str, str]]:
        request = self.context.get("request")
        return [{"to_state": t.target, "label": str(t.label)}
                for t in Problem.workflow.available(problem, getattr(request, "user", None))]


def _cis(**filters: Any) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.filter(**filters), many=True, required=False)


class ProblemWriteSerializer(serializers.Serializer):
    """What problem_update accepts (every field optional)."""

    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(is_active=True, parent__isnull=True),
        required=False, allow_null=True)
    services = _cis(ci_class__is_service=True)
    cis = _cis()
    root_cause = serializers.CharField(required=False, allow_blank=True)
    cause_category = serializers.ChoiceField(choices=CauseCategory.choices, required=False,
                                             allow_blank=True)
    cause_ci = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.all(), required=False, allow_null=True)
    cause_not_found = serializers.BooleanField(required=False)
    cause_not_found_reason = serializers.CharField(required=False, allow_blank=True)
    five_whys = FiveWhySerializer(many=True, required=False, max_length=MAX_WHYS)
    workaround = serializers.CharField(required=False, allow_blank=True)
    fix_change = serializers.PrimaryKeyRelatedField(queryset=Change.objects.all(),
                                                    required=False, allow_null=True)
    resolution = serializers.CharField(required=False, allow_blank=True)
    requester = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False)
    assignment_group = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.filter(is_active=True), required=False, allow_null=True)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True)


class ProblemCreateSerializer(ProblemWriteSerializer):
    title = serializers.CharField(max_length=200)
    incidents = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all(),
                                                   many=True, required=False)
    known_error = serializers.BooleanField(required=False)


class ProblemTransitionSerializer(serializers.Serializer):
    to_state = serializers.ChoiceField(choices=ProblemState.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ProblemIncidentLinkSerializer(serializers.Serializer):
    incident = serializers.SlugRelatedField(
        slug_field="number", queryset=Incident.objects.all(),
        help_text="The incident's number (INC…).")


class ProblemResolveSerializer(serializers.Serializer):
    resolution = serializers.CharField(allow_blank=True)
    resolve_incidents = serializers.BooleanField(required=False, default=False)
    note_to_callers = serializers.CharField(required=False, allow_blank=True, default="")


class ProblemResolveOutcomeSerializer(serializers.Serializer):
    problem = ProblemSerializer()
    incidents_resolved = serializers.ListField(child=serializers.CharField())
    incidents_refused = serializers.DictField(child=serializers.CharField())


class ProblemKnownErrorSerializer(serializers.Serializer):
    known_error = serializers.BooleanField()


class ProblemNoteSerializer(serializers.Serializer):
    body = serializers.CharField()
