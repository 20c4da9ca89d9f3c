"""Desk forms of the fleet. They only shape the input; the services decide, and their
refusals are shown at the field they name (``itsm.forms.add_domain_error``)."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Team

from .models import QueryKind

MOMENT_FORMAT = "%Y-%m-%dT%H:%M"
SECRET_DAYS = 7


class LiveQueryForm(forms.Form):
    """A built-in question and its parameters; which ones it needs is the service's
    call (``fleet.live.clean_params``), so all three are optional here."""

    kind = forms.ChoiceField(label=_("Question"), choices=QueryKind.choices)
    name = forms.CharField(
        label=_("Process, service or package name"), required=False, max_length=300,
        help_text=_("For processes, services and packages, e.g. sshd, nginx.service, "
                    "openssl."))
    version = forms.CharField(label=_("Version"), required=False, max_length=100,
                              help_text=_("For packages: devices with an older version."))
    # Text, not a number field: the service checks the range and says why.
    percent = forms.CharField(label=_("Disk full above (%)"), required=False, max_length=10,
                              help_text=_("For disks: 1 to 100."))

    def params(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name].strip() for name in ("name", "version", "percent")
                if self.cleaned_data.get(name, "").strip()}


def _tag_names(value: str) -> list[str]:
    return [name for name in re.split(r"[,\s]+", value or "") if name]


class EnrolmentGroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    owner_team = forms.ModelChoiceField(
        label=_("Owner team"), queryset=Team.objects.order_by("name"), required=False,
        empty_label="—", help_text=_("New devices of this group are owned by this team."))
    tags = forms.CharField(label=_("Tags"), required=False, max_length=500,
                           help_text=_("Given to every device enrolled in this group. "
                                       "Separate tags with commas or spaces."))

    def tag_names(self) -> list[str]:
        return _tag_names(self.cleaned_data.get("tags", ""))


def _default_expiry() -> datetime.datetime:
    moment = timezone.localtime() + datetime.timedelta(days=SECRET_DAYS)
    return moment.replace(second=0, microsecond=0)


class EnrolmentSecretForm(forms.Form):
    name = forms.CharField(label=_("Label"), max_length=100, required=False,
                           help_text=_("What it is for, e.g. “London rollout, June”."))
    expires_at = forms.DateTimeField(
        label=_("Expires"), initial=_default_expiry,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT))
    max_uses = forms.IntegerField(label=_("Use limit"), required=False,
                                  help_text=_("How many devices may enrol with it. Empty: no "
                                              "limit until it expires."))
