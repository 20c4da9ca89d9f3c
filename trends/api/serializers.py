"""Serializers of the trends API. They shape input and output; accepting and dismissing
go through ``trends.services``."""

from __future__ import annotations

from rest_framework import serializers

from incidents.models import Incident

from ..models import Proposal
from ..services import REASON_MAX, TITLE_MAX


class ProposalIncidentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Incident
        fields = ["id", "number", "title", "state", "priority", "created_at"]


class ProposalSerializer(serializers.ModelSerializer):
    incidents = ProposalIncidentSerializer(many=True, read_only=True)
    new_incidents = ProposalIncidentSerializer(
        many=True, read_only=True,
        help_text="Accepted proposals: incidents that joined the cluster since, to be "
                  "linked to its problem.")
    problem_number = serializers.CharField(source="problem.number", read_only=True,
                                           allow_null=True, default=None)

    class Meta:
        model = Proposal
        fields = ["id", "kind", "key", "title", "description", "ci", "service", "category",
                  "terms", "state", "incident_count", "incidents", "new_incidents",
                  "first_seen", "last_seen", "decided_by", "decided_at", "dismiss_reason",
                  "dismissed_count", "reopened_note", "problem", "problem_number"]
        read_only_fields = fields


class ProposalAcceptSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=TITLE_MAX,
                                  help_text="The problem's title (default: the suggested "
                                            "one).")
    description = serializers.CharField(required=False, allow_blank=True,
                                        help_text="The problem's description (default: "
                                                  "why it was proposed).")
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                        max_value=4,
                                        help_text="Default: the highest of its incidents.")


class ProposalAcceptedSerializer(serializers.Serializer):
    proposal = ProposalSerializer()
    problem = serializers.IntegerField(help_text="The problem's id.")
    problem_number = serializers.CharField()


class ProposalDismissSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=REASON_MAX, allow_blank=True,
                                   help_text="Why it is dismissed (required).")
