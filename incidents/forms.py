"""Desk forms of incident management. They only collect values: the services decide what
is valid, and their refusals are shown at the field they name (``add_domain_error``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField
from accounts.models import Team
from cmdb.models import ConfigurationItem
from tickets.models import Priority

from .models import Category, Channel, HoldReason, Impact, IncidentState, ResolutionCode, Urgency


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        return obj.name


class IncidentForm(forms.Form):
    """Log an incident for a caller."""

    requester = PersonChoiceField(label=_("Caller"))
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 5}))
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices,
                                initial=Channel.PHONE)
    category = CategoryChoiceField(
        label=_("Category"), required=False,
        queryset=Category.objects.filter(parent__isnull=True, is_active=True))
    subcategory = forms.ModelChoiceField(
        label=_("Subcategory"), required=False,
        queryset=Category.objects.filter(parent__isnull=False, is_active=True)
        .select_related("parent"))
    service = forms.ModelChoiceField(
        label=_("Affected service"), required=False,
        queryset=ConfigurationItem.objects.filter(ci_class__is_service=True).order_by("name"))
    ci = forms.ModelChoiceField(
        label=_("Configuration item"), required=False,
        queryset=ConfigurationItem.objects.filter(ci_class__is_service=False).order_by("name"))
    impact = forms.TypedChoiceField(label=_("Impact"), choices=Impact.choices, coerce=int,
                                    initial=Impact.LOW)
    urgency = forms.TypedChoiceField(label=_("Urgency"), choices=Urgency.choices, coerce=int,
                                     initial=Urgency.LOW)

    def service_values(self) -> dict[str, Any]:
        """The cleaned values as ``incident_create`` takes them (empty ones left out)."""
        data = dict(self.cleaned_data)
        return {key: value for key, value in data.items() if value not in (None, "")}


class TransitionForm(forms.Form):
    """A move along the lifecycle, with the values some moves need."""

    to_state = forms.ChoiceField(choices=IncidentState.choices, widget=forms.HiddenInput)
    resolution_code = forms.ChoiceField(label=_("Resolution code"), required=False,
                                        choices=[("", "—"), *ResolutionCode.choices])
    resolution_notes = forms.CharField(label=_("Resolution notes"), required=False,
                                       widget=forms.Textarea(attrs={"rows": 3}))
    hold_reason = forms.ChoiceField(label=_("On hold because"), required=False,
                                    choices=[("", "—"), *HoldReason.choices])
    note = forms.CharField(label=_("Note"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))

    # Which values go with which move (the service's guards check them).
    VALUES_FOR = {
        IncidentState.RESOLVED: ("resolution_code", "resolution_notes"),
        IncidentState.ON_HOLD: ("hold_reason",),
    }

    def values(self) -> dict[str, Any]:
        names = self.VALUES_FOR.get(self.cleaned_data["to_state"], ())
        return {name: self.cleaned_data[name] for name in names}


class RespondForm(forms.Form):
    KIND_CHOICES = (("comment", _("Comment (the caller sees it)")),
                    ("work_note", _("Work note (desk only)")))

    kind = forms.ChoiceField(label=_("Kind"), choices=KIND_CHOICES, initial="comment",
                             widget=forms.RadioSelect)
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}),
                           required=False)


class AssignForm(forms.Form):
    """Group and, optionally, a person in it (the drop-down lists the group's members)."""

    group = forms.ModelChoiceField(label=_("Assignment group"), queryset=Team.objects.all())
    assignee = PersonChoiceField(label=_("Assignee"), required=False)

    def __init__(self, *args: Any, group: Team | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        if group is not None:
            field.queryset = field.queryset.filter(team_memberships__team=group)
        else:
            field.queryset = field.queryset.none()
            field.help_text = _("Choose a group first.")


class PriorityOverrideForm(forms.Form):
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int)
    priority_override_reason = forms.CharField(label=_("Reason"), max_length=300)


class EscalateForm(forms.Form):
    """Hierarchical escalation: only the reason; the service decides the level and who is
    told (and says when the reason is missing)."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Why it needs someone further up, e.g. “No progress "
                                         "for 2 hours and the payroll run is tomorrow”."))
