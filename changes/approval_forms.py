"""Desk and portal forms for approvals, policies and CAB meetings. They collect values;
the services in :mod:`changes.approvals` and :mod:`changes.cab` decide what is valid
(their refusals are shown at the field they name)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField
from accounts.models import Team

from . import approval_selectors as selectors
from .models import (
    ApprovalPolicy,
    ApprovalRule,
    CabDecision,
    Change,
    ChangeType,
    RiskLevel,
)

User = get_user_model()


class VoteForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[
        ("approve", _("Approve")), ("reject", _("Reject")),
        ("info", _("Ask for information"))], widget=forms.HiddenInput)
    comment = forms.CharField(label=_("Comment"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=_("Required to reject or to ask for information."))


class OverrideForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[
        ("approve", _("Approve regardless of the votes")),
        ("reject", _("Reject regardless of the votes"))], widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Reason"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))


class ProvideInfoForm(forms.Form):
    body = forms.CharField(label=_("Information for the approvers"), max_length=5000,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Added as a public comment on the change."))


class PeopleField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user: Any) -> str:
        name = selectors.display_name(user)
        return f"{name} ({user.username})" if name != user.username else name


class PolicyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    order = forms.IntegerField(label=_("Order"), min_value=0, initial=100,
                               help_text=_("Policies are tried in this order; the first "
                                           "that matches decides."))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    change_types = forms.MultipleChoiceField(
        label=_("Change types"), required=False, choices=ChangeType.choices,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: every type."))
    risk_levels = forms.MultipleChoiceField(
        label=_("Risk levels"), required=False, choices=RiskLevel.choices,
        widget=forms.CheckboxSelectMultiple, help_text=_("None ticked: every level."))
    rule = forms.ChoiceField(label=_("Rule"), choices=ApprovalRule.choices)
    required_count = forms.IntegerField(label=_("Approvals needed (N of M)"), required=False,
                                        min_value=0,
                                        help_text=_("Only for the N of M rule."))
    groups = forms.ModelMultipleChoiceField(
        label=_("Approving teams"), required=False,
        queryset=Team.objects.filter(is_active=True).order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Their active members when a round starts."))
    people = PeopleField(
        label=_("Approving people"), required=False,
        queryset=User.objects.filter(is_active=True).select_related("profile")
        .order_by("first_name", "last_name", "username"),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Business approvers without desk access decide on the portal."))
    cab = forms.BooleanField(label=_("Decided at a CAB meeting"), required=False)
    allow_retrospective = forms.BooleanField(
        label=_("Emergency changes may be approved after the fact"), required=False)

    @classmethod
    def initial_for(cls, policy: ApprovalPolicy) -> dict[str, Any]:
        return {"name": policy.name, "order": policy.order, "is_active": policy.is_active,
                "change_types": policy.change_types, "risk_levels": policy.risk_levels,
                "rule": policy.rule, "required_count": policy.required_count,
                "groups": list(policy.groups.all()), "people": list(policy.people.all()),
                "cab": policy.cab, "allow_retrospective": policy.allow_retrospective}


class CabMeetingForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, initial=_("CAB"))
    starts_at = forms.DateTimeField(label=_("Starts"), widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label=_("Ends"), widget=forms.DateTimeInput(
        attrs={"type": "datetime-local"}))
    location = forms.CharField(label=_("Where"), max_length=200, required=False)
    agenda_from = forms.DateTimeField(label=_("Changes planned from"),
                                      widget=forms.DateTimeInput(
                                          attrs={"type": "datetime-local"}))
    agenda_to = forms.DateTimeField(label=_("Changes planned until"),
                                    widget=forms.DateTimeInput(
                                        attrs={"type": "datetime-local"}))
    chair = PersonChoiceField(label=_("Chair"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["chair"].queryset = selectors.holders("changes.approve_change")


class CabItemAddForm(forms.Form):
    change = forms.CharField(label=_("Change number"), max_length=20,
                             widget=forms.TextInput(attrs={"placeholder": "CHG0001234",
                                                           "autocomplete": "off"}))

    def clean_change(self) -> Change:
        number = self.cleaned_data["change"].strip()
        change = Change.objects.filter(number__iexact=number).first()
        if change is None:
            raise forms.ValidationError(_("There is no change %(number)s."),
                                        params={"number": number}, code="unknown")
        return change


class CabDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=[
        (value, label) for value, label in CabDecision.choices
        if value != CabDecision.PENDING])
    notes = forms.CharField(label=_("Notes"), required=False, max_length=5000,
                            widget=forms.Textarea(attrs={"rows": 2}))


class MinutesForm(forms.Form):
    minutes = forms.CharField(label=_("Minutes"), required=False,
                              widget=forms.Textarea(attrs={"rows": 16}))
