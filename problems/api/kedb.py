"""The known error database in the API (desk only): search it, and ask which known errors
may match an incident being logged. Both rank as the desk does (``problems.kedb``):
context (same CI, service, a CI one relationship away, category) and text similarity
(trigrams on PostgreSQL, TF-IDF elsewhere). Linking an incident to a known error is the
problem API's ``POST /api/v1/problems/{id}/incidents/``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.api.views import DeskPermission
from cmdb.models import ConfigurationItem
from incidents.models import Category, Incident
from incidents.similar import text_method
from problems import kedb
from problems.models import Problem

TAG = "Known errors"


class KnownErrorSerializer(serializers.ModelSerializer):
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    category_name = serializers.CharField(source="category.name", default=None,
                                          read_only=True)
    fix_change_number = serializers.CharField(source="fix_change.number", default=None,
                                              read_only=True)

    class Meta:
        model = Problem
        fields = ["id", "number", "title", "state", "state_label", "category",
                  "category_name", "workaround", "root_cause", "known_error_at",
                  "fix_change", "fix_change_number"]
        read_only_fields = fields


class KnownErrorMatchSerializer(serializers.Serializer):
    known_error = KnownErrorSerializer(source="problem")
    score = serializers.FloatField(help_text="0–1: how well it matches (with a text search: "
                                             "the text alone).")
    text_score = serializers.FloatField(help_text="0–1: the text similarity alone.")
    reasons = serializers.ListField(child=serializers.CharField(),
                                    help_text="“same CI”, “same service”, “related CI”, "
                                              "“same category”, “similar text”, “contains "
                                              "the words searched”.")
    is_open = serializers.BooleanField(help_text="The problem is not resolved or closed "
                                                 "(open ones come first).")


class KnownErrorResultSerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=[("trigram", "PostgreSQL trigram similarity"),
                 ("tfidf", "TF-IDF cosine similarity")],
        help_text="How text similarity was computed on this database.")
    results = KnownErrorMatchSerializer(many=True)


def _ci(**filters: Any) -> serializers.PrimaryKeyRelatedField:
    return serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.filter(**filters), required=False, allow_null=True,
        default=None)


class KnownErrorSearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=200,
                              help_text="Words or an error text; empty: every known error, "
                                        "open ones first, newest first.")
    ci = _ci()
    service = _ci(ci_class__is_service=True)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), required=False, allow_null=True, default=None,
        help_text="Its parent and children count too.")
    include_closed = serializers.BooleanField(required=False, default=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class KnownErrorSuggestQuerySerializer(serializers.Serializer):
    """The incident being logged (or worked)."""

    title = serializers.CharField(required=False, allow_blank=True, default="",
                                  max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="",
                                        max_length=10000)
    ci = _ci()
    service = _ci(ci_class__is_service=True)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), required=False, allow_null=True, default=None)
    incident = serializers.PrimaryKeyRelatedField(
        queryset=Incident.objects.all(), required=False, allow_null=True, default=None,
        help_text="An incident's id: the known errors it is linked to are left out.")
    limit = serializers.IntegerField(min_value=1, max_value=20, default=5)


def _answer(results: list[kedb.Suggestion]) -> Response:
    return Response(KnownErrorResultSerializer({"method": text_method().name,
                                                "results": results}).data)


@extend_schema(tags=[TAG])
class KnownErrorViewSet(viewsets.GenericViewSet):
    """The known error database: problems published with a workaround."""

    permission_classes = [permissions.IsAuthenticated, DeskPermission]
    serializer_class = KnownErrorResultSerializer
    queryset = Problem.objects.none()
    pagination_class = None
    filter_backends: list[Any] = []

    @extend_schema(parameters=[KnownErrorSearchQuerySerializer],
                   responses=KnownErrorResultSerializer,
                   summary="Search the known errors",
                   examples=[OpenApiExample("VPN known errors on a gateway", response_only=True,
                                            value={"method": "trigram", "results": [{
                                                "known_error": {
                                                    "id": 7, "number": "PRB0000007",
                                                    "title": "VPN tunnel drops every hour",
                                                    "state": "rca",
                                                    "state_label": "Root cause analysis",
                                                    "category": 4, "category_name": "VPN",
                                                    "workaround": "Reconnect before the hour.",
                                                    "root_cause": "IKE lifetime too short.",
                                                    "known_error_at": "2026-11-20T09:12:00Z",
                                                    "fix_change": None,
                                                    "fix_change_number": None},
                                                "score": 0.5, "text_score": 0.5,
                                                "reasons": ["same CI",
                                                            "contains the words searched"],
                                                "is_open": True}]})])
    def list(self, request: Request) -> Response:
        """`q` ranks by text similarity and keeps known errors that are similar or contain
        every word (title, description, workaround, root cause); `ci`, `service` and
        `category` narrow the list (a CI also finds known errors on CIs one relationship
        away, and through the incidents linked to them). Closed problems only with
        `include_closed`. Open known errors come first."""
        query = KnownErrorSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        return _answer(kedb.known_errors_search(
            values["q"], ci=values["ci"], service=values["service"],
            category=values["category"], include_closed=values["include_closed"],
            limit=values["limit"]))

    @extend_schema(parameters=[KnownErrorSuggestQuerySerializer],
                   responses=KnownErrorResultSerializer,
                   summary="Known errors that may match an incident being logged")
    @action(detail=False, methods=["get"])
    def suggestions(self, request: Request) -> Response:
        """Best first, with a score (0–1) and the reasons: the same CI (0.7), service
        (0.5), a CI one relationship away (0.4) or category (0.25) add up as independent
        evidence, combined with the text similarity; below 0.3 nothing is suggested.
        Closed problems are left out; resolved ones come after the open ones."""
        query = KnownErrorSuggestQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        return _answer(kedb.known_error_suggestions(
            title=values["title"], description=values["description"], ci=values["ci"],
            service=values["service"], category=values["category"],
            exclude=values["incident"], limit=values["limit"]))


router = SimpleRouter()
router.register("problems/known-errors", KnownErrorViewSet, basename="known-error")
urlpatterns = [*router.urls]
