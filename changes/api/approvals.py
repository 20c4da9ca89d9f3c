"""The approvals API: ``/api/v1/changes/approvals/`` (the caller's approval tasks, the
votes on them, a change's rounds, the override and "provide information"),
``/api/v1/changes/approval-policies/`` (for change managers) and
``/api/v1/changes/cab-meetings/`` (meetings, their agenda and decisions). Every write
goes through :mod:`changes.approvals` or :mod:`changes.cab`; refusals come back in the
one error shape ``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from accounts.models import Team
from changes import approval_selectors as selectors
from changes import approvals, cab
from changes.models import (
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalRule,
    ApproverTask,
    CabAgendaItem,
    CabDecision,
    CabMeeting,
    Change,
    ChangeType,
    RiskLevel,
)

User = get_user_model()
DESK = [permissions.IsAuthenticated, DeskPermission]
CHANGE_ID = OpenApiParameter("change_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                             description="The change's id.")
ITEM_ID = OpenApiParameter("item_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                           description="The agenda item's id.")


# --- Serializers -------------------------------------------------------------------------

class ApprovalChangeBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Change
        fields = ["id", "number", "title", "type", "risk", "state", "planned_start",
                  "planned_end", "cab_required", "authorized_at", "retro_approval_due"]
        read_only_fields = fields


class ApprovalRoundBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApprovalRequest
        fields = ["id", "policy_name", "rule", "required_count", "state"]
        read_only_fields = fields


class ApproverTaskSerializer(serializers.ModelSerializer):
    approver_name = serializers.SerializerMethodField()
    round = ApprovalRoundBriefSerializer(source="request", read_only=True)
    change = ApprovalChangeBriefSerializer(source="request.change", read_only=True)
    approvals = serializers.IntegerField(read_only=True, default=None,
                                         help_text="Approvals so far in the round.")
    approvers = serializers.IntegerField(read_only=True, default=None,
                                         help_text="People asked in the round.")

    class Meta:
        model = ApproverTask
        fields = ["id", "state", "comment", "decided_at", "approver", "approver_name",
                  "via_team", "round", "change", "approvals", "approvers"]
        read_only_fields = fields

    def get_approver_name(self, task: ApproverTask) -> str:
        return selectors.display_name(task.approver)


class ApprovalRoundTaskSerializer(serializers.ModelSerializer):
    approver_name = serializers.SerializerMethodField()

    class Meta:
        model = ApproverTask
        fields = ["id", "approver", "approver_name", "via_team", "state", "comment",
                  "decided_at"]
        read_only_fields = fields

    def get_approver_name(self, task: ApproverTask) -> str:
        return selectors.display_name(task.approver)


class ApprovalRoundSerializer(serializers.ModelSerializer):
    approvals = serializers.IntegerField(read_only=True)
    tasks = ApprovalRoundTaskSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = ["id", "policy", "policy_name", "rule", "required_count", "state",
                  "retrospective", "overridden_by", "override_reason", "created_at",
                  "decided_at", "approvals", "tasks"]
        read_only_fields = fields


class ApprovalVoteSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                    help_text="Required to reject or to ask for information.")


class ApprovalOverrideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[approvals.APPROVE, approvals.REJECT])
    reason = serializers.CharField(max_length=2000)


class ApprovalProvideInfoSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class ApprovalPolicySerializer(serializers.ModelSerializer):
    change_types = serializers.ListField(
        child=serializers.ChoiceField(choices=ChangeType.choices), required=False,
        help_text="Empty: every type.")
    risk_levels = serializers.ListField(
        child=serializers.ChoiceField(choices=RiskLevel.choices), required=False,
        help_text="Empty: every level.")
    rule = serializers.ChoiceField(choices=ApprovalRule.choices, required=False)
    groups = serializers.PrimaryKeyRelatedField(many=True, required=False,
                                                queryset=Team.objects.all())
    people = serializers.PrimaryKeyRelatedField(many=True, required=False,
                                                queryset=User.objects.all())

    class Meta:
        model = ApprovalPolicy
        fields = ["id", "name", "order", "is_active", "change_types", "risk_levels", "rule",
                  "required_count", "groups", "people", "cab", "allow_retrospective"]
        read_only_fields = ["id"]


class CabItemSerializer(serializers.ModelSerializer):
    change = ApprovalChangeBriefSerializer(read_only=True)

    class Meta:
        model = CabAgendaItem
        fields = ["id", "order", "change", "decision", "notes", "decided_at"]
        read_only_fields = fields


class CabMeetingSerializer(serializers.ModelSerializer):
    items = CabItemSerializer(many=True, read_only=True)
    chair = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False,
                                               allow_null=True)

    class Meta:
        model = CabMeeting
        fields = ["id", "title", "starts_at", "ends_at", "location", "agenda_from",
                  "agenda_to", "chair", "status", "minutes", "created_at", "items"]
        read_only_fields = ["id", "status", "minutes", "created_at", "items"]
        validators: list[Any] = []  # the service checks the ranges, naming the field


class CabItemAddSerializer(serializers.Serializer):
    change = serializers.PrimaryKeyRelatedField(queryset=Change.objects.all())


class CabDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[
        c for c in CabDecision.choices if c[0] != CabDecision.PENDING])
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class CabMinutesSerializer(serializers.Serializer):
    minutes = serializers.CharField(allow_blank=True)


# --- Approval tasks ----------------------------------------------------------------------

class ApprovalTaskViewSet(viewsets.ReadOnlyModelViewSet):
    """Your approval tasks (filter `state`, `round_state`, `change`), the decisions on
    them, and per change its rounds, the change manager's override and the answer to
    the approvers' questions. Business approvers without desk access use it too: only
    their own tasks exist for them."""

    serializer_class = ApproverTaskSerializer
    filterset_class = selectors.ApproverTaskFilterSet
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[ApproverTask]:
        if getattr(self, "swagger_fake_view", False):
            return ApproverTask.objects.none()
        return selectors.tasks_for_api(self.request.user)

    def _vote(self, request: Request, decision: str) -> Response:
        task = self.get_object()
        body = ApprovalVoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approvals.approval_vote(actor=request.user, task=task, decision=decision,
                                comment=body.validated_data.get("comment", ""))
        return Response(self.get_serializer(self.get_queryset().get(pk=task.pk)).data)

    @extend_schema(request=ApprovalVoteSerializer, responses=ApproverTaskSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve. When the round's rule is met the change is authorised and, if its
        guards allow, scheduled."""
        return self._vote(request, approvals.APPROVE)

    @extend_schema(request=ApprovalVoteSerializer, responses=ApproverTaskSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Reject, saying why (`comment`)."""
        return self._vote(request, approvals.REJECT)

    @extend_schema(request=ApprovalVoteSerializer, responses=ApproverTaskSerializer)
    @action(detail=True, methods=["post"], url_path="request-info")
    def request_info(self, request: Request, pk: str | None = None) -> Response:
        """Ask the requester and implementer for information (`comment`)."""
        return self._vote(request, approvals.INFO)

    def _change(self, change_id: str, *, rounds: bool = False) -> Change:
        change = Change.objects.filter(Change.visible_to(self.request.user),
                                       pk=int(change_id)).first()
        if change is None and rounds:
            change = selectors.changes_to_approve(self.request.user).filter(
                pk=int(change_id)).first()
        if change is None:
            raise Http404
        return change

    def _rounds(self, change: Change) -> Response:
        return Response(ApprovalRoundSerializer(selectors.rounds_of(change), many=True).data)

    @extend_schema(responses=ApprovalRoundSerializer(many=True), parameters=[CHANGE_ID])
    @action(detail=False, methods=["get"], url_path=r"changes/(?P<change_id>\d+)",
            pagination_class=None, filter_backends=[])
    def rounds(self, request: Request, change_id: str) -> Response:
        """The change's approval rounds, newest first, with every approver's decision.
        For the desk, the change's requester and its approvers."""
        return self._rounds(self._change(change_id, rounds=True))

    @extend_schema(request=ApprovalOverrideSerializer, responses=ApprovalRoundSerializer(many=True),
                   parameters=[CHANGE_ID])
    @action(detail=False, methods=["post"], url_path=r"changes/(?P<change_id>\d+)/override",
            pagination_class=None, filter_backends=[])
    def override(self, request: Request, change_id: str) -> Response:
        """A change manager approves or rejects the open round whatever the votes."""
        change = self._change(change_id)
        body = ApprovalOverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approvals.approval_override(actor=request.user, change=change, **body.validated_data)
        return self._rounds(change)

    @extend_schema(request=ApprovalProvideInfoSerializer,
                   responses=ApprovalRoundSerializer(many=True), parameters=[CHANGE_ID])
    @action(detail=False, methods=["post"],
            url_path=r"changes/(?P<change_id>\d+)/provide-info",
            pagination_class=None, filter_backends=[])
    def provide_info(self, request: Request, change_id: str) -> Response:
        """Answer the approvers (a public comment); the round goes back to pending."""
        change = self._change(change_id)
        body = ApprovalProvideInfoSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approvals.approval_provide_info(actor=request.user, change=change,
                                        body=body.validated_data["body"])
        return self._rounds(change)


# --- Policies ----------------------------------------------------------------------------

class ApprovalPolicyViewSet(viewsets.ModelViewSet):
    """Approval policies, tried in `order`: the first active one whose `change_types`
    and `risk_levels` (empty: all) match a change decides its approvers and rule.
    Changing them needs *manage changes*; `required_count` is needed for `n_of_m`, and a
    policy names at least one team (`groups`) or person (`people`)."""

    serializer_class = ApprovalPolicySerializer
    permission_classes = DESK
    pagination_class = None
    lookup_value_regex = r"\d+"
    filterset_fields = ["is_active", "rule", "cab"]

    def get_queryset(self) -> QuerySet[ApprovalPolicy]:
        return ApprovalPolicy.objects.prefetch_related("groups", "people").order_by(
            "order", "id")

    def perform_create(self, serializer: ApprovalPolicySerializer) -> None:
        policy = approvals.policy_create(actor=self.request.user,
                                         **dict(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=policy.pk)

    def perform_update(self, serializer: ApprovalPolicySerializer) -> None:
        policy = approvals.policy_update(actor=self.request.user, policy=serializer.instance,
                                         **dict(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=policy.pk)

    def perform_destroy(self, instance: ApprovalPolicy) -> None:
        approvals.policy_delete(actor=self.request.user, policy=instance)


# --- CAB meetings ------------------------------------------------------------------------

class CabMeetingViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                        viewsets.ReadOnlyModelViewSet):
    """CAB meetings with their agenda. Planning one and shaping its agenda needs *manage
    changes*; decisions, minutes and holding need the chair or a change manager. An
    approved or rejected decision overrides the change's open approval round."""

    serializer_class = CabMeetingSerializer
    permission_classes = DESK
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ["status"]

    def get_queryset(self) -> QuerySet[CabMeeting]:
        return CabMeeting.objects.prefetch_related("items__change").order_by("id")

    def _show(self, meeting: CabMeeting, code: int = status.HTTP_200_OK) -> Response:
        return Response(CabMeetingSerializer(self.get_queryset().get(pk=meeting.pk)).data,
                        status=code)

    def perform_create(self, serializer: CabMeetingSerializer) -> None:
        meeting = cab.cab_meeting_create(actor=self.request.user,
                                         **dict(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=meeting.pk)

    def perform_update(self, serializer: CabMeetingSerializer) -> None:
        meeting = cab.cab_meeting_update(actor=self.request.user, meeting=serializer.instance,
                                         **dict(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=meeting.pk)

    @extend_schema(request=None, responses=CabMeetingSerializer)
    @action(detail=True, methods=["post"], url_path="build-agenda")
    def build_agenda(self, request: Request, pk: str | None = None) -> Response:
        """Add the changes awaiting authorisation planned in the meeting's range (and
        those needing a CAB decision), in order of planned start."""
        meeting = self.get_object()
        cab.cab_agenda_build(actor=request.user, meeting=meeting)
        return self._show(meeting)

    @extend_schema(request=CabItemAddSerializer, responses={201: CabMeetingSerializer})
    @action(detail=True, methods=["post"])
    def items(self, request: Request, pk: str | None = None) -> Response:
        """Put one change on the agenda."""
        meeting = self.get_object()
        body = CabItemAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cab.cab_item_add(actor=request.user, meeting=meeting,
                         change=body.validated_data["change"])
        return self._show(meeting, status.HTTP_201_CREATED)

    def _item(self, meeting: CabMeeting, item_id: str) -> CabAgendaItem:
        item = meeting.items.filter(pk=int(item_id)).first()
        if item is None:
            raise Http404
        return item

    @extend_schema(request=None, responses={204: None}, parameters=[ITEM_ID])
    @action(detail=True, methods=["delete"], url_path=r"items/(?P<item_id>\d+)")
    def remove_item(self, request: Request, item_id: str, pk: str | None = None) -> Response:
        """Take an undecided change off the agenda."""
        meeting = self.get_object()
        cab.cab_item_remove(actor=request.user, item=self._item(meeting, item_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=CabDecisionSerializer, responses=CabMeetingSerializer,
                   parameters=[ITEM_ID])
    @action(detail=True, methods=["post"], url_path=r"items/(?P<item_id>\d+)/decision")
    def decision(self, request: Request, item_id: str, pk: str | None = None) -> Response:
        """Record the CAB's decision on a change (`notes` required to reject or ask for
        information)."""
        meeting = self.get_object()
        body = CabDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cab.cab_record_decision(actor=request.user, item=self._item(meeting, item_id),
                                **body.validated_data)
        return self._show(meeting)

    @extend_schema(request=CabMinutesSerializer, responses=CabMeetingSerializer)
    @action(detail=True, methods=["post"])
    def minutes(self, request: Request, pk: str | None = None) -> Response:
        meeting = self.get_object()
        body = CabMinutesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cab.cab_minutes_save(actor=request.user, meeting=meeting,
                             minutes=body.validated_data["minutes"])
        return self._show(meeting)

    @extend_schema(request=None, responses=CabMeetingSerializer)
    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk: str | None = None) -> Response:
        """Mark the meeting held."""
        meeting = self.get_object()
        cab.cab_meeting_hold(actor=request.user, meeting=meeting)
        return self._show(meeting)
