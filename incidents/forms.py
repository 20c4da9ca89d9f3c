"""Desk forms of incident management. They only collect values: the services decide what
is valid, and their refusals are shown at the field they name (``add_domain_error``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField
from accounts.models import Team
from cmdb.pickers import CI, SERVICE, CIPickerField
from desk.pickers import PersonPickerField
from itsm.widgets import LazyChoices, QuickSelect
from tickets.models import Priority

from .models import (
    Category,
    Channel,
    HoldReason,
    Impact,
    Incident,
    IncidentState,
    ResolutionCode,
    Urgency,
)


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        return obj.name


def subcategory_choices(category_id: int | None) -> list[tuple[Any, Any]]:
    """The subcategory drop-down's options: the chosen category's subcategories, or with
    none chosen every subcategory grouped under its category (so the form works without
    JavaScript; with it, choosing a category reloads this list)."""
    subcategories = (Category.objects.filter(parent__isnull=False, is_active=True)
                     .select_related("parent")
                     .order_by("parent__order", "parent__name", "order", "name"))
    if category_id:
        return [("", "—"), *((sub.pk, sub.name) for sub in subcategories.filter(
            parent_id=category_id))]
    groups: dict[str, list[tuple[int, str]]] = {}
    for sub in subcategories:
        groups.setdefault(sub.parent.name, []).append((sub.pk, sub.name))
    return [("", "—"), *groups.items()]


class IncidentForm(forms.Form):
    """Log an incident for a caller. Caller, service and CI are pickers (desk.pickers);
    the subcategory list follows the category."""

    requester = PersonPickerField(label=_("Caller"))
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 5}))
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices,
                                initial=Channel.PHONE)
    category = CategoryChoiceField(
        label=_("Category"), required=False, empty_label="—",
        queryset=Category.objects.filter(parent__isnull=True, is_active=True))
    subcategory = forms.ModelChoiceField(
        label=_("Subcategory"), required=False,
        queryset=Category.objects.filter(parent__isnull=False, is_active=True)
        .select_related("parent"))
    service = CIPickerField(kind=SERVICE, label=_("Affected service"), required=False)
    ci = CIPickerField(kind=CI, label=_("Configuration item"), required=False)
    impact = forms.TypedChoiceField(label=_("Impact"), choices=Impact.choices, coerce=int,
                                    initial=Impact.LOW)
    urgency = forms.TypedChoiceField(label=_("Urgency"), choices=Urgency.choices, coerce=int,
                                     initial=Urgency.LOW)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        subcategory = self.fields["subcategory"]
        # Validation still accepts any subcategory: the service checks the pair.
        subcategory.widget.choices = subcategory_choices(self._chosen_category())
        self.fields["category"].widget.attrs.update({
            "hx-get": reverse("incidents:subcategory_options"),
            "hx-target": f"#{self.auto_id % 'subcategory'}", "hx-swap": "innerHTML"})

    def clean_description(self) -> str:
        # Browsers send a textarea's lines with CRLF: store them as the API does (LF), so
        # an untouched description is not a change.
        return self.cleaned_data["description"].replace("\r\n", "\n")

    def _chosen_category(self) -> int | None:
        if self.is_bound:
            value = self.data.get(self.add_prefix("category"))
        else:
            value = self.initial.get("category", self.fields["category"].initial)
        value = getattr(value, "pk", value)
        return int(value) if str(value or "").isdigit() else None

    def service_values(self) -> dict[str, Any]:
        """The cleaned values as ``incident_create`` takes them (empty ones left out)."""
        data = dict(self.cleaned_data)
        return {key: value for key, value in data.items() if value not in (None, "")}


class IncidentEditForm(IncidentForm):
    """An incident's details, through ``incident_update``: only what differs from the
    incident is sent, so an untouched impact or urgency does not re-read the matrix."""

    cause_ci = CIPickerField(kind=CI, label=_("Cause CI"), required=False,
                             help_text=_("The CI that turned out to cause it."))

    FIELDS = ("title", "description", "requester", "channel", "category", "subcategory",
              "service", "ci", "cause_ci", "impact", "urgency")
    field_order = FIELDS

    def __init__(self, *args: Any, incident: Incident, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "edit_%s")  # it sits on the detail page among others
        kwargs["initial"] = {name: getattr(incident, name) for name in self.FIELDS}
        self.incident = incident
        super().__init__(*args, **kwargs)

    def changes(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items()
                if value != getattr(self.incident, name)}


class IncidentCreateForm(IncidentForm):
    """Log an incident, optionally as the child of a similar open one (chosen in the
    "Possible duplicates" panel; the link rules decide whether it may be)."""

    parent = forms.ModelChoiceField(label=_("Log as a child of"), required=False,
                                    queryset=Incident.objects.all())


class SimilarForm(forms.Form):
    """What the duplicates panel searches with: the form's values as they are typed."""

    title = forms.CharField(required=False, max_length=200)
    description = forms.CharField(required=False)
    service = CIPickerField(kind=SERVICE, required=False)  # read as the form's pickers are
    ci = CIPickerField(kind=CI, required=False)
    parent = forms.ModelChoiceField(required=False, queryset=Incident.objects.all())


