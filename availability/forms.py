"""Desk forms of the availability app. They only shape the input; the services decide
(and their refusals are shown at the field they name)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .calculations import parse_month
from .services import DESCRIPTION_MAX, REASON_MAX

MOMENT_FORMAT = "%Y-%m-%dT%H:%M"


def _moment(label: str, *, required: bool = True, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, required=required, help_text=help_text,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT))


class OutageForm(forms.Form):
    started_at = _moment(_("Start"))
    ended_at = _moment(_("End"), required=False,
                       help_text=_("Leave empty while the outage goes on."))
    description = forms.CharField(label=_("Description"), required=False,
                                  max_length=DESCRIPTION_MAX,
                                  widget=forms.Textarea(attrs={"rows": 3}))


class MaintenanceWindowForm(forms.Form):
    starts_at = _moment(_("Start"))
    ends_at = _moment(_("End"))
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX)


class TargetForm(forms.Form):
    # Text, not a number field: the service checks the range and says why.
    target_percent = forms.CharField(
        label=_("Availability target (%)"), required=False, max_length=20,
        help_text=_("Share of agreed time (outside maintenance) the service is up each "
                    "month, for example 99.5. Empty removes the target."))


class MonthForm(forms.Form):
    month = forms.CharField(label=_("Month"), required=False,
                            widget=forms.TextInput(attrs={"type": "month"}))

    def clean_month(self) -> tuple[int, int] | None:
        value = (self.cleaned_data.get("month") or "").strip()
        if not value:
            return None
        month = parse_month(value)
        if month is None:
            raise forms.ValidationError(_("Enter a month as YYYY-MM."))
        return month
