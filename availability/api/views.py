"""The availability REST API under ``/api/v1/availability/``: outages and maintenance
windows (CRUD; an outage is ended with ``POST …/end/``), and monthly availability per
business service with its target. Reading needs desk access; the services check the
write permission (the CMDB's edit permission) and raise the errors the API turns into
``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from itsm.errors import DomainError

from .. import selectors, services
from ..calculations import parse_month
from ..filtersets import MaintenanceWindowFilterSet, OutageFilterSet
from ..models import MaintenanceWindow, Outage
from .serializers import (
    AvailabilityTargetSerializer,
    MaintenanceWindowSerializer,
    MaintenanceWindowUpdateSerializer,
    MonthAvailabilitySerializer,
    OutageEndSerializer,
    OutageSerializer,
    OutageUpdateSerializer,
    month_data,
)

DESK = [permissions.IsAuthenticated, DeskPermission]
MAX_MONTHS = 36


class OutageViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                    mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Outages of business services. Recorded by hand (`POST`) or opened by major
    incidents (`source_incident`). A hand-recorded outage may not overlap another of the
    same service (`400 overlapping_outage`); only hand-recorded ones can be deleted
    (`400 from_incident`). `PATCH` corrects `started_at`, `ended_at`, `description`."""

    permission_classes = DESK
    filterset_class = OutageFilterSet
    lookup_value_regex = r"\d+"
    queryset = Outage.objects.select_related("service", "source_incident")

    def get_serializer_class(self) -> Any:
        if self.action in ("update", "partial_update"):
            return OutageUpdateSerializer
        if self.action == "end":
            return OutageEndSerializer
        return OutageSerializer

    def perform_create(self, serializer: OutageSerializer) -> None:
        outage = services.outage_record(actor=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=outage.pk)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        outage = self.get_object()
        serializer = OutageUpdateSerializer(outage, data=request.data,
                                            partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.outage_update(actor=request.user, outage=outage, **serializer.validated_data)
        return Response(OutageSerializer(self.get_queryset().get(pk=outage.pk)).data)

    def perform_destroy(self, instance: Outage) -> None:
        services.outage_delete(actor=self.request.user, outage=instance)

    @extend_schema(request=OutageEndSerializer, responses=OutageSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        """End an ongoing outage, now or at `ended_at` (`400 already_ended`)."""
        outage = self.get_object()
        serializer = OutageEndSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.outage_end(actor=request.user, outage=outage,
                            ended_at=serializer.validated_data.get("ended_at"))
        return Response(OutageSerializer(self.get_queryset().get(pk=outage.pk)).data)


class MaintenanceWindowViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                               mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet):
    """Maintenance windows of business services: agreed time the service may be down,
    left out of the availability figures. `PATCH` changes `starts_at`, `ends_at`,
    `reason`; the end must be after the start (`400 ends_before_start`)."""

    permission_classes = DESK
    filterset_class = MaintenanceWindowFilterSet
    lookup_value_regex = r"\d+"
    queryset = MaintenanceWindow.objects.select_related("service")

    def get_serializer_class(self) -> Any:
        if self.action in ("update", "partial_update"):
            return MaintenanceWindowUpdateSerializer
        return MaintenanceWindowSerializer

    def perform_create(self, serializer: MaintenanceWindowSerializer) -> None:
        window = services.maintenance_window_create(actor=self.request.user,
                                                    **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=window.pk)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        window = self.get_object()
        serializer = MaintenanceWindowUpdateSerializer(window, data=request.data,
                                                       partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.maintenance_window_update(actor=request.user, window=window,
                                           **serializer.validated_data)
        return Response(MaintenanceWindowSerializer(self.get_queryset().get(pk=window.pk)).data)

    def perform_destroy(self, instance: MaintenanceWindow) -> None:
        services.maintenance_window_delete(actor=self.request.user, window=instance)


def _month_param(request: Request) -> tuple[int, int]:
    value = (request.query_params.get("month") or "").strip()
    if not value:
        return selectors.current_month()
    month = parse_month(value)
    if month is None:
        message = _("Enter a month as YYYY-MM.")
        raise DomainError(message, fields={"month": [message]})
    return month


def _months_param(request: Request) -> int:
    value = request.query_params.get("months", "6")
    if not value.isdigit() or not 1 <= int(value) <= MAX_MONTHS:
        message = _("Enter a number of months from 1 to %(max)d.") % {"max": MAX_MONTHS}
        raise DomainError(message, fields={"months": [message]})
    return int(value)


class ServiceAvailabilityViewSet(viewsets.GenericViewSet):
    """Monthly availability of business services against their targets. Months are
    calendar months in the platform's time zone; the current month is measured to
    date."""

    permission_classes = DESK
    pagination_class = None
    filter_backends: list[Any] = []
    lookup_value_regex = r"\d+"
    serializer_class = MonthAvailabilitySerializer

    def get_queryset(self) -> Any:
        return selectors.business_services()

    @extend_schema(parameters=[OpenApiParameter("month", str, description="YYYY-MM "
                                                "(default: the current month)")],
                   responses=MonthAvailabilitySerializer(many=True))
    def list(self, request: Request) -> Response:
        """Every business service over one month, worst first."""
        year, month = _month_param(request)
        rows = selectors.month_report(year, month)
        return Response(MonthAvailabilitySerializer(
            [month_data(row.service, row.month) for row in rows], many=True).data)

    @extend_schema(operation_id="v1_availability_services_months",
                   parameters=[OpenApiParameter("months", int, description="How many "
                                                "months, newest first (default 6)")],
                   responses=MonthAvailabilitySerializer(many=True))
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """One service: this month and the ones before it, newest first."""
        service = get_object_or_404(self.get_queryset(), pk=pk)
        months = selectors.service_months(service, count=_months_param(request))
        return Response(MonthAvailabilitySerializer(
            [month_data(service, month) for month in months], many=True).data)

    @extend_schema(request=AvailabilityTargetSerializer, responses=AvailabilityTargetSerializer)
    @action(detail=True, methods=["put"])
    def target(self, request: Request, pk: str | None = None) -> Response:
        """Set the service's availability target (`null` removes it;
        `400 target_out_of_range` outside (0, 100])."""
        service = get_object_or_404(self.get_queryset(), pk=pk)
        serializer = AvailabilityTargetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = services.availability_target_set(
            actor=request.user, service=service,
            target_percent=serializer.validated_data["target_percent"])
        return Response({"target_percent": None if target is None else
                         str(target.target_percent)}, status=status.HTTP_200_OK)
