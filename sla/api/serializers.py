"""Serializers of the SLA definitions API. They only shape the input (types, lists,
dates): what is valid is decided by ``sla.services``, whose refusals come back as 400s
naming the field (``targets.0.thresholds.1.percent``, ``weekly.monday``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import (
    Agreement,
    AgreementKind,
    BusinessCalendar,
    HolidaySource,
    Metric,
    ThresholdAction,
    TicketType,
)
from ..services import format_intervals, weekly_labels

INTERVALS_HELP = "Intervals as \"HH:MM-HH:MM\" in the calendar's time zone; 24:00 ends the day."


class HolidaySerializer(serializers.Serializer):
    date = serializers.DateField()
    name = serializers.CharField(max_length=150)
    source = serializers.ChoiceField(choices=HolidaySource.choices, required=False,
                                     default=HolidaySource.MANUAL)


class ExceptionSerializer(serializers.Serializer):
    date = serializers.DateField()
    reason = serializers.CharField(max_length=150)
    intervals = serializers.ListField(child=serializers.CharField(), required=False,
                                      default=list,
                                      help_text=INTERVALS_HELP + " Empty: closed all day.")


class CalendarSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False,
                                      help_text="IANA name, such as Europe/London.")
    holiday_country = serializers.CharField(max_length=3, required=False, allow_blank=True,
                                            help_text="Default country for generated "
                                                      "holidays, such as GB.")
    holiday_subdivision = serializers.CharField(max_length=10, required=False,
                                                allow_blank=True,
                                                help_text="Optional region, such as ENG.")
    weekly = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Working time per day, keys monday … sunday (a day left out is not "
                  "worked). " + INTERVALS_HELP)
    exceptions = ExceptionSerializer(many=True, required=False,
                                     help_text="Dates with their own working time; when "
                                               "given, replaces the calendar's list.")
    holidays = HolidaySerializer(many=True, required=False,
                                 help_text="When given, replaces the calendar's holidays.")
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: BusinessCalendar) -> dict[str, Any]:
        weekly: dict[int, list[tuple[int, int]]] = {day: [] for day in range(7)}
        for interval in instance.intervals.all():
            weekly[interval.weekday].append((interval.start_minute, interval.end_minute))
        return {
            "id": instance.pk, "name": instance.name, "description": instance.description,
            "time_zone": instance.time_zone, "holiday_country": instance.holiday_country,
            "holiday_subdivision": instance.holiday_subdivision,
            "weekly": weekly_labels(weekly),
            "exceptions": [{"date": e.date.isoformat(), "reason": e.reason,
                            "intervals": format_intervals(e.intervals)}
                           for e in instance.exceptions.all()],
            "holidays": [{"date": h.date.isoformat(), "name": h.name, "source": h.source}
                         for h in instance.holidays.all()],
            "updated_at": serializers.DateTimeField().to_representation(instance.updated_at),
        }



class PreviewQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False,
                                      help_text="From this instant (default: now).")
    count = serializers.IntegerField(required=False, min_value=1, max_value=200, default=10)


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="In the calendar's time zone.")
    end = serializers.DateTimeField()
    minutes = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    periods = PeriodSerializer(many=True)
    exhausted = serializers.BooleanField(
        help_text="True when the calendar has no working time for three years after the "
                  "last period: deadlines cannot be computed in it.")


class GenerateHolidaysSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    country = serializers.CharField(max_length=3, required=False,
                                    help_text="Default: the calendar's holiday country.")
    subdivision = serializers.CharField(max_length=10, required=False, allow_blank=True,
                                        help_text="Default: the calendar's region.")


class GeneratedHolidaysSerializer(serializers.Serializer):
    added = HolidaySerializer(many=True)
    calendar = CalendarSerializer()


# --- Agreements -----------------------------------------------------------------------

class ThresholdSerializer(serializers.Serializer):
    percent = serializers.IntegerField(help_text="1 to 100 (100 is the breach).")
    actions = serializers.ListField(child=serializers.ChoiceField(
        choices=ThresholdAction.choices), required=False, default=list)
    reassign_to = serializers.IntegerField(required=False, allow_null=True, default=None,
                                           help_text="Team id, with the reassign action.")
    working_hours_only = serializers.BooleanField(required=False, default=False)


class TargetSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=Metric.choices)
    goal_minutes = serializers.IntegerField(help_text="Business minutes of the calendar.")
    calendar = serializers.IntegerField(help_text="Business calendar id.")
    start_on = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="States (or on_hold:<reason>) that start the timer. Default (empty): "
                  "when the ticket is opened (next update: at the caller's reply).")
    pause_on = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="States (or on_hold:<reason>) that pause the timer. Default: "
                  "on_hold:awaiting_caller, on_hold:awaiting_vendor.")
    stop_on = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="Default (empty): resolved, closed.")
    cancel_on = serializers.ListField(child=serializers.CharField(), required=False,
                                      help_text="Default (empty): cancelled.")
    reset_on = serializers.ListField(child=serializers.CharField(), required=False,
                                     help_text="Fields whose change starts the timer again.")
    thresholds = ThresholdSerializer(many=True, required=False, allow_null=True,
                                     help_text="Default for a new target: 50, 75, 90, 100.")


class AgreementSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=150)
    kind = serializers.ChoiceField(choices=AgreementKind.choices, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    counterpart = serializers.CharField(max_length=150, required=False, allow_blank=True)
    order = serializers.IntegerField(required=False, min_value=0,
                                     help_text="Tried in this order within its kind; "
                                               "default: last.")
    is_active = serializers.BooleanField(required=False)
    ticket_type = serializers.ChoiceField(choices=TicketType.choices, required=False)
    priorities = serializers.ListField(child=serializers.IntegerField(), required=False,
                                       help_text="1 to 4; empty: any.")
    categories = serializers.ListField(child=serializers.IntegerField(), required=False,
                                       help_text="Active category ids; empty: any.")
    services = serializers.ListField(child=serializers.IntegerField(), required=False,
                                     help_text="Business service CI ids; empty: any.")
    assignment_groups = serializers.ListField(child=serializers.IntegerField(),
                                              required=False,
                                              help_text="Active team ids; empty: any.")
    caller_vip = serializers.BooleanField(required=False, allow_null=True,
                                          help_text="null: any caller.")
    caller_departments = serializers.ListField(child=serializers.CharField(),
                                               required=False)
    targets = TargetSerializer(many=True, required=False,
                               help_text="When given on update, these become the targets "
                                         "(a metric left out is removed).")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Agreement) -> dict[str, Any]:
        date_time = serializers.DateTimeField()
        return {
            "id": instance.pk, "name": instance.name, "kind": instance.kind,
            "description": instance.description, "counterpart": instance.counterpart,
            "order": instance.order, "is_active": instance.is_active,
            "ticket_type": instance.ticket_type, "priorities": instance.priorities,
            "categories": [c.pk for c in instance.categories.all()],
            "services": [s.pk for s in instance.services.all()],
            "assignment_groups": [g.pk for g in instance.assignment_groups.all()],
            "caller_vip": instance.caller_vip,
            "caller_departments": instance.caller_departments,
            "targets": [{
                "metric": t.metric, "goal_minutes": t.goal_minutes, "calendar": t.calendar_id,
                "start_on": t.start_on, "pause_on": t.pause_on, "stop_on": t.stop_on,
                "cancel_on": t.cancel_on, "reset_on": t.reset_on,
                "thresholds": [{"percent": h.percent, "actions": h.actions,
                                "reassign_to": h.reassign_to_id,
                                "working_hours_only": h.working_hours_only}
                               for h in t.thresholds.all()],
            } for t in instance.targets.all()],
            "created_at": date_time.to_representation(instance.created_at),
            "updated_at": date_time.to_representation(instance.updated_at),
        }


class MoveSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=[("up", "up"), ("down", "down")])
