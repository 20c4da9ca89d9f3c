"""The REST API of the risk area:

- ``/api/v1/changes/risk-questions/``: the risk questionnaire, answers nested (desk staff
  read; change managers write, through ``changes.risk``);
- ``ChangeRiskReviewActions``: actions mixed into the change viewset —
  ``POST /changes/{id}/risk/``, ``GET|PUT /changes/{id}/review/``,
  ``GET /changes/{id}/caused-suggestions/``, ``POST /changes/{id}/caused-incidents/`` and
  ``DELETE /changes/{id}/caused-incidents/{incident_id}/``;
- ``/api/v1/changes/metrics/success/`` and ``/api/v1/changes/metrics/emergency/``.

Refusals are the services' ``DomainError``s, shaped ``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from incidents import metrics as period_tools
from incidents.api.metrics import IncidentMetricsQuerySerializer
from incidents.models import Incident

from .. import metrics, review, risk
from ..models import Change, ChangeResult, ChangeReview, RiskLevel, RiskQuestion

DESK = [permissions.IsAuthenticated, DeskPermission]


# --- The questionnaire -------------------------------------------------------------------

class RiskAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, allow_null=True,
                                  help_text="Given: update that answer. Omitted: a new one.")
    text = serializers.CharField(max_length=200)
    weight = serializers.IntegerField(min_value=0, max_value=100,
                                      help_text="Points added to the risk (0–100).")
    order = serializers.IntegerField(read_only=True)


class RiskQuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    text = serializers.CharField(max_length=300)
    help_text = serializers.CharField(max_length=300, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, default=True)
    order = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                     max_value=32767)
    answers = RiskAnswerSerializer(many=True, help_text=(
        "At least two. On update the list replaces the answers: listed ids are kept "
        "and edited, answers not listed are removed (refused, `409 answer_in_use`, for "
        "one given in an assessment)."))


class RiskQuestionViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                          mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """The risk questionnaire. Desk staff read it; change managers add, edit, reorder
    (`order`), deactivate (`is_active: false`) and delete questions never answered
    (`409 question_in_use` otherwise)."""

    permission_classes = DESK
    serializer_class = RiskQuestionSerializer
    lookup_value_regex = r"\d+"
    queryset = RiskQuestion.objects.prefetch_related("answers")
    filter_backends: list[Any] = []

    def perform_create(self, serializer: RiskQuestionSerializer) -> None:
        data = dict(serializer.validated_data)
        question = risk.risk_question_create(actor=self.request.user,
                                             answers=data.pop("answers"), **data)
        serializer.instance = self.get_queryset().get(pk=question.pk)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        question = self.get_object()
        serializer = RiskQuestionSerializer(data=request.data,
                                            partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.get("order", 0) is None:
            data.pop("order")
        risk.risk_question_update(actor=request.user, question=question,
                                  answers=data.pop("answers", None), **data)
        return Response(RiskQuestionSerializer(self.get_queryset().get(pk=question.pk)).data)

    def perform_destroy(self, instance: RiskQuestion) -> None:
        risk.risk_question_delete(actor=self.request.user, question=instance)


# --- A change's risk and review --------------------------------------------------------

class RiskAnswerChoiceSerializer(serializers.Serializer):
    question = serializers.IntegerField(help_text="A risk question's id.")
    answer = serializers.IntegerField(help_text="The id of one of that question's answers.")


class RiskAssessSerializer(serializers.Serializer):
    answers = RiskAnswerChoiceSerializer(many=True, help_text=(
        "One per active risk question. A missing or foreign answer is `400` with the "
        "field `question_<id>`."))

    def validate_answers(self, value: list[dict[str, int]]) -> list[dict[str, int]]:
        questions = [row["question"] for row in value]
        if len(questions) != len(set(questions)):
            raise serializers.ValidationError("A question is answered twice.")
        return value


class RiskFactorSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="`question_<id>`, `criticality`, `users`, "
                                          "`outage`, `failure_rate`, `caused_incidents` "
                                          "or `emergency`.")
    label = serializers.CharField()
    points = serializers.IntegerField()
    detail = serializers.CharField(help_text="Why, for people.")


class ChangeRiskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    risk = serializers.ChoiceField(choices=RiskLevel.choices, allow_blank=True)
    risk_label = serializers.CharField()
    risk_score = serializers.IntegerField(allow_null=True)
    risk_factors = RiskFactorSerializer(many=True)
    risk_assessed_at = serializers.DateTimeField(allow_null=True)
    answers = RiskAnswerChoiceSerializer(many=True)


def change_risk_data(change: Change) -> dict[str, Any]:
    return {"id": change.pk, "number": change.number, "risk": change.risk,
            "risk_label": change.get_risk_display() if change.risk else "",
            "risk_score": change.risk_score, "risk_factors": change.risk_factors or [],
            "risk_assessed_at": change.risk_assessed_at,
            "answers": [{"question": q, "answer": a}
                        for q, a in risk.stored_answers(change).items()]}


class ChangeReviewSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=ChangeResult.choices)
    result_label = serializers.CharField()
    deviations = serializers.CharField()
    lessons = serializers.CharField()
    reviewer = serializers.IntegerField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    caused_incidents = serializers.ListField(child=serializers.IntegerField(),
                                             help_text="Ids of the incidents marked caused.")


def review_data(change_review: ChangeReview) -> dict[str, Any]:
    return {"result": change_review.result,
            "result_label": change_review.get_result_display(),
            "deviations": change_review.deviations, "lessons": change_review.lessons,
            "reviewer": change_review.reviewer_id, "completed_at": change_review.completed_at,
            "updated_at": change_review.updated_at,
            "caused_incidents": list(change_review.change.caused_incidents.order_by("pk")
                                     .values_list("pk", flat=True))}


class ChangeReviewWriteSerializer(serializers.Serializer):
    result = serializers.ChoiceField(choices=ChangeResult.choices)
    deviations = serializers.CharField(required=False, allow_blank=True, default="")
    lessons = serializers.CharField(required=False, allow_blank=True, default="")
    complete = serializers.BooleanField(required=False, default=False, help_text=(
        "Complete the review: stamps the reviewer and sets the change's result. A "
        "completed review is edited by change managers only (`403`)."))


class CausedSuggestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    ci = serializers.IntegerField(allow_null=True)
    service = serializers.IntegerField(allow_null=True)
    why = serializers.CharField()


class CausedMarkSerializer(serializers.Serializer):
    incident = serializers.IntegerField(help_text="The incident's id.")


def _incident(pk: Any) -> Incident:
    return get_object_or_404(Incident, pk=pk)


class ChangeRiskReviewActions:
    """Mixed into the change viewset (``get_object()`` gives the change)."""

    get_object: Any

    @extend_schema(
        request=RiskAssessSerializer, responses=ChangeRiskSerializer,
        examples=[OpenApiExample("Answers", request_only=True, value={
            "answers": [{"question": 1, "answer": 2}, {"question": 2, "answer": 5}]})])
    @action(detail=True, methods=["post"], url_path="risk", url_name="risk")
    def assess_risk(self, request: Request, pk: str | None = None) -> Response:
        """Assess the change's risk: the answers (one per active question) plus the
        computed factors give the points and the level, explained factor by factor.
        Only while the change is new, in assessment or awaiting authorisation
        (`400 not_assessable`)."""
        change = self.get_object()
        serializer = RiskAssessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answers = {row["question"]: row["answer"]
                   for row in serializer.validated_data["answers"]}
        change = risk.change_assess_risk(actor=request.user, change=change, answers=answers)
        return Response(change_risk_data(change))

    @extend_schema(methods=["GET"], responses=ChangeReviewSerializer)
    @extend_schema(methods=["PUT"], request=ChangeReviewWriteSerializer,
                   responses=ChangeReviewSerializer)
    @action(detail=True, methods=["get", "put"], url_path="review", url_name="review")
    def review_detail(self, request: Request, pk: str | None = None) -> Response:
        """The post-implementation review (`404` before one is written). `PUT` writes it,
        once the change is being implemented (`400 not_reviewable` before)."""
        change = self.get_object()
        if request.method == "PUT":
            serializer = ChangeReviewWriteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            saved = review.change_review_save(actor=request.user, change=change,
                                              **serializer.validated_data)
            return Response(review_data(saved))
        found = review.review_of(change)
        if found is None:
            raise NotFound("This change has no review yet.")
        return Response(review_data(found))

    @extend_schema(responses=CausedSuggestionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="caused-suggestions",
            url_name="caused-suggestions", pagination_class=None, filter_backends=[])
    def caused_suggestions(self, request: Request, pk: str | None = None) -> Response:
        """Incidents on the change's CIs and services (or CIs directly related to them)
        opened during its window or up to the review window after it, not yet marked;
        each with why."""
        change = self.get_object()
        return Response([{"id": i.pk, "number": i.number, "title": i.title, "state": i.state,
                          "created_at": i.created_at, "ci": i.ci_id, "service": i.service_id,
                          "why": i.why} for i in review.caused_incident_suggestions(change)])

    @extend_schema(request=CausedMarkSerializer, responses={204: None})
    @action(detail=True, methods=["post"], url_path="caused-incidents",
            url_name="caused-incidents")
    def mark_caused(self, request: Request, pk: str | None = None) -> Response:
        """Mark an incident as caused by the change (`409 already_marked` twice)."""
        change = self.get_object()
        serializer = CausedMarkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        review.change_mark_caused(actor=request.user, change=change,
                                  incident=_incident(serializer.validated_data["incident"]))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"],
            url_path=r"caused-incidents/(?P<incident_id>\d+)",
            url_name="caused-incident")
    def unmark_caused(self, request: Request, pk: str | None = None,
                      incident_id: str | None = None) -> Response:
        """Take back a mark (`409 not_marked` when there is none)."""
        change = self.get_object()
        review.change_unmark_caused(actor=request.user, change=change,
                                    incident=_incident(incident_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Metrics ---------------------------------------------------------------------------

class ChangeMetricsQuerySerializer(IncidentMetricsQuerySerializer):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD&by=team|category (UTC days)."""

    by = serializers.ChoiceField(choices=list(metrics.GROUPINGS), required=False,
                                 default="team",
                                 help_text="Group by `team` (default) or `category`.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"period": period_tools.metrics_period(attrs.get("from"), attrs.get("to")),
                "by": metrics.grouping(attrs.get("by"))}


