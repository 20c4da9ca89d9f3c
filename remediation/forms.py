"""Desk forms of the action library. They only collect values: the services decide what
a valid version is (a script needs an interpreter, parameter names and types, platforms)
and their refusals are shown at the field they name (``add_domain_error``)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ActionKind, ActionRisk, ActionVersion, Builtin, Interpreter
from .services import PLATFORMS

PARAMETERS_EXAMPLE = ('[{"name": "service", "type": "string", "required": true, '
                      '"pattern": "[a-z0-9@._-]+"},\n {"name": "attempts", "type": "integer", '
                      '"min": 1, "max": 5},\n {"name": "mode", "type": "choice", '
                      '"choices": ["soft", "hard"]}]')
PLATFORM_LABELS = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}


def _blank(choices: Any) -> list[tuple[str, Any]]:
    return [("", "—"), *choices]


class VersionForm(forms.Form):
    """The content of a version: what it runs, its typed parameters, where and how."""

    kind = forms.ChoiceField(label=_("Kind"), choices=ActionKind.choices)
    builtin = forms.ChoiceField(label=_("Built-in"), choices=_blank(Builtin.choices),
                                required=False,
                                help_text=_("For a built-in action: what the agent runs."))
    interpreter = forms.ChoiceField(label=_("Interpreter"), required=False,
                                    choices=_blank(Interpreter.choices),
                                    help_text=_("For a script action."))
    script = forms.CharField(label=_("Script"), required=False, strip=False,
                             widget=forms.Textarea(attrs={"rows": 10, "class": "code",
                                                          "spellcheck": "false"}),
                             help_text=_("Parameters reach the script as environment "
                                         "variables and arguments (docs/agent.md)."))
    parameters = forms.CharField(
        label=_("Parameters (JSON)"), required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code", "spellcheck": "false",
                                     "placeholder": PARAMETERS_EXAMPLE}),
        help_text=_("A list of {name, type, required, choices, min, max, pattern, help}; "
                    "type is string, integer, boolean or choice. Leave empty for none."))
    platforms = forms.MultipleChoiceField(
        label=_("Platforms"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(p, PLATFORM_LABELS[p]) for p in PLATFORMS],
        help_text=_("None ticked: every platform."))
    timeout_seconds = forms.IntegerField(label=_("Timeout (seconds)"), initial=300)
    run_as = forms.CharField(label=_("Run as"), required=False, max_length=64,
                             help_text=_("A user name; empty: as the agent itself."))
    risk = forms.ChoiceField(label=_("Risk"), choices=ActionRisk.choices,
                             initial=ActionRisk.LOW)
    read_only = forms.BooleanField(
        label=_("Read-only: changes nothing on the device"), required=False,
        help_text=_("Only read-only actions may run under an incident alone."))
    expected_outcome = forms.CharField(label=_("Expected outcome"), required=False,
                                       widget=forms.Textarea(attrs={"rows": 3}))

    def clean_parameters(self) -> Any:
        text = self.cleaned_data["parameters"].strip()
        if not text:
            return []
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                _("Not valid JSON: %(msg)s at line %(line)s, column %(col)s."),
                code="json", params={"msg": error.msg, "line": error.lineno,
                                     "col": error.colno}) from error

    def version_values(self) -> dict[str, Any]:
        """The service's keyword arguments; what does not apply to the kind is cleared
        (a built-in has no script, a script no built-in)."""
        values = {name: self.cleaned_data[name] for name in VersionForm.base_fields}
        if values["kind"] == ActionKind.BUILTIN:
            values["interpreter"], values["script"] = "", ""
        else:
            values["builtin"] = ""
        return values

    @staticmethod
    def initial_from(version: ActionVersion) -> dict[str, Any]:
        initial = {name: getattr(version, name) for name in VersionForm.base_fields}
        initial["parameters"] = json.dumps(version.parameters, indent=1) \
            if version.parameters else ""
        return initial


class ActionCreateForm(VersionForm):
    """A new action with its first draft."""

    name = forms.SlugField(label=_("Name"), max_length=100,
                           help_text=_("Lower-case, with dashes: the name change templates "
                                       "and agents' local policies refer to."))
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    resolves_incident = forms.BooleanField(
        label=_("Resolve the incident when it succeeds"), required=False,
        help_text=_("A run for an incident resolves it once the action succeeded on every "
                    "device of the incident."))

    field_order = ["name", "title", "description", "resolves_incident"]


class ActionEditForm(forms.Form):
    """The action's own fields (its versions are edited as drafts)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    resolves_incident = ActionCreateForm.base_fields["resolves_incident"]
