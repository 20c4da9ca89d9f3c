"""API bodies for major incidents, stakeholder updates and post-incident reviews."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incidents import major_selectors
from incidents.models import Incident, PostIncidentReview, ReviewAction, StakeholderUpdate

User = get_user_model()


def incident_by_key(key: str) -> Incident | None:
    """An incident by number (INC0001042, any case) or by id."""
    key = key.strip()
    if key.isdigit():
        return Incident.objects.filter(pk=int(key)).first()
    return Incident.objects.filter(number__iexact=key).first()


class LinkParentSerializer(serializers.Serializer):
    parent = serializers.CharField(
        allow_null=True, max_length=20,
        help_text="The parent's number (INC0001042) or id; null unlinks.")

    def validate_parent(self, value: str | None) -> Incident | None:
        if value is None or not value.strip():
            return None
        parent = incident_by_key(value)
        if parent is None:
            raise serializers.ValidationError(f"There is no incident {value.strip()}.")
        return parent


class DeclareMajorSerializer(serializers.Serializer):
    manager = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        help_text="A person with the incident manager role (see the desk's picker).")
    reason = serializers.CharField(max_length=300)


class StandDownSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class StakeholderUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = StakeholderUpdate
        fields = ["id", "body", "author", "author_label", "created_at"]
        read_only_fields = fields


class StakeholderUpdateCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class ReviewActionSerializer(serializers.ModelSerializer):
    owner_name = serializers.SerializerMethodField()

    class Meta:
        model = ReviewAction
        fields = ["id", "description", "owner", "owner_name", "due_on", "done"]
        read_only_fields = fields

    def get_owner_name(self, action: ReviewAction) -> str | None:
        owner = action.owner
        if owner is None:
            return None
        profile = getattr(owner, "profile", None)
        return (profile.name if profile is not None else "") or owner.get_username()


class ReviewActionWriteSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=300)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True),
                                               required=False, allow_null=True)
    due_on = serializers.DateField(required=False, allow_null=True)
    done = serializers.BooleanField(required=False)


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    number = serializers.CharField()
    is_child = serializers.BooleanField()
    actor = serializers.CharField()
    kind = serializers.CharField(help_text="opened, state, major, stakeholder, comment, "
                                           "work_note or change")
    title = serializers.CharField()
    details = serializers.ListField(child=serializers.CharField())


class ReviewSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(source="incident.number", read_only=True)
    actions = ReviewActionSerializer(many=True, read_only=True)
    timeline = serializers.SerializerMethodField()

    class Meta:
        model = PostIncidentReview
        fields = ["id", "incident", "status", "summary", "root_cause", "lessons",
                  "created_at", "updated_at", "completed_at", "actions", "timeline"]
        read_only_fields = fields

    @extend_schema_field(TimelineEntrySerializer(many=True))
    def get_timeline(self, review: PostIncidentReview) -> Any:
        entries = major_selectors.review_timeline(review.incident)
        return TimelineEntrySerializer(entries, many=True).data


class ReviewWriteSerializer(serializers.Serializer):
    summary = serializers.CharField(required=False, allow_blank=True)
    root_cause = serializers.CharField(required=False, allow_blank=True)
    lessons = serializers.CharField(required=False, allow_blank=True)
