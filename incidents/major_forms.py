"""Desk forms for major incidents and their reviews. They collect values; the services in
:mod:`incidents.major` decide what is valid (refusals are shown at the field they name)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField

from . import major_selectors
from .models import Incident


class DeclareMajorForm(forms.Form):
    manager = PersonChoiceField(label=_("Major incident manager"),
                                help_text=_("People with the incident manager role."))
    reason = forms.CharField(label=_("Why is it major?"), max_length=300,
                             widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = major_selectors.major_managers()


class StandDownForm(forms.Form):
    reason = forms.CharField(label=_("Why does it stand down?"), max_length=300,
                             widget=forms.Textarea(attrs={"rows": 2}))


class StakeholderUpdateForm(forms.Form):
    body = forms.CharField(
        label=_("Update for stakeholders"), max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Public: subscribers, the callers of linked incidents and the portal "
                    "banner show it. Say what is affected, what is being done and when the "
                    "next update comes."))


class LinkParentForm(forms.Form):
    parent = forms.CharField(label=_("Parent incident number"), max_length=20,
                             widget=forms.TextInput(attrs={"placeholder": "INC0001234",
                                                           "autocomplete": "off"}))

    def clean_parent(self) -> Incident:
        number = self.cleaned_data["parent"].strip()
        parent = Incident.objects.filter(number__iexact=number).first()
        if parent is None:
            raise forms.ValidationError(_("There is no incident %(number)s."),
                                        params={"number": number}, code="unknown")
        return parent


class ReviewForm(forms.Form):
    summary = forms.CharField(label=_("Summary"), required=False,
                              widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=_("What happened and what it meant for the business."))
    root_cause = forms.CharField(label=_("Root cause"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    lessons = forms.CharField(label=_("What went well, what to improve"), required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))


class ReviewActionForm(forms.Form):
    description = forms.CharField(label=_("Action"), max_length=300)
    owner = PersonChoiceField(label=_("Owner"), required=False)
    due_on = forms.DateField(label=_("Due"), required=False,
                             widget=forms.DateInput(attrs={"type": "date"}))
