"""The desk's "start a run" form: the approved version, a typed field per declared
parameter, the targets, the authority, the rollout and the delivery time. It only
collects values; ``runs.run_preview`` and ``runs.run_start`` decide, and their refusals
come back at the field they name (``add_run_error``)."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from changes.forms import CIsPickerField
from changes.models import Change, ChangeTemplateVersion, TemplateStatus
from cmdb.models import CIClass
from incidents.models import Incident
from itsm.errors import DomainError
from itsm.forms import add_domain_error
from problems.models import Problem

from .authority import APPROVED_CHANGE_STATES, Authority
from .models import ActionVersion, AuthorityKind, Rollout, VersionStatus

PARAM_PREFIX = "param_"
TARGET_FIELDS = ("devices", "tag", "ci_class", "query", "ticket_devices")
# The services' field names that differ from the form's.
SERVICE_FIELDS = {"targets.devices": "devices", "targets.tag": "tag",
                  "targets.query": "query",
                  "targets.ci_class": "ci_class", "targets.ticket": "ticket_devices",
                  "expires_in": "expires_minutes"}


def approved_versions() -> QuerySet[ActionVersion]:
    return (ActionVersion.objects.filter(status=VersionStatus.APPROVED)
            .select_related("action").order_by("action__name"))


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ActionVersion) -> str:
        label = f"{obj.action.name} v{obj.version} · {obj.action.title}"
        return f"{label} ({_('read-only')})" if obj.read_only else label


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ChangeTemplateVersion) -> str:
        return f"{obj.template.name} v{obj.version} → {obj.remediation_action}"


def _ticket_by_number(model: Any, text: str, what: str) -> Any:
    text = text.strip()
    if not text:
        return None
    found = model.objects.filter(number__iexact=text).first()
    if found is None and text.isdigit():
        found = model.objects.filter(pk=int(text)).first()
    if found is None:
        raise forms.ValidationError(_("No %(what)s numbered “%(text)s”."),
                                    code="no_match", params={"what": what, "text": text})
    return found


def param_field(spec: dict[str, Any]) -> forms.Field:
    """One declared parameter as a typed input. The service checks the values (type,
    range, pattern, required), so these fields only shape the input."""
    label = spec["name"]
    help_text = spec.get("help", "")
    if spec.get("required"):  # the service refuses it empty, naming it
        help_text = f"{_('Required.')} {help_text}".strip()
    if spec["type"] == "boolean":
        return forms.BooleanField(label=label, required=False, help_text=help_text)
    if spec["type"] == "choice":
        return forms.ChoiceField(label=label, required=False, help_text=help_text, choices=[
            ("", "—"), *((str(c), str(c)) for c in spec.get("choices") or [])])
    attrs: dict[str, Any] = {}
    if spec["type"] == "integer":
        attrs = {"type": "number", "inputmode": "numeric", "step": 1}
        for bound in ("min", "max"):
            if spec.get(bound) is not None:
                attrs[bound] = spec[bound]
        if spec.get("min") is not None or spec.get("max") is not None:
            span = _("From %(min)s to %(max)s.") % {"min": spec.get("min", "…"),
                                                      "max": spec.get("max", "…")}
            help_text = f"{help_text} {span}".strip()
    elif spec.get("pattern"):
        attrs = {"pattern": spec["pattern"]}
    return forms.CharField(label=label, required=False, help_text=help_text,
                           widget=forms.TextInput(attrs=attrs))


class RunForm(forms.Form):
    version = VersionChoiceField(label=_("Action"), queryset=ActionVersion.objects.none(),
                                 empty_label=_("Choose an approved action…"),
                                 help_text=_("Only approved versions run."))
    # Targets: several add up.
    devices = CIsPickerField(kind="", label=_("Devices"), required=False, extra=3,
                             help_text=_("Type a device's name, hostname or id and pick "
                                         "it from the suggestions."))
    tag = forms.CharField(label=_("Devices with the CMDB tag"), required=False,
                          max_length=100)
    ci_class = forms.ChoiceField(label=_("Every CI of the class"), required=False)
    query = forms.CharField(
        label=_("Devices whose name, hostname or location contains"), required=False,
        max_length=100, help_text=_("For example “Store 017” or “ald-lt-”."))
    ticket_devices = forms.BooleanField(
        label=_("All devices of the ticket"), required=False,
        help_text=_("The incident's or change's CIs and services, and the devices one "
                    "relationship away from them. With a problem: the problem's own CIs "
                    "and services and those of its linked incidents (only the problem's, "
                    "whatever the authority)."))
    # Authority
    authority_kind = forms.ChoiceField(label=_("Authorised by"),
                                       choices=AuthorityKind.choices,
                                       widget=forms.RadioSelect)
    template_version = TemplateChoiceField(
        label=_("Standard change template"), required=False,
        queryset=ChangeTemplateVersion.objects.none(),
        help_text=_("An approved template that names this action."))
    change = forms.CharField(label=_("Change"), required=False, max_length=20,
                             help_text=_("Its number (CHG…): approved and within its "
                                         "window."))
    incident = forms.CharField(label=_("Incident"), required=False, max_length=20,
                               help_text=_("Its number (INC…). Under an incident alone only "
                                           "read-only actions run; with another authority "
                                           "the run is still reported on it."))
    problem = forms.CharField(label=_("Problem"), required=False, max_length=20,
                              help_text=_("Its number (PRB…). Under a problem alone only "
                                          "read-only actions run; to fix the devices choose "
                                          "an approved change, and the run is still "
                                          "reported on the problem."))
    # Rollout
    rollout = forms.ChoiceField(label=_("Rollout"), choices=Rollout.choices,
                                initial=Rollout.ALL, widget=forms.RadioSelect)
    canary_size = forms.IntegerField(label=_("Canary: devices"), required=False,
                                     help_text=_("Or a percentage below."))
    canary_percent = forms.IntegerField(label=_("Canary: percentage"), required=False)
    batch_size = forms.IntegerField(label=_("Batch size after the canary"), required=False)
    pause_seconds = forms.IntegerField(label=_("Pause between waves (seconds)"), initial=0)
    failure_threshold = forms.IntegerField(
        label=_("Stop when a wave fails on more than (%)"), initial=10,
        help_text=_("The run stops after such a wave until someone continues or cancels."))
    expires_minutes = forms.IntegerField(
        label=_("Deliver within (minutes)"), initial=60,
        help_text=_("Devices still offline by then are counted unreachable (1 minute to "
                    "7 days)."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = approved_versions()
        self.fields["template_version"].queryset = (
            ChangeTemplateVersion.objects.filter(status=TemplateStatus.APPROVED)
            .exclude(remediation_action="").select_related("template")
            .order_by("template__name"))
        self.fields["ci_class"].choices = [("", "—"), *CIClass.objects.order_by(
            "name").values_list("key", "name")]
        self.fields["change"].widget.attrs["list"] = "run-approved-changes"
        self.chosen = self._chosen_version()
        self.param_specs = list(self.chosen.parameters) if self.chosen else []
        for spec in self.param_specs:
            self.fields[PARAM_PREFIX + spec["name"]] = param_field(spec)

    def _chosen_version(self) -> ActionVersion | None:
        key = self.data.get("version") if self.is_bound else self.initial.get("version")
        key = getattr(key, "pk", key)
        if not key or not str(key).isdigit():
            return None
        return self.fields["version"].queryset.filter(pk=int(key)).first()

    @property
    def param_fields(self) -> list[forms.BoundField]:
        return [self[PARAM_PREFIX + spec["name"]] for spec in self.param_specs]

    def clean_change(self) -> Change | None:
        return _ticket_by_number(Change, self.cleaned_data["change"], _("change"))

    def clean_incident(self) -> Incident | None:
        return _ticket_by_number(Incident, self.cleaned_data["incident"], _("incident"))

    def clean_problem(self) -> Problem | None:
        return _ticket_by_number(Problem, self.cleaned_data["problem"], _("problem"))

    def approved_changes(self) -> list[Change]:
        """The change picker's suggestions: approved changes whose window is open now."""
        now = timezone.now()
        return list(Change.objects.filter(state__in=APPROVED_CHANGE_STATES,
                                          planned_start__lte=now, planned_end__gt=now)
                    .only("pk", "number", "title").order_by("planned_end", "pk")[:20])

    # --- What the services take ---------------------------------------------------

    def targets(self) -> dict[str, Any]:
        data = self.cleaned_data
        targets: dict[str, Any] = {}
        if data["devices"]:
            targets["devices"] = [ci.pk for ci in data["devices"]]
        if data["tag"].strip():
            targets["tag"] = data["tag"].strip()
        if data["ci_class"]:
            targets["ci_class"] = data["ci_class"]
        if data["query"].strip():
            targets["query"] = data["query"].strip()
        if data["ticket_devices"]:
            # Fixing a problem everywhere reaches the problem's devices, not those of
            # the change that authorises it.
            targets["ticket"] = "problem" if data.get("problem") else True
        return targets

    def authority(self) -> Authority:
        data = self.cleaned_data
        kind = data["authority_kind"]
        return Authority(
            kind=kind, change=data["change"] if kind == AuthorityKind.CHANGE else None,
            template_version=data["template_version"] if kind == AuthorityKind.TEMPLATE
            else None, incident=data["incident"], problem=data["problem"])

    def params(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for spec in self.param_specs:
            value = self.cleaned_data.get(PARAM_PREFIX + spec["name"])
            if spec["type"] == "boolean" or value not in (None, ""):
                values[spec["name"]] = value
        return values

    def start_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"version": data["version"], "targets": self.targets(),
                "authority": self.authority(), "params": self.params(),
                "rollout": data["rollout"], "canary_size": data["canary_size"],
                "canary_percent": data["canary_percent"], "batch_size": data["batch_size"],
                "pause_seconds": data["pause_seconds"],
                "failure_threshold": data["failure_threshold"],
                "expires_in": datetime.timedelta(minutes=data["expires_minutes"])}

    def preview_values(self) -> dict[str, Any]:
        values = self.start_values()
        return {"version": values["version"], "targets": values["targets"],
                "authority": values["authority"], "params": values["params"]}


def add_run_error(form: RunForm, error: DomainError) -> None:
    """A refusal of the run services at the form's fields: ``params.<name>`` at that
    parameter, ``targets.*`` at the target used, ``targets`` at the first target
    filled in (or the devices)."""
    fields: dict[str, list[str]] = {}
    used = [name for name in TARGET_FIELDS if form.cleaned_data.get(name)]
    for name, messages in error.fields.items():
        if name.startswith("params."):
            target = PARAM_PREFIX + name.removeprefix("params.")
        elif name == "targets":
            target = used[0] if used else "devices"
        else:
            target = SERVICE_FIELDS.get(name, name)
        fields.setdefault(target, []).extend(messages)
    add_domain_error(form, DomainError(error.message, code=error.code, fields=fields))