class EmergencyQuerySerializer(ChangeMetricsQuerySerializer):
    by = None  # type: ignore[assignment]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"period": period_tools.metrics_period(attrs.get("from"), attrs.get("to"))}


class SuccessRowSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True,
                                   help_text="Team or category id; null: without one.")
    label = serializers.CharField()
    successful = serializers.IntegerField()
    successful_with_issues = serializers.IntegerField()
    failed = serializers.IntegerField()
    backed_out = serializers.IntegerField()
    total = serializers.IntegerField()
    success_rate = serializers.FloatField(
        allow_null=True, help_text="(successful + with issues) / total × 100, one decimal.")


class SuccessReportSerializer(serializers.Serializer):
    to = serializers.DateField()
    by = serializers.CharField()
    time_zone = serializers.CharField()
    overall = SuccessRowSerializer()
    results = SuccessRowSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {"from": serializers.DateField(), **super().get_fields()}


class EmergencyRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()
    team = serializers.IntegerField(allow_null=True)
    actual_start = serializers.DateTimeField(allow_null=True)
    result = serializers.CharField()
    approved_after_the_fact = serializers.BooleanField()
    awaiting_approval_after_the_fact = serializers.BooleanField()
    retro_approval_due = serializers.DateTimeField(allow_null=True)
    retro_overdue = serializers.BooleanField()


