from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import Team
from cmdb.models import ConfigurationItem
from incidents.models import (
    Category,
    Channel,
    HoldReason,
    Impact,
    Incident,
    IncidentState,
    ResolutionCode,
    Urgency,
)
from itsm.api.representation import PlannedRepresentation

User = get_user_model()


class IncidentSerializer(PlannedRepresentation, serializers.ModelSerializer):
    requester_name = serializers.SerializerMethodField()
    state_label = serializers.SerializerMethodField()
    transitions = serializers.SerializerMethodField()
    parent_number = serializers.SerializerMethodField()
    children_count = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id", "number", "title", "description", "state", "state_label", "priority",
            "priority_overridden", "priority_override_reason", "impact", "urgency", "channel",
            "requester", "requester_name", "opened_by", "assignment_group", "assignee",
            "category", "subcategory", "service", "ci", "cause_ci", "is_major", "parent",
            "hold_reason",
            "resolution_code", "resolution_notes", "created_at", "updated_at",
            "first_response_at", "acknowledged_at", "resolved_at", "closed_at",
            "reopened_count", "reassignment_count", "escalation_level", "escalated_at",
            "transitions", "parent_number", "children_count", "major_manager", "major_declared_at",
            "sla_due_at", "sla_warned",
        ]
        read_only_fields = fields

    def get_requester_name(self, incident: Incident) -> str:
        profile = getattr(incident.requester, "profile", None)
        return profile.name if profile else incident.requester.get_username()

    def get_parent_number(self, incident: Incident) -> str | None:
        # Annotated by major_selectors.with_family on the API's querysets.
        if hasattr(incident, "parent_number"):
            return incident.parent_number
        return incident.parent.number if incident.parent_id else None

    def get_children_count(self, incident: Incident) -> int:
        count = getattr(incident, "children_count", None)
        return count if count is not None else incident.children.count()

    # A page of 50 asks the same questions 50 times: the labels and the moves depend only
    # on the state (and the user), so they are worked out once per state and request.
    # (get_state_display rebuilds the translated choices on every call.)

    def _per_state(self) -> dict[str, Any]:
        cache = self.context.setdefault("incident_state_cache", {})
        if not cache:
            cache["labels"] = {value: str(label) for value, label in IncidentState.choices}
            cache["moves"] = {}
        return cache

    def get_state_label(self, incident: Incident) -> str:
        return self._per_state()["labels"].get(incident.state, incident.state)

    def get_transitions(self, incident: Incident) -> list[dict[str, str]]:
        moves = self._per_state()["moves"]
        if incident.state not in moves:
            request = self.context.get("request")
            user = getattr(request, "user", None)
            moves[incident.state] = [{"to_state": t.target, "label": str(t.label)}
                                     for t in Incident.workflow.available(incident, user)]
        return [dict(move) for move in moves[incident.state]]


class CategoryField(serializers.PrimaryKeyRelatedField):
    """An active category by id, found in the category tree held in memory (no query;
    ``incidents.services.active_categories``). Same answers and errors as DRF's field."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=Category.objects.filter(is_active=True), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        from incidents.services import active_categories

        if isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        category = active_categories().get(pk)
        if category is None:
            self.fail("does_not_exist", pk_value=data)
        return category


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    requester = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True),
                                                   required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    category = CategoryField(required=False, allow_null=True)
    subcategory = CategoryField(required=False, allow_null=True)
    service = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.filter(
        ci_class__is_service=True), required=False, allow_null=True)
    ci = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(),
                                            required=False, allow_null=True)
    impact = serializers.ChoiceField(choices=Impact.choices, default=Impact.LOW)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.LOW)
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.filter(
        is_active=True), required=False, allow_null=True)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Incident.objects.all(), required=False, allow_null=True,
        help_text="Log it as a child of this open incident (desk only; the link rules "
                  "apply, and a refused parent means nothing is created).")


class IncidentUpdateSerializer(IncidentCreateSerializer):
    """Details only. Sending state, assignment or priority is refused with the reason."""

    title = serializers.CharField(max_length=200, required=False)
    cause_ci = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(),
                                                  required=False, allow_null=True)
    requester = None
    assignment_group = None
    parent = None

    def to_internal_value(self, data: Any) -> Any:
        moved = sorted({"state", "assignment_group", "assignee", "priority"} & set(data))
        if moved:
            raise serializers.ValidationError({name: [
                "Cannot be changed by editing: use the transition, assign or "
                "override-priority action."] for name in moved})
        return super().to_internal_value(data)


class AssignSerializer(serializers.Serializer):
    group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.filter(is_active=True))
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True),
                                                  required=False, allow_null=True)


class TransitionSerializer(serializers.Serializer):
    to_state = serializers.ChoiceField(choices=IncidentState.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    resolution_code = serializers.ChoiceField(choices=ResolutionCode.choices, required=False)
    resolution_notes = serializers.CharField(required=False, allow_blank=True)
    hold_reason = serializers.ChoiceField(choices=HoldReason.choices, required=False)


class ResolveSerializer(serializers.Serializer):
    resolution_code = serializers.ChoiceField(choices=ResolutionCode.choices)
    resolution_notes = serializers.CharField()
    note = serializers.CharField(required=False, allow_blank=True, default="")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class BodySerializer(serializers.Serializer):
    body = serializers.CharField()


class OverrideSerializer(serializers.Serializer):
    priority = serializers.IntegerField(min_value=1, max_value=4)
    reason = serializers.CharField()


# --- Duplicate suggestions --------------------------------------------------------------

class SimilarQuerySerializer(serializers.Serializer):
    """What to compare with: the incident being logged."""

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="",
                                        max_length=10000)
    service = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.filter(ci_class__is_service=True), required=False,
        allow_null=True, default=None)
    ci = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(),
                                            required=False, allow_null=True, default=None)
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)


class SimilarIncidentSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    assignment_group_name = serializers.CharField(source="assignment_group.name",
                                                  default=None, read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "number", "title", "state", "state_label", "priority",
                  "assignment_group", "assignment_group_name", "assignee", "service", "ci",
                  "is_major", "created_at"]
        read_only_fields = fields


class SimilarSuggestionSerializer(serializers.Serializer):
    incident = SimilarIncidentSerializer()
    score = serializers.FloatField(help_text="0–1: how likely this is the same issue.")
    text_score = serializers.FloatField(help_text="0–1: the text similarity alone.")
    reasons = serializers.ListField(child=serializers.CharField())
    age = serializers.CharField(help_text="How long ago it was opened, e.g. \"2 h\".")


class SimilarResultSerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=[("trigram", "PostgreSQL trigram similarity"),
                 ("tfidf", "TF-IDF cosine similarity")],
        help_text="How text similarity was computed on this database.")
    results = SimilarSuggestionSerializer(many=True)


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why it needs someone further up.")
    to_level = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2,
        help_text="The level the incident should have reached (1 group manager, 2 incident "
                  "manager). Already there: nothing happens (safe to retry). Without it: "
                  "one level up.")
