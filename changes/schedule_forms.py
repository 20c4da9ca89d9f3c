"""Desk forms of the schedule: a window (its times typed in the window's own time zone),
the calendar's view and filters, and the conflicts preview. They shape the input; the
services decide, and their refusals are shown at the field they name."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cmdb.pickers import CIPickerField
from itsm.widgets import QuickSelect

from .models import Recurrence, ScheduleWindow, WindowKind
from .schedule_filtersets import ScheduleFilterForm

MOMENT_FORMAT = "%Y-%m-%dT%H:%M"
INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
WINDOW_FIELDS = ("kind", "name", "ci", "starts_at", "ends_at", "timezone", "recurrence",
                 "repeat_until", "reason", "is_active")


@lru_cache(maxsize=1)
def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())
            if "/" in name or name == "UTC"]


class WallClockField(forms.DateTimeField):
    """A date and time as typed, without a time zone: the form reads it in the time zone
    chosen beside it (Django's field would read it in the viewer's zone)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT)

    def to_python(self, value: Any) -> dt.datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)
        text = str(value).strip()
        for pattern in INPUT_FORMATS:
            try:
                return dt.datetime.strptime(text, pattern)  # noqa: DTZ007 (wall clock)
            except ValueError:
                continue
        raise forms.ValidationError(_("Enter a date and time."), code="invalid")

    def prepare_value(self, value: Any) -> Any:
        return value


def _exists(local: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    aware = local.replace(tzinfo=zone)
    return aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == local


class WindowForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=WindowKind.choices)
    name = forms.CharField(label=_("Name"), max_length=200)
    ci = CIPickerField(kind="any", label=_("CI or service"), required=False,
                       help_text=_("Required for a maintenance window. For a freeze: empty "
                                   "freezes everything; a service freezes it and what it "
                                   "depends on."))
    starts_at = WallClockField(label=_("Starts"))
    ends_at = WallClockField(label=_("Ends"))
    timezone = forms.ChoiceField(label=_("Time zone"), choices=zone_choices, widget=QuickSelect,
                                 help_text=_("The times above are in this zone; repeats "
                                             "keep the local time across daylight saving."))
    recurrence = forms.ChoiceField(label=_("Repeats"), choices=Recurrence.choices,
                                   initial=Recurrence.NONE)
    repeat_until = forms.DateField(label=_("Repeats until"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}),
                                   help_text=_("The last day it starts on. Empty: for ever."))
    reason = forms.CharField(label=_("Reason"), required=False,
                             widget=forms.Textarea(attrs={"rows": 3}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    @classmethod
    def initial_for(cls, window: ScheduleWindow) -> dict[str, Any]:
        zone = zoneinfo.ZoneInfo(window.timezone)
        initial = {name: getattr(window, name) for name in WINDOW_FIELDS}
        for name in ("starts_at", "ends_at"):
            initial[name] = getattr(window, name).astimezone(zone).strftime(MOMENT_FORMAT)
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("timezone")
        if not name:
            return data
        zone = zoneinfo.ZoneInfo(name)
        for field in ("starts_at", "ends_at"):
            local = data.get(field)
            if local is None:
                continue
            if not _exists(local, zone):
                self.add_error(field, _("%(time)s does not exist in %(zone)s (the clocks go "
                                        "forward then).") % {
                    "time": local.strftime("%Y-%m-%d %H:%M"), "zone": name})
                continue
            data[field] = local.replace(tzinfo=zone)
        return data

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in WINDOW_FIELDS}


class CalendarForm(ScheduleFilterForm):
    view = forms.ChoiceField(choices=[("month", _("Month")), ("week", _("Week"))],
                             required=False, label=_("View"))
    date = forms.DateField(required=False, label=_("Date"),
                           widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("start", "end"):  # the calendar's range comes from view and date
            self.fields[name].widget = forms.HiddenInput()


class ConflictPreviewForm(forms.Form):
    planned_start = forms.DateTimeField(
        label=_("Planned start"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT))
    planned_end = forms.DateTimeField(
        label=_("Planned end"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", _("The planned end must be after the planned start."))
        return data
