"""The schedule API: maintenance and freeze windows (``changes/windows``: read for desk
staff, written by change managers through ``changes.windows``), the forward schedule
(``changes/schedule``: JSON, or iCalendar with ``?format=ics`` or ``…/schedule/ics/``) and
a change's conflicts (``ChangeConflictsMixin``, mixed into the change viewset for
``GET /api/v1/changes/{id}/conflicts/``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import DeskPermission
from cmdb.models import ConfigurationItem
from itsm.errors import DomainError

from ..conflicts import conflicts_detect, freeze_override_allowed
from ..ical import calendar_ics
from ..models import Change, ChangeConflict, ConflictKind, ScheduleWindow
from ..schedule import ScheduleEntry, forward_schedule
from ..schedule_filtersets import ScheduleFilterForm, WindowFilterSet, default_range
from ..windows import next_occurrences, window_create, window_delete, window_update

DESK = [permissions.IsAuthenticated, DeskPermission]


# --- Windows -------------------------------------------------------------------------------

class ScheduleWindowSerializer(serializers.ModelSerializer):
    ci = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.all(), allow_null=True, required=False,
        help_text="The CI or service (id). Required for maintenance; a freeze without one "
                  "applies everywhere.")
    ci_name = serializers.CharField(source="ci.name", read_only=True, default=None)
    next_occurrences = serializers.SerializerMethodField(
        help_text="The next three occurrences (UTC), as [start, end] pairs.")

    class Meta:
        model = ScheduleWindow
        fields = ["id", "kind", "name", "reason", "ci", "ci_name", "starts_at", "ends_at",
                  "recurrence", "repeat_until", "timezone", "is_active", "next_occurrences",
                  "created_by", "created_at"]
        read_only_fields = ["created_by", "created_at"]
        # The model's rules (end after start, a repeating window shorter than its period,
        # maintenance on a CI, a known time zone) are the service's: one error shape.
        validators: list[Any] = []

    def get_next_occurrences(self, window: ScheduleWindow) -> list[list[str]]:
        now = self.context.get("now") or dt.datetime.now(dt.UTC)
        return [[begin.isoformat(), end.isoformat()]
                for begin, end in next_occurrences(window, now, 3)]


class WindowViewSet(viewsets.ModelViewSet):
    """Maintenance windows (of a CI or service) and change freezes (global, or on a
    service and what it depends on), recurring daily, weekly or monthly in their own time
    zone. Reading needs desk access; writing `changes.manage_changes` (`403`). Refusals
    name the field: `ends_at` (end before start, a repeating window as long as its
    period), `ci` (maintenance without one), `timezone` (unknown)."""

    permission_classes = DESK
    serializer_class = ScheduleWindowSerializer
    filterset_class = WindowFilterSet
    lookup_value_regex = r"\d+"
    queryset = ScheduleWindow.objects.select_related("ci").order_by("id")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": dt.datetime.now(dt.UTC)}

    def perform_create(self, serializer: ScheduleWindowSerializer) -> None:
        window = window_create(actor=self.request.user, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=window.pk)

    def perform_update(self, serializer: ScheduleWindowSerializer) -> None:
        window = window_update(actor=self.request.user, window=serializer.instance,
                               **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=window.pk)

    def perform_destroy(self, instance: ScheduleWindow) -> None:
        window_delete(actor=self.request.user, window=instance)


# --- The forward schedule ------------------------------------------------------------------

class ICalendarRenderer(BaseRenderer):
    """``text/calendar`` for ``?format=ics``; errors still answer in JSON."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        if isinstance(data, str):
            return data.encode("utf-8")
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode("utf-8")


class ScheduleEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["change", "maintenance", "freeze"])
    uid = serializers.CharField(help_text="Stable per change and per window occurrence.")
    title = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    url = serializers.CharField(help_text="The desk page (a change) or the window's form.")
    number = serializers.CharField(help_text="The change's number (changes only).")
    change_id = serializers.IntegerField(allow_null=True)
    window_id = serializers.IntegerField(allow_null=True)
    state = serializers.CharField()
    type = serializers.CharField()
    risk = serializers.CharField()
    team = serializers.CharField()
    ci_name = serializers.CharField(help_text="The window's CI or service.")
    conflict = serializers.BooleanField(help_text="The change has stored conflicts.")


SCHEDULE_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="From (ISO 8601; default: "
                     "a week ago)"),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="Until, at most 100 days "
                     "after `start` (default: twelve weeks on)"),
    OpenApiParameter("service", int, description="A service (CI id): changes listing it or "
                     "touching what it depends on; windows on those, and global freezes"),
    OpenApiParameter("team", int, description="The changes' assignment group (team id)"),
    OpenApiParameter("type", str, many=True, description="Change types: standard, normal, "
                     "emergency (repeat for several)"),
]


def _entries(request: Request) -> list[ScheduleEntry]:
    form = ScheduleFilterForm(request.query_params)
    if not form.is_valid():
        form.raise_errors()
    start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    default_start, default_end = default_range(dt.datetime.now(dt.UTC))
    if start is None and end is None:
        start, end = default_start, default_end
    elif start is None or end is None:
        missing = "start" if start is None else "end"
        message = "Give both start and end, or neither."
        raise DomainError(message, fields={missing: [message]})
    return forward_schedule(start, end, **form.filters())


def _entry_data(entry: ScheduleEntry) -> dict[str, Any]:
    return {"kind": entry.kind, "uid": entry.uid, "title": entry.title, "start": entry.start,
            "end": entry.end, "url": entry.url, "number": entry.number,
            "change_id": entry.change_id, "window_id": entry.window_id, "state": entry.state,
            "type": entry.type, "risk": entry.risk, "team": entry.team,
            "ci_name": entry.ci_name, "conflict": entry.conflict}


