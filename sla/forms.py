"""Desk forms for agreements and calendars. They only shape the input: ``sla.services``
decides what is valid, and its refusals are placed at the field they name
(``place_error``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from .models import (
    AgreementKind,
    BusinessCalendar,
    Metric,
    ThresholdAction,
    TicketType,
    Weekday,
)
from .services import DAY_KEYS, reset_fields, state_tokens

THRESHOLD_ROWS = 6  # threshold rows offered per target in the desk


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    time_zone = forms.CharField(
        label=_("Time zone"), max_length=64, initial="UTC",
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
        help_text=_("A name from the time zone database, such as Europe/London."))
    holiday_country = forms.CharField(
        label=_("Holiday country"), max_length=3, required=False,
        help_text=_("Two-letter code for generated holidays, such as GB."))
    holiday_subdivision = forms.CharField(
        label=_("Holiday region"), max_length=10, required=False,
        help_text=_("Optional, such as ENG for England."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for day, key in zip(Weekday, DAY_KEYS, strict=True):
            self.fields[key] = forms.CharField(
                label=day.label, required=False, max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "09:00-12:00, 13:00-17:00"}))

    def day_fields(self) -> list[forms.BoundField]:
        return [self[key] for key in DAY_KEYS]

    def main_fields(self) -> list[forms.BoundField]:
        return [self[key] for key in ("name", "description", "time_zone", "holiday_country",
                                      "holiday_subdivision")]

    def values(self) -> tuple[dict[str, Any], dict[str, str]]:
        data = self.cleaned_data
        fields = {key: data[key].strip() for key in ("name", "description", "time_zone",
                                                     "holiday_country",
                                                     "holiday_subdivision")}
        return fields, {key: data[key] for key in DAY_KEYS}

    def add_service_error(self, error: DomainError) -> None:
        """``weekly.monday`` is the Monday field; ``weekly`` is about the whole week."""
        fields = {}
        for name, messages in error.fields.items():
            if name.startswith("weekly."):
                name = name.removeprefix("weekly.")
            elif name == "weekly":
                name = DAY_KEYS[0]
            fields[name] = messages
        add_domain_error(self, DomainError(error.message, fields=fields))


class HolidayForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=_date_widget())
    name = forms.CharField(label=_("Name"), max_length=150)


class GenerateHolidaysForm(forms.Form):
    holiday_country = forms.CharField(label=_("Country"), max_length=3,
                                      help_text=_("Such as GB, FR, US."))
    holiday_subdivision = forms.CharField(label=_("Region"), max_length=10, required=False,
                                          help_text=_("Optional, such as ENG or CA."))
    year = forms.IntegerField(label=_("Year"), min_value=1900, max_value=2200)

    def __init__(self, *args: Any, calendar: BusinessCalendar | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if calendar is not None and not self.is_bound:
            self.initial.setdefault("holiday_country", calendar.holiday_country)
            self.initial.setdefault("holiday_subdivision", calendar.holiday_subdivision)
        self.initial.setdefault("year", timezone.now().year + 1)


class ExceptionForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=_date_widget())
    reason = forms.CharField(label=_("Reason"), max_length=150)
    intervals = forms.CharField(
        label=_("Working hours that day"), required=False, max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "09:00-13:00"}),
        help_text=_("Empty: closed all day."))


class PreviewForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=_date_widget())
    count = forms.IntegerField(label=_("Periods"), required=False, min_value=1,
                               max_value=50, initial=10)


# --- Agreements -----------------------------------------------------------------------

VIP_CHOICES = [("", _("Any caller")), ("yes", _("VIP callers only")),
               ("no", _("Callers who are not VIPs"))]
PRIORITY_CHOICES = [("1", "P1"), ("2", "P2"), ("3", "P3"), ("4", "P4")]


class AgreementForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150)
    kind = forms.ChoiceField(label=_("Kind"), choices=AgreementKind.choices)
    counterpart = forms.CharField(label=_("With"), max_length=150, required=False,
                                  help_text=_("The customer, internal team or vendor."))
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    order = forms.IntegerField(
        label=_("Order"), required=False, min_value=0,
        help_text=_("Agreements of a kind are tried in this order; the first that matches "
                    "applies. Empty: last."))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    ticket_type = forms.ChoiceField(label=_("Ticket type"), choices=TicketType.choices,
                                    initial=TicketType.INCIDENT)
    priorities = forms.MultipleChoiceField(
        label=_("Priorities"), required=False, choices=PRIORITY_CHOICES,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: any priority."))
    categories = forms.ModelMultipleChoiceField(
        label=_("Categories"), required=False, queryset=None,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("None chosen: any category. A subcategory's parent does not match it."))
    services = forms.ModelMultipleChoiceField(
        label=_("Services"), required=False, queryset=None,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("Business services. None chosen: any service."))
    assignment_groups = forms.ModelMultipleChoiceField(
        label=_("Assignment groups"), required=False, queryset=None,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("None chosen: any group."))
    caller_vip = forms.ChoiceField(label=_("Caller"), required=False, choices=VIP_CHOICES)
    caller_departments = forms.CharField(
        label=_("Caller's departments"), required=False, max_length=1000,
        help_text=_("Separated by commas. Empty: any department."))

    CONDITION_FIELDS = ("ticket_type", "priorities", "categories", "services", "assignment_groups",
                        "caller_vip", "caller_departments")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from cmdb.models import ConfigurationItem
        from incidents.models import Category

        self.fields["categories"].queryset = Category.objects.filter(
            is_active=True).select_related("parent").order_by("parent__name", "order", "name")
        self.fields["services"].queryset = ConfigurationItem.objects.filter(
            ci_class__is_service=True).order_by("name")
        self.fields["assignment_groups"].queryset = Team.objects.filter(
            is_active=True).order_by("name")

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        vip = {"yes": True, "no": False}.get(data["caller_vip"])
        values = {
            "name": data["name"].strip(), "kind": data["kind"],
            "ticket_type": data["ticket_type"],
            "counterpart": data["counterpart"].strip(), "description": data["description"],
            "is_active": data["is_active"],
            "priorities": [int(p) for p in data["priorities"]],
            "categories": list(data["categories"]), "services": list(data["services"]),
            "assignment_groups": list(data["assignment_groups"]), "caller_vip": vip,
            "caller_departments": [d.strip() for d in data["caller_departments"].split(",")
                                   if d.strip()],
        }
        if data["order"] is not None:
            values["order"] = data["order"]
        return values

    @classmethod
    def initial_of(cls, agreement: Any) -> dict[str, Any]:
        return {
            "name": agreement.name, "kind": agreement.kind, "counterpart": agreement.counterpart,
            "ticket_type": agreement.ticket_type,
            "description": agreement.description, "order": agreement.order,
            "is_active": agreement.is_active,
            "priorities": [str(p) for p in agreement.priorities or ()],
            "categories": list(agreement.categories.all()),
            "services": list(agreement.services.all()),
            "assignment_groups": list(agreement.assignment_groups.all()),
            "caller_vip": {True: "yes", False: "no"}.get(agreement.caller_vip, ""),
            "caller_departments": ", ".join(agreement.caller_departments or ()),
        }


class TargetForm(forms.Form):
    enabled = forms.BooleanField(label=_("Measure this"), required=False)
    goal_minutes = forms.IntegerField(label=_("Goal (business minutes)"), required=False,
                                      min_value=1)
    calendar = forms.ModelChoiceField(label=_("Calendar"), required=False,
                                      queryset=BusinessCalendar.objects.order_by("name"))
    start_on = forms.MultipleChoiceField(
        label=_("Start when"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: when the ticket is opened (next update: at the caller's "
                    "reply)."))
    pause_on = forms.MultipleChoiceField(label=_("Pause while"), required=False,
                                         widget=forms.CheckboxSelectMultiple)
    stop_on = forms.MultipleChoiceField(
        label=_("Stop when"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: resolved or closed."))
    cancel_on = forms.MultipleChoiceField(
        label=_("Cancel when"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: cancelled."))
    reset_on = forms.MultipleChoiceField(label=_("Start again when these change"),
                                         required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, metric: str, **kwargs: Any) -> None:
        super().__init__(*args, prefix=metric, **kwargs)
        self.metric = Metric(metric)
        tokens = state_tokens()
        for name in ("start_on", "pause_on", "stop_on", "cancel_on"):
            self.fields[name].choices = tokens
        self.fields["reset_on"].choices = reset_fields()
        self.thresholds: list[ThresholdForm] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("enabled"):
            if not data.get("goal_minutes") and "goal_minutes" not in self.errors:
                self.add_error("goal_minutes", _("Give the goal in business minutes."))
            if not data.get("calendar") and "calendar" not in self.errors:
                self.add_error("calendar", _("Choose the calendar it is measured in."))
        return data

    @classmethod
    def initial_of(cls, target: Any) -> dict[str, Any]:
        return {"enabled": True, "goal_minutes": target.goal_minutes,
                "calendar": target.calendar_id, "start_on": target.start_on,
                "pause_on": target.pause_on,
                "stop_on": target.stop_on, "cancel_on": target.cancel_on,
                "reset_on": target.reset_on}


class ThresholdForm(forms.Form):
    percent = forms.IntegerField(label=_("At %"), required=False,
                                 widget=forms.NumberInput(attrs={"class": "input-narrow"}))
    actions = forms.MultipleChoiceField(label=_("Actions"), required=False,
                                        choices=ThresholdAction.choices,
                                        widget=forms.CheckboxSelectMultiple)
    reassign_to = forms.ModelChoiceField(label=_("Reassign to"), required=False,
                                         queryset=Team.objects.filter(is_active=True)
                                         .order_by("name"))
    working_hours_only = forms.BooleanField(label=_("Only in working hours"),
                                            required=False)

    def is_blank(self) -> bool:
        return self.cleaned_data.get("percent") is None

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"percent": data["percent"], "actions": list(data["actions"]),
                "reassign_to": data["reassign_to"],
                "working_hours_only": data["working_hours_only"]}

