"""The SLA definitions API: ``/api/v1/sla/calendars/`` and ``/api/v1/sla/agreements/``.
Reading needs desk access; every write goes through ``sla.services``, which checks
``sla.manage_sla`` and refuses bad input with ``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission

from .. import selectors, services
from ..models import Agreement, BusinessCalendar, Target
from .serializers import (
    AgreementSerializer,
    CalendarSerializer,
    GeneratedHolidaysSerializer,
    GenerateHolidaysSerializer,
    MoveSerializer,
    PreviewQuerySerializer,
    PreviewSerializer,
)

DESK = [permissions.IsAuthenticated, DeskPermission]


def _given(data: dict[str, Any]) -> dict[str, Any]:
    """Nested serializer output as plain dicts and lists for the services."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value
    return plain(dict(data))


@extend_schema_view(
    destroy=extend_schema(responses={204: None, 409: OpenApiResponse(
        description="In use: a target or timer measures with the calendar (`in_use`).")}))
class CalendarViewSet(viewsets.ModelViewSet):
    """Business calendars: time zone, weekly working intervals, holidays and one-off
    exceptions. Creating and changing needs *manage SLA definitions*. A calendar with no
    working time, overlapping or inverted intervals or an unknown time zone is refused
    with the field named."""

    serializer_class = CalendarSerializer
    permission_classes = DESK
    lookup_value_regex = r"\d+"
    pagination_class = None

    def get_queryset(self) -> QuerySet[BusinessCalendar]:
        return BusinessCalendar.objects.prefetch_related(
            "intervals", "holidays", "exceptions").order_by("name")

    def perform_create(self, serializer: CalendarSerializer) -> None:
        data = _given(serializer.validated_data)
        calendar = services.calendar_create(actor=self.request.user, **data)
        serializer.instance = self.get_queryset().get(pk=calendar.pk)

    def perform_update(self, serializer: CalendarSerializer) -> None:
        data = _given(serializer.validated_data)
        calendar = services.calendar_update(actor=self.request.user,
                                            calendar=serializer.instance, **data)
        serializer.instance = self.get_queryset().get(pk=calendar.pk)

    def perform_destroy(self, instance: BusinessCalendar) -> None:
        services.calendar_delete(actor=self.request.user, calendar=instance)

    @extend_schema(parameters=[PreviewQuerySerializer], responses=PreviewSerializer)
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str) -> Response:
        """The next working periods (default 10) from now or `start`, in the calendar's
        time zone."""
        calendar = self.get_object()
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        periods, exhausted = selectors.calendar_preview(
            calendar, start=query.validated_data.get("start"),
            count=query.validated_data["count"])
        return Response(PreviewSerializer({
            "time_zone": calendar.time_zone, "exhausted": exhausted,
            "periods": [{"start": p.start, "end": p.end, "minutes": p.minutes}
                        for p in periods]}).data)

    @extend_schema(request=GenerateHolidaysSerializer,
                   responses={200: GeneratedHolidaysSerializer})
    @action(detail=True, methods=["post"], url_path="generate-holidays")
    def generate_holidays(self, request: Request, pk: str) -> Response:
        """Add a country's (and region's) public holidays for a year from the `holidays`
        package. Dates that already have a holiday keep it: running it twice adds
        nothing. An unknown country or region is refused (`holiday_country`,
        `holiday_subdivision`)."""
        calendar = self.get_object()
        body = GenerateHolidaysSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        added = services.holidays_generate(actor=request.user, calendar=calendar,
                                           **body.validated_data)
        calendar = self.get_queryset().get(pk=calendar.pk)
        return Response({
            "added": [{"date": h.date.isoformat(), "name": h.name, "source": h.source}
                      for h in added],
            "calendar": CalendarSerializer(calendar).data})


@extend_schema_view(
    destroy=extend_schema(responses={
        204: OpenApiResponse(description="Deleted: no ticket was measured against it."),
        200: OpenApiResponse(AgreementSerializer, description=(
            "Kept and deactivated instead: tickets were measured against it."))}))
class AgreementViewSet(viewsets.ModelViewSet):
    """SLAs, OLAs and underpinning contracts with their conditions, targets and
    thresholds (nested). For each kind the active agreements are tried in `order`, the
    first match applies. Creating and changing needs *manage SLA definitions*; refusals
    name the field (`priorities`, `services`, `targets.0.thresholds.1.percent`, `order`
    when an earlier agreement would shadow this one…)."""

    serializer_class = AgreementSerializer
    permission_classes = DESK
    lookup_value_regex = r"\d+"
    pagination_class = None
    filterset_fields = ["kind", "is_active"]

    def get_queryset(self) -> QuerySet[Agreement]:
        return Agreement.objects.order_by("kind", "order", "name").prefetch_related(
            "categories", "services", "assignment_groups",
            Prefetch("targets", Target.objects.prefetch_related("thresholds")
                     .order_by("metric")))

    def perform_create(self, serializer: AgreementSerializer) -> None:
        agreement = services.agreement_create(actor=self.request.user,
                                              **_given(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=agreement.pk)

    def perform_update(self, serializer: AgreementSerializer) -> None:
        agreement = services.agreement_update(actor=self.request.user,
                                              agreement=serializer.instance,
                                              **_given(serializer.validated_data))
        serializer.instance = self.get_queryset().get(pk=agreement.pk)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        agreement = self.get_object()
        if services.agreement_delete(actor=request.user, agreement=agreement):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.get_serializer(self.get_queryset().get(pk=agreement.pk)).data)

    @extend_schema(request=MoveSerializer, responses=AgreementSerializer(many=True))
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str) -> Response:
        """Swap with the neighbour above (`up`) or below (`down`) among its kind; the
        agreements of that kind come back in their new order."""
        agreement = self.get_object()
        body = MoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.agreement_move(actor=request.user, agreement=agreement,
                                direction=body.validated_data["direction"])
        return Response(self.get_serializer(
            self.get_queryset().filter(kind=agreement.kind), many=True).data)
