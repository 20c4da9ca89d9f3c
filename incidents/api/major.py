"""API for major incidents: link to a parent, declare and stand down, stakeholder updates
(actions on the incident viewset), and the post-incident review with its actions (views
of their own, for PUT and DELETE). Every write goes through :mod:`incidents.major` or
:mod:`incidents.services`; refusals come back in the one error shape."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from incidents import major, selectors, services
from incidents.models import Incident, PostIncidentReview, ReviewAction
from itsm.errors import NotPermitted

from .major_serializers import (
    DeclareMajorSerializer,
    LinkParentSerializer,
    ReviewActionSerializer,
    ReviewActionWriteSerializer,
    ReviewSerializer,
    ReviewWriteSerializer,
    StakeholderUpdateCreateSerializer,
    StakeholderUpdateSerializer,
    StandDownSerializer,
)
from .serializers import IncidentSerializer

INCIDENT_KEY = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH,
    description="The incident's id or its number (INC0001042).")


class MajorIncidentActions:
    """Mixed into ``IncidentViewSet``. Its ``{id}`` also accepts the incident number."""

    def get_object(self) -> Any:
        key = str(self.kwargs.get("pk", ""))
        if key.isdigit():
            return super().get_object()  # type: ignore[misc]
        incident = self.get_queryset().filter(number__iexact=key).first()  # type: ignore[attr-defined]
        if incident is None:
            raise Http404
        self.check_object_permissions(self.request, incident)  # type: ignore[attr-defined]
        return incident

    @extend_schema(request=LinkParentSerializer, responses=IncidentSerializer,
                   parameters=[INCIDENT_KEY])
    @action(detail=True, methods=["post"], url_path="link-parent")
    def link_parent(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = LinkParentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.incident_link_parent(actor=request.user, incident=incident,
                                      parent=body.validated_data["parent"])
        return self._detail(incident)  # type: ignore[attr-defined]

    @extend_schema(request=DeclareMajorSerializer, responses=IncidentSerializer,
                   parameters=[INCIDENT_KEY])
    @action(detail=True, methods=["post"], url_path="declare-major")
    def declare_major(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = DeclareMajorSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        major.incident_declare_major(actor=request.user, incident=incident,
                                     **body.validated_data)
        return self._detail(incident)  # type: ignore[attr-defined]

    @extend_schema(request=StandDownSerializer, responses=IncidentSerializer,
                   parameters=[INCIDENT_KEY])
    @action(detail=True, methods=["post"], url_path="stand-down")
    def stand_down(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        body = StandDownSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        major.incident_stand_down(actor=request.user, incident=incident,
                                  reason=body.validated_data["reason"])
        return self._detail(incident)  # type: ignore[attr-defined]

    @extend_schema(methods=["GET"], request=None,
                   responses=StakeholderUpdateSerializer(many=True), parameters=[INCIDENT_KEY])
    @extend_schema(methods=["POST"], request=StakeholderUpdateCreateSerializer,
                   responses={201: StakeholderUpdateSerializer}, parameters=[INCIDENT_KEY])
    @action(detail=True, methods=["get", "post"], url_path="stakeholder-updates",
            pagination_class=None, filter_backends=[])
    def stakeholder_updates(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            return Response(StakeholderUpdateSerializer(
                incident.stakeholder_updates.all(), many=True).data)
        body = StakeholderUpdateCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        update = major.stakeholder_update_post(actor=request.user, incident=incident,
                                               body=body.validated_data["body"])
        return Response(StakeholderUpdateSerializer(update).data,
                        status=status.HTTP_201_CREATED)


# --- The post-incident review ---------------------------------------------------------

REVIEW_KEY = OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH,
                              description="The incident's id or number (INC0001042).")


class _ReviewBase(generics.GenericAPIView):
    """Reviews are desk records: the incident must be visible to the caller (else 404)
    and the caller a desk user (else 403)."""

    pagination_class = None
    filter_backends: list[Any] = []

    def incident(self) -> Incident:
        key = str(self.kwargs["key"])
        lookup = {"pk": int(key)} if key.isdigit() else {"number__iexact": key}
        incident = selectors.incidents_visible_to(self.request.user).select_related(
            "major_manager").filter(**lookup).first()
        if incident is None:
            raise Http404
        if not self.request.user.has_perm("accounts.access_desk"):
            raise NotPermitted(_("Post-incident reviews are for the service desk."))
        return incident

    def review(self, incident: Incident) -> PostIncidentReview:
        review = PostIncidentReview.objects.filter(incident=incident).select_related(
            "incident").first()
        if review is None:
            raise Http404
        return review

    def show(self, review: PostIncidentReview, code: int = status.HTTP_200_OK) -> Response:
        fresh = PostIncidentReview.objects.select_related("incident").prefetch_related(
            "actions__owner__profile").get(pk=review.pk)
        return Response(ReviewSerializer(fresh).data, status=code)


class IncidentReviewView(_ReviewBase):
    serializer_class = ReviewSerializer

    @extend_schema(responses=ReviewSerializer, parameters=[REVIEW_KEY])
    def get(self, request: Request, key: str) -> Response:
        return self.show(self.review(self.incident()))

    @extend_schema(request=ReviewWriteSerializer, responses=ReviewSerializer,
                   parameters=[REVIEW_KEY],
                   description="Edit the summary, root cause and lessons. Starts the review "
                               "first when the major incident has none.")
    def put(self, request: Request, key: str) -> Response:
        incident = self.incident()
        body = ReviewWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        review = PostIncidentReview.objects.filter(incident=incident).first()
        if review is None:
            review = major.review_start(actor=request.user, incident=incident)
        review = major.review_update(actor=request.user, review=review, **body.validated_data)
        return self.show(review)


class ReviewCompleteView(_ReviewBase):
    serializer_class = ReviewSerializer

    @extend_schema(request=None, responses=ReviewSerializer, parameters=[REVIEW_KEY])
    def post(self, request: Request, key: str) -> Response:
        review = major.review_complete(actor=request.user,
                                       review=self.review(self.incident()))
        return self.show(review)


class ReviewActionsView(_ReviewBase):
    serializer_class = ReviewActionSerializer

    @extend_schema(request=ReviewActionWriteSerializer, responses={201: ReviewActionSerializer},
                   parameters=[REVIEW_KEY])
    def post(self, request: Request, key: str) -> Response:
        review = self.review(self.incident())
        body = ReviewActionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        values.pop("done", None)  # a new action is open
        created = major.review_action_add(actor=request.user, review=review, **values)
        return Response(ReviewActionSerializer(created).data, status=status.HTTP_201_CREATED)


ACTION_ID = OpenApiParameter("action_id", OpenApiTypes.INT, OpenApiParameter.PATH)


class ReviewActionView(_ReviewBase):
    serializer_class = ReviewActionSerializer

    def action_of(self, action_id: int) -> ReviewAction:
        review = self.review(self.incident())
        found = review.actions.filter(pk=action_id).first()
        if found is None:
            raise Http404
        return found

    @extend_schema(request=ReviewActionWriteSerializer, responses=ReviewActionSerializer,
                   parameters=[REVIEW_KEY, ACTION_ID])
    def patch(self, request: Request, key: str, action_id: int) -> Response:
        found = self.action_of(action_id)
        body = ReviewActionWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        updated = major.review_action_update(actor=request.user, action=found,
                                             **body.validated_data)
        return Response(ReviewActionSerializer(updated).data)

    @extend_schema(request=None, responses={204: None}, parameters=[REVIEW_KEY, ACTION_ID])
    def delete(self, request: Request, key: str, action_id: int) -> Response:
        major.review_action_delete(actor=request.user, action=self.action_of(action_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