class TransitionForm(forms.Form):
    """A move along the lifecycle, with the values some moves need."""

    to_state = forms.ChoiceField(choices=IncidentState.choices, widget=forms.HiddenInput)
    resolution_code = forms.ChoiceField(label=_("Resolution code"), required=False,
                                        choices=[("", "—"), *ResolutionCode.choices],
                                        widget=QuickSelect)
    resolution_notes = forms.CharField(label=_("Resolution notes"), required=False,
                                       widget=forms.Textarea(attrs={"rows": 3}))
    hold_reason = forms.ChoiceField(label=_("On hold because"), required=False,
                                    choices=[("", "—"), *HoldReason.choices],
                                    widget=QuickSelect)
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


def person_label(username: str, name: str) -> str:
    """A person as the desk's person drop-downs show them (``PersonChoiceField``): the
    name with the username, or the username alone."""
    return f"{name} ({username})" if name and name != username else username


def person_choices(people: QuerySet) -> list[tuple[int, str]]:
    """``PersonChoiceField``'s options for these people, read as values: no user or
    profile objects for a drop-down of a few dozen people."""
    rows = people.order_by("first_name", "last_name", "username").values_list(
        "pk", "username", "first_name", "last_name", "profile__display_name")
    # The profile's name: its display name, else the full name (get_full_name()).
    return [(pk, person_label(username, display or f"{first} {last}".strip()))
            for pk, username, first, last, display in rows]


class AssignForm(forms.Form):
    """Group and, optionally, a person in it (the drop-down lists the group's members).
    The drop-downs read their options when shown, as values, in one query each."""

    group = forms.ModelChoiceField(label=_("Assignment group"), queryset=Team.objects.all(),
                                   widget=QuickSelect)
    assignee = PersonChoiceField(label=_("Assignee"), required=False, widget=QuickSelect)

    def __init__(self, *args: Any, group: Team | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        if group is not None:
            field.queryset = field.queryset.filter(team_memberships__team=group)
        else:
            field.queryset = field.queryset.none()
            field.help_text = _("Choose a group first.")
        people, teams = field.queryset, self.fields["group"]
        field.widget.choices = LazyChoices(
            lambda: [*_blank(field), *person_choices(people)])
        teams.widget.choices = LazyChoices(
            lambda: [*_blank(teams), *teams.queryset.values_list("pk", "name")])


def _blank(field: forms.ModelChoiceField) -> list[tuple[str, Any]]:
    """The empty option, where the field's own choices would have one."""
    return [] if field.empty_label is None else [("", field.empty_label)]


class PriorityOverrideForm(forms.Form):
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int,
                                      widget=QuickSelect)
    priority_override_reason = forms.CharField(label=_("Reason"), max_length=300)


class EscalateForm(forms.Form):
    """Hierarchical escalation: only the reason; the service decides the level and who is
    told (and says when the reason is missing)."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Why it needs someone further up, e.g. “No progress "
                                         "for 2 hours and the payroll run is tomorrow”."))
