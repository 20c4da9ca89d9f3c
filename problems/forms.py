"""Desk forms of problem management. Pickers are the desk's (people, CIs, incidents);
the permanent-fix change has a picker of its own (``problems:change_lookup``)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from changes.forms import (
    AssignmentMixin,
    CIsPickerField,
    CommentForm,
    IncidentPickerField,
    MultiPickerField,
)
from changes.models import Change
from cmdb.pickers import CI, SERVICE, CIPickerField
from desk.pickers import PersonPickerField, PickerField
from incidents.models import Category
from tickets.models import Priority

from .models import MAX_WHYS, CauseCategory, Problem, ProblemState

__all__ = ["CommentForm", "ProblemEditForm", "ProblemForm"]

_CHANGE_NUMBER = re.compile(r"^\s*(CHG\d+)\b", re.IGNORECASE)


def change_token(change: Change) -> str:
    return f"{change.number} {change.title}"


class ChangePickerField(PickerField):
    """A change by number (or its exact title), suggested from ``problems:change_lookup``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", _("Type its number or part of its title and pick "
                                         "from the suggestions."))
        super().__init__(lookup_url_name="problems:change_lookup", **kwargs)

    def token(self, obj: Any) -> str:
        return change_token(obj)

    def from_key(self, key: Any) -> Any | None:
        return Change.objects.filter(pk=key).first()

    def resolve(self, text: str) -> Any:
        match = _CHANGE_NUMBER.match(text)
        if match:
            found = Change.objects.filter(number=match.group(1).upper()).first()
            if found is not None:
                return found
            raise ValidationError(_("There is no change %(number)s."), code="no_match",
                                  params={"number": match.group(1).upper()})
        named = list(Change.objects.filter(title__iexact=text)[:6])
        if len(named) == 1:
            return named[0]
        raise ValidationError(_("Type the change's number (CHG…) or pick it from the "
                                "suggestions."), code="no_match")


def _categories() -> Any:
    return Category.objects.filter(is_active=True, parent__isnull=True)