class EmergencyReportSerializer(serializers.Serializer):
    to = serializers.DateField()
    time_zone = serializers.CharField()
    results = EmergencyRowSerializer(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {"from": serializers.DateField(), **super().get_fields()}


def success_row_data(row: metrics.SuccessRow) -> dict[str, Any]:
    return {"key": row.key, "label": row.label, "successful": row.successful,
            "successful_with_issues": row.with_issues, "failed": row.failed,
            "backed_out": row.backed_out, "total": row.total,
            "success_rate": row.success_rate}


class ChangeMetricsViewSet(viewsets.GenericViewSet):
    """Change success rates and the emergency change report (UTC days)."""

    permission_classes = DESK
    pagination_class = None
    filter_backends: list[Any] = []
    serializer_class = SuccessReportSerializer
    queryset = Change.objects.none()

    @extend_schema(parameters=[ChangeMetricsQuerySerializer],
                   responses=SuccessReportSerializer)
    @action(detail=False, methods=["get"])
    def success(self, request: Request) -> Response:
        """Changes closed in the period with a result, per team or category: counts by
        result and the success rate."""
        query = ChangeMetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, by = query.validated_data["period"], query.validated_data["by"]
        rows = metrics.success_rates(by=by, period=period, tz=period_tools.utc())
        return Response({"from": period.start, "to": period.end, "by": by,
                         "time_zone": "UTC",
                         "overall": success_row_data(metrics.success_overall(rows)),
                         "results": [success_row_data(row) for row in rows]})

    @extend_schema(parameters=[EmergencyQuerySerializer], responses=EmergencyReportSerializer)
    @action(detail=False, methods=["get"])
    def emergency(self, request: Request) -> Response:
        """Emergency changes started in the period (opened, when not started), flagged
        when approved after the fact or overdue for that approval."""
        query = EmergencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = query.validated_data["period"]
        rows = metrics.emergency_report(period=period, tz=period_tools.utc())
        return Response({"from": period.start, "to": period.end, "time_zone": "UTC",
                         "results": [{
                             "id": row.change.pk, "number": row.change.number,
                             "title": row.change.title, "state": row.change.state,
                             "team": row.change.assignment_group_id,
                             "actual_start": row.change.actual_start,
                             "result": row.change.result,
                             "approved_after_the_fact": row.approved_after,
                             "awaiting_approval_after_the_fact": row.awaiting_retro,
                             "retro_approval_due": row.change.retro_approval_due,
                             "retro_overdue": row.retro_overdue} for row in rows]})