class ScheduleViewSet(viewsets.GenericViewSet):
    """The forward schedule of change: changes planned in the range (not cancelled) and
    the occurrences of maintenance and freeze windows, by start. `?format=ics` (or
    `…/schedule/ics/`) answers the same as an iCalendar file."""

    permission_classes = DESK
    pagination_class = None
    filter_backends: list[Any] = []
    serializer_class = ScheduleEntrySerializer
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, ICalendarRenderer]

    def _ics(self, request: Request, entries: list[ScheduleEntry]) -> Response:
        response = Response(calendar_ics(entries, base_url=request.build_absolute_uri("/")),
                            content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="change-schedule.ics"'
        return response

    @extend_schema(parameters=SCHEDULE_PARAMETERS,
                   responses={(200, "application/json"): ScheduleEntrySerializer(many=True),
                              (200, "text/calendar"): OpenApiTypes.STR})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        entries = _entries(request)
        if request.accepted_renderer.format == "ics":
            return self._ics(request, entries)
        return Response(ScheduleEntrySerializer([_entry_data(e) for e in entries],
                                                many=True).data)

    @extend_schema(parameters=SCHEDULE_PARAMETERS,
                   responses={(200, "text/calendar"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], renderer_classes=[ICalendarRenderer, JSONRenderer])
    def ics(self, request: Request) -> Response:
        """The forward schedule as an RFC 5545 iCalendar file."""
        return self._ics(request, _entries(request))


# --- A change's conflicts ------------------------------------------------------------------

class ChangeConflictSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ConflictKind.choices)
    reason = serializers.CharField()
    ci = serializers.IntegerField(allow_null=True)
    ci_name = serializers.CharField(allow_null=True)
    other_change = serializers.IntegerField(allow_null=True)
    other_change_number = serializers.CharField(allow_null=True)
    window = serializers.IntegerField(allow_null=True)
    window_name = serializers.CharField(allow_null=True)
    blocking = serializers.BooleanField(help_text="A freeze the change may not be "
                                                  "scheduled into.")
    detected_at = serializers.DateTimeField(allow_null=True,
                                            help_text="Null in a preview.")


class ChangeConflictsSerializer(serializers.Serializer):
    preview = serializers.BooleanField(help_text="True: detected for the dates given, not "
                                                 "stored.")
    planned_start = serializers.DateTimeField(allow_null=True)
    planned_end = serializers.DateTimeField(allow_null=True)
    blocked_by_freeze = serializers.BooleanField()
    conflicts = ChangeConflictSerializer(many=True)


def _row(item: Any, *, blocking: bool, detected_at: Any = None) -> dict[str, Any]:
    return {"kind": item.kind, "reason": item.reason,
            "ci": item.ci.pk if item.ci else None, "ci_name": item.ci.name if item.ci else None,
            "other_change": item.other_change.pk if item.other_change else None,
            "other_change_number": item.other_change.number if item.other_change else None,
            "window": item.window.pk if item.window else None,
            "window_name": item.window.name if item.window else None,
            "blocking": blocking, "detected_at": detected_at}


def change_conflicts_data(change: Change, *, start: dt.datetime | None = None,
                          end: dt.datetime | None = None) -> dict[str, Any]:
    """A change's stored conflicts, or (``start`` and ``end``) those it would have
    planned then, in the shape of ``ChangeConflictsSerializer``."""
    if start is not None and end is not None:
        found = conflicts_detect(change, start, end)
        rows = [_row(item, blocking=item.blocking) for item in found]
        preview = True
    else:
        allowed = freeze_override_allowed(change, {})
        stored = ChangeConflict.objects.filter(change=change).select_related(
            "ci", "other_change", "window")
        rows = [_row(row, blocking=row.kind == ConflictKind.FREEZE and not allowed,
                     detected_at=row.detected_at) for row in stored]
        preview, start, end = False, change.planned_start, change.planned_end
    return {"preview": preview, "planned_start": start, "planned_end": end,
            "blocked_by_freeze": any(row["blocking"] for row in rows), "conflicts": rows}


class ConflictsQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if (start is None) != (end is None):
            raise serializers.ValidationError({"end" if end is None else "start": [
                "Give both start and end for a preview, or neither."]})
        if start and end and end <= start:
            raise serializers.ValidationError({"end": ["The end must be after the start."]})
        return attrs


class ChangeConflictsMixin:
    """Mix into the change viewset: ``GET /api/v1/changes/{id}/conflicts/`` (stored), and
    ``?start=…&end=…`` for a preview of other dates."""

    @extend_schema(parameters=[
        OpenApiParameter("start", OpenApiTypes.DATETIME, description="Preview from"),
        OpenApiParameter("end", OpenApiTypes.DATETIME, description="Preview until")],
        responses=ChangeConflictsSerializer)
    @action(detail=True, methods=["get"], url_path="conflicts", url_name="conflicts",
            pagination_class=None, filter_backends=[])
    def conflicts(self, request: Request, pk: str | None = None) -> Response:
        """The change's conflicts: overlapping changes (through CI relationships), misfits
        with maintenance windows, freezes; `blocking` marks a freeze it may not be
        scheduled into."""
        change = self.get_object()  # type: ignore[attr-defined]
        query = ConflictsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(ChangeConflictsSerializer(change_conflicts_data(
            change, start=query.validated_data.get("start"),
            end=query.validated_data.get("end"))).data)


class ChangeConflictsViewSet(ChangeConflictsMixin, viewsets.GenericViewSet):
    """Stand-alone until the change viewset mixes ``ChangeConflictsMixin`` in (tests)."""

    permission_classes = DESK
    queryset = Change.objects.all()
    lookup_value_regex = r"\d+"
    serializer_class = ChangeConflictsSerializer
