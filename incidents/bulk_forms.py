"""The bulk-action form of the incident queue. It only collects the action and its
values; ``incidents.bulk`` decides what is valid, per batch and per incident."""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField
from accounts.models import Team
from accounts.selectors import team_roster
from itsm.widgets import LazyChoices, QuickSelect

from .bulk import bulk_targets
from .forms import TransitionForm, person_label
from .models import HoldReason, Incident, ResolutionCode

ASSIGN, TRANSITION, LINK_PARENT = "assign", "transition", "link_parent"
ACTIONS = ((ASSIGN, _("Assign")), (TRANSITION, _("Change state")),
           (LINK_PARENT, _("Link to parent")))


def assignee_choices(group: Team | None = None) -> list[tuple[Any, Any]]:
    """The assignee drop-down: the group's members, or with no group chosen everyone in
    a team, grouped by team (without JavaScript; with it, choosing the group reloads the
    list). The service checks the person is in the group either way. From the roster
    kept in memory (``accounts.selectors.team_roster``): every queue page shows it."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for entry in team_roster():
        if group is None or entry.team_id == group.pk:
            groups.setdefault(entry.team_name, []).append(
                (entry.user_id, person_label(entry.username, entry.name)))
    if group is not None:
        return [("", "—"), *(choice for members in groups.values() for choice in members)]
    return [("", "—"), *groups.items()]


class BulkForm(forms.Form):
    """The selected incidents (the queue's row checkboxes), the action (the button
    pressed) and the values that action needs."""

    incidents = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    action = forms.ChoiceField(choices=ACTIONS)
    return_query = forms.CharField(required=False, widget=forms.HiddenInput)
    # Assign
    group = forms.ModelChoiceField(label=_("Assignment group"), required=False,
                                   queryset=Team.objects.filter(is_active=True).order_by("name"),
                                   widget=QuickSelect)
    assignee = PersonChoiceField(label=_("Assignee (optional)"), required=False,
                                 widget=QuickSelect)
    # Change state
    to_state = forms.ChoiceField(label=_("New state"), required=False, widget=QuickSelect)
    resolution_code = forms.ChoiceField(label=_("Resolution code"), required=False,
                                        choices=[("", "—"), *ResolutionCode.choices],
                                        help_text=_("Needed to resolve."), widget=QuickSelect)
    resolution_notes = forms.CharField(label=_("Resolution notes"), required=False,
                                       widget=forms.Textarea(attrs={"rows": 2}),
                                       help_text=_("Needed to resolve."))
    hold_reason = forms.ChoiceField(label=_("On hold because"), required=False,
                                    choices=[("", "—"), *HoldReason.choices],
                                    help_text=_("Needed to put on hold."), widget=QuickSelect)
    note = forms.CharField(label=_("Note"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))
    # Link to parent
    parent = forms.CharField(label=_("Parent incident"), required=False, max_length=30,
                             help_text=_("Its number, e.g. INC0001042."))

    def __init__(self, *args: Any, teams: list[tuple[int, str]] | None = None,
                 **kwargs: Any) -> None:
        """``teams``: the active teams' (id, name) by name, when the page has read them
        already (the queue reads the teams once for its filter bar, rows and this form)."""
        kwargs.setdefault("auto_id", "bulk_%s")  # the filter form shares the page
        super().__init__(*args, **kwargs)
        self.fields["to_state"].choices = [("", "—"), *bulk_targets()]
        group = None
        if self.is_bound and str(self.data.get("group", "")).isdigit():
            group = Team.objects.filter(pk=self.data["group"]).first()
        # Read when shown (not after a successful action), and as given: Django would
        # normalise the few hundred options again on every assignment.
        self.fields["assignee"].widget.choices = LazyChoices(lambda: assignee_choices(group))
        field = self.fields["group"]
        known = teams
        # Not the field's own choices: they read the teams again, through a server-side
        # cursor on PostgreSQL (three round trips).
        field.widget.choices = LazyChoices(lambda: [
            ("", field.empty_label),
            *(known if known is not None else field.queryset.values_list("pk", "name"))])
        field.widget.attrs.update({
            "hx-get": reverse("incidents:group_members"),
            "hx-target": f"#{self.auto_id % 'assignee'}", "hx-swap": "innerHTML"})

    def clean_incidents(self) -> list[str]:
        return [value for value in self.data.getlist("incidents") if value]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        if action == ASSIGN and not data.get("group"):
            self.add_error("group", _("Choose the group to assign to."))
        if action == TRANSITION and not data.get("to_state"):
            self.add_error("to_state", _("Choose the state to move to."))
        if action == LINK_PARENT:
            number = (data.get("parent") or "").strip()
            if not number:
                self.add_error("parent", _("Enter the parent incident's number."))
            else:
                data["parent"] = Incident.objects.filter(number__iexact=number).first()
                if data["parent"] is None:
                    self.add_error("parent", _("There is no incident %(number)s.")
                                   % {"number": number})
        return data

    def values(self) -> dict[str, Any]:
        """The values the chosen move needs (as the single move's form sends them)."""
        names = TransitionForm.VALUES_FOR.get(self.cleaned_data["to_state"], ())
        return {name: self.cleaned_data[name] for name in names}

    def selected(self) -> set[int]:
        """The ticked incidents, to tick them again when the form is shown back."""
        return {int(v) for v in self.data.getlist("incidents") if str(v).isdigit()}

