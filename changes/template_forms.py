"""Desk forms of the standard change catalogue: a template with its first draft, a draft
version's content, and using an approved template for a standard change. The services
decide (one draft at a time, approved versions never change, a template's CI classes)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from cmdb.models import CIClass

from .forms import AssignmentMixin, CIsPickerField, moment
from .models import (
    ChangeCategory,
    ChangeImpact,
    ChangeTemplate,
    ChangeTemplateVersion,
    RiskLevel,
)
from .services import TEMPLATE_VERSION_FIELDS


class TemplateVersionForm(forms.Form):
    """The content of a draft version."""

    title = forms.CharField(label=_("Change title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    category = forms.ModelChoiceField(label=_("Category"), required=False, empty_label="—",
                                      queryset=ChangeCategory.objects.filter(is_active=True))
    implementation_plan = forms.CharField(label=_("Implementation plan"),
                                          widget=forms.Textarea(attrs={"rows": 5}))
    backout_plan = forms.CharField(label=_("Backout plan"),
                                   widget=forms.Textarea(attrs={"rows": 4}))
    test_plan = forms.CharField(label=_("Test plan"), required=False,
                                widget=forms.Textarea(attrs={"rows": 3}))
    risk = forms.ChoiceField(label=_("Risk"), choices=RiskLevel.choices,
                             initial=RiskLevel.LOW)
    impact = forms.TypedChoiceField(label=_("Impact"), choices=ChangeImpact.choices,
                                    coerce=int, initial=ChangeImpact.LOW)
    expected_minutes = forms.IntegerField(label=_("Expected duration (minutes)"),
                                          min_value=1, initial=60)
    outage_expected = forms.BooleanField(label=_("An outage is expected"), required=False)
    allowed_ci_classes = forms.ModelMultipleChoiceField(
        label=_("Allowed CI classes"), required=False,
        queryset=CIClass.objects.order_by("name"), widget=forms.CheckboxSelectMultiple,
        help_text=_("Changes from this template may touch only CIs of these classes "
                    "(any class when none is ticked)."))
    remediation_action = forms.CharField(
        label=_("Remediation action it authorises"), required=False, max_length=100,
        help_text=_("The action's name in the remediation library (optional)."))

    VERSION_FIELDS = (*TEMPLATE_VERSION_FIELDS, "allowed_ci_classes")

    @classmethod
    def initial_from(cls, version: ChangeTemplateVersion) -> dict[str, Any]:
        initial = {name: getattr(version, name) for name in TEMPLATE_VERSION_FIELDS}
        initial["allowed_ci_classes"] = list(version.allowed_ci_classes.all())
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("description", "implementation_plan", "backout_plan", "test_plan"):
            if isinstance(data.get(name), str):
                data[name] = data[name].replace("\r\n", "\n")
        return data

    def version_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.VERSION_FIELDS
                if name in self.cleaned_data}


class TemplateCreateForm(TemplateVersionForm):
    """A new template and its first draft."""

    name = forms.CharField(label=_("Template name"), max_length=200)
    template_description = forms.CharField(
        label=_("What the template is for"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}))
    owner_team = forms.ModelChoiceField(label=_("Owner team"), required=False,
                                        queryset=Team.objects.filter(is_active=True))

    field_order = ("name", "template_description", "owner_team")


class TemplateUseForm(AssignmentMixin):
    """A standard change from the template's approved version: its CIs (of the classes
    it allows), when, and who does it. Optionally scheduled at once."""

    title = forms.CharField(label=_("Title"), max_length=200, required=False,
                            help_text=_("Leave empty for the template's title."))
    planned_start = moment(_("Planned start"), required=True)
    planned_end = moment(_("Planned end"), help_text=_(
        "Leave empty: the template's expected duration is added to the start."))
    schedule = forms.BooleanField(
        label=_("Schedule it now"), required=False, initial=True,
        help_text=_("A standard change needs no approval: it can go straight to "
                    "Scheduled."))

    field_order = ("title", "cis", "planned_start", "planned_end", "assignment_group",
                   "assignee", "schedule")

    def __init__(self, *args: Any, template: ChangeTemplate,
                 version: ChangeTemplateVersion, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        classes = list(version.allowed_ci_classes.all())
        class_ids = [c.pk for c in classes]
        help_text = (_("Only %(classes)s: the template allows no other class.")
                     % {"classes": ", ".join(c.name for c in classes)} if classes
                     else _("Any class."))
        self.fields["cis"] = CIsPickerField(
            kind=None, label=_("Configuration items"), required=False,
            help_text=help_text,
            allowed=(lambda: Q(ci_class_id__in=class_ids)) if classes else None,
            lookup_url=reverse("changes:template_ci_lookup", kwargs={"pk": template.pk}))
        self.order_fields(self.field_order)
        self.fields["title"].widget.attrs["placeholder"] = version.title
        self._setup_assignment()

    def service_values(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items()
                if name != "schedule" and value not in (None, "")}