class ProblemForm(AssignmentMixin):
    """A new problem: the statement, where it shows, who works it, its incidents."""

    title = forms.CharField(label=_("Problem statement"), max_length=200,
                            help_text=_("What goes wrong, in one line."))
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 4}),
                                  help_text=_("Symptoms, scope, since when."))
    category = forms.ModelChoiceField(label=_("Category"), required=False, empty_label="—",
                                      queryset=Category.objects.none())
    priority = forms.TypedChoiceField(label=_("Priority"), coerce=int, required=False,
                                      empty_value=None,
                                      choices=[("", _("From the incidents")),
                                               *Priority.choices])
    services = CIsPickerField(kind=SERVICE, label=_("Affected services"), required=False)
    cis = CIsPickerField(kind=CI, label=_("Affected configuration items"), required=False)
    incidents = MultiPickerField(IncidentPickerField(), label=_("Linked incidents"),
                                 required=False)
    requester = PersonPickerField(label=_("Raised by"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = _categories()
        self._setup_assignment()

    def service_values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        return {key: value for key, value in data.items()
                if value not in (None, "") or key in ("services", "cis", "incidents")}


class ProblemEditForm(AssignmentMixin):
    """An open problem's statement, assignment, analysis and fix."""

    EDITED = ("title", "description", "category", "priority", "assignment_group",
              "assignee", "services", "cis", "root_cause", "cause_category", "cause_ci",
              "cause_not_found", "cause_not_found_reason", "workaround", "fix_change",
              "resolution")

    title = forms.CharField(label=_("Problem statement"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    category = forms.ModelChoiceField(label=_("Category"), required=False, empty_label="—",
                                      queryset=Category.objects.none())
    priority = forms.TypedChoiceField(label=_("Priority"), coerce=int,
                                      choices=Priority.choices)
    services = CIsPickerField(kind=SERVICE, label=_("Affected services"), required=False)
    cis = CIsPickerField(kind=CI, label=_("Affected configuration items"), required=False)
    root_cause = forms.CharField(label=_("Root cause"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    cause_category = forms.ChoiceField(label=_("Cause category"), required=False,
                                       choices=[("", "—"), *CauseCategory.choices])
    cause_ci = CIPickerField(kind="", label=_("Cause CI"), required=False)
    cause_not_found = forms.BooleanField(label=_("The root cause could not be found"),
                                         required=False)
    cause_not_found_reason = forms.CharField(
        label=_("Why the cause was not found"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}))
    workaround = forms.CharField(label=_("Workaround"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text=_("What callers or the desk can do until the fix."))
    fix_change = ChangePickerField(label=_("Permanent fix (change)"), required=False)
    resolution = forms.CharField(label=_("Resolution"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, problem: Problem, **kwargs: Any) -> None:
        self.problem = problem
        initial = {name: getattr(problem, name) for name in self.EDITED
                   if name not in ("services", "cis")}
        initial["services"] = list(problem.services.all())
        initial["cis"] = list(problem.cis.all())
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = _categories()
        self._setup_assignment()

    def changes(self) -> dict[str, Any]:
        """Only what was changed, so the audit names only that."""
        return {name: self.cleaned_data[name] for name in self.changed_data
                if name in self.EDITED}


class TransitionForm(forms.Form):
    to_state = forms.ChoiceField(choices=ProblemState.choices, widget=forms.HiddenInput)
    note = forms.CharField(label=_("Note"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class ResolveForm(forms.Form):
    resolution = forms.CharField(label=_("Resolution"),
                                 widget=forms.Textarea(attrs={"rows": 3}),
                                 help_text=_("How the problem was fixed for good."))
    resolve_incidents = forms.BooleanField(label=_("Also resolve the open linked incidents"),
                                           required=False)
    note_to_callers = forms.CharField(
        label=_("Note to the callers"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Each caller reads it on their incident. Empty: a note naming this "
                    "problem and its resolution."))


class LinkIncidentForm(forms.Form):
    incident = IncidentPickerField(label=_("Incident"))


_PROBLEM_NUMBER = re.compile(r"^\s*(PRB\d+)\b", re.IGNORECASE)


def problem_token(problem: Problem) -> str:
    return f"{problem.number} {problem.title}"


class ProblemPickerField(PickerField):
    """A problem by number (or its exact title), suggested from ``problems:lookup``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", _("Type its number or part of its statement and pick "
                                         "from the suggestions."))
        super().__init__(lookup_url_name="problems:lookup", **kwargs)

    def token(self, obj: Any) -> str:
        return problem_token(obj)

    def from_key(self, key: Any) -> Any | None:
        return Problem.objects.filter(pk=key).first()

    def resolve(self, text: str) -> Any:
        match = _PROBLEM_NUMBER.match(text)
        if match:
            found = Problem.objects.filter(number=match.group(1).upper()).first()
            if found is not None:
                return found
            raise ValidationError(_("There is no problem %(number)s."), code="no_match",
                                  params={"number": match.group(1).upper()})
        named = list(Problem.objects.filter(title__iexact=text)[:6])
        if len(named) == 1:
            return named[0]
        raise ValidationError(_("Type the problem's number (PRB…) or pick it from the "
                                "suggestions."), code="no_match")


class LinkToProblemForm(forms.Form):
    """From an incident's page: the problem to link it to."""

    problem = ProblemPickerField(label=_("Link to problem"))


class KnownErrorForm(forms.Form):
    known_error = forms.BooleanField(required=False)


class FiveWhysForm(forms.Form):
    """The five whys as rows of question and answer (empty rows are dropped)."""

    ROWS = 5

    def __init__(self, *args: Any, problem: Problem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rows = list(problem.five_whys or [])
        count = min(MAX_WHYS, max(self.ROWS, len(rows) + 1))
        for index in range(count):
            row = rows[index] if index < len(rows) else {}
            self.fields[f"why_{index}"] = forms.CharField(
                label=_("Why? (%(n)d)") % {"n": index + 1}, required=False, max_length=500,
                initial=row.get("why", ""))
            self.fields[f"answer_{index}"] = forms.CharField(
                label=_("Because (%(n)d)") % {"n": index + 1}, required=False,
                max_length=1000, initial=row.get("answer", ""),
                widget=forms.Textarea(attrs={"rows": 1}))
        self.count = count

    def rows(self) -> list[tuple[Any, Any]]:
        return [(self[f"why_{i}"], self[f"answer_{i}"]) for i in range(self.count)]

    def five_whys(self) -> list[dict[str, str]]:
        return [{"why": self.cleaned_data[f"why_{i}"], "answer": self.cleaned_data[f"answer_{i}"]}
                for i in range(self.count)]
