"""Desk forms of the change record. They only collect values: the services decide what is
valid (end before start, an outage's minutes, a template's CI classes) and their refusals
are shown at the field they name (``add_domain_error``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField
from accounts.models import Team
from cmdb.pickers import CI, SERVICE, CIPickerField
from desk.pickers import PersonPickerField, PickerField, PickerInput
from incidents.forms import person_choices
from incidents.models import Incident
from itsm.widgets import LazyChoices, QuickSelect
from tickets.models import Priority

from .models import (
    Change,
    ChangeCategory,
    ChangeImpact,
    ChangeResult,
    ChangeState,
    ChangeType,
)

MOMENT_FORMAT = "%Y-%m-%dT%H:%M"
# Plans and text a standard change takes from its template (read-only on its edit form).
TEMPLATE_LOCKED = ("category", "implementation_plan", "backout_plan", "test_plan",
                   "impact", "outage_expected", "outage_minutes")


def moment(label: Any, *, required: bool = False, help_text: Any = "") -> forms.DateTimeField:
    """A date and time typed in the viewer's time zone (the form field makes it aware in
    the current zone, which the desk's middleware sets per person)."""
    return forms.DateTimeField(
        label=label, required=required, help_text=help_text,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=MOMENT_FORMAT))


# --- Several records in one field ----------------------------------------------------

class MultiPickerInput(forms.Widget):
    """Several picker inputs under one name: one per record picked so far, and ``extra``
    empty ones to add more (each with its own suggestions). Emptying an input removes
    its record. Works without JavaScript: names or ids are typed and resolved."""

    def __init__(self, single: PickerInput, *, extra: int = 2) -> None:
        super().__init__()
        self.single = single
        self.extra = extra
        self.item_label = ""  # the field's label; inputs after the first are numbered

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        getter = getattr(data, "getlist", None)
        values = getter(name) if getter else data.get(name, [])
        return [values] if isinstance(values, str) else list(values)

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data

    def id_for_label(self, id_: str) -> str:
        return f"{id_}_0" if id_ else id_

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        attrs = dict(attrs or {})
        base = attrs.pop("id", f"id_{name}")
        values = [v for v in (value or []) if v] + [""] * self.extra
        inputs = [self.single.render(name, item or None, {
            **attrs, "id": f"{base}_{n}",
            **({"aria-label": f"{self.item_label} ({n + 1})"} if n else {})})
            for n, item in enumerate(values)]
        return format_html('<div class="multi-picker"{}>{}</div>', flatatt({"id": base}),
                           format_html_join("", '<div class="multi-picker-item">{}</div>',
                                            ((i,) for i in inputs)))


class MultiPickerField(forms.Field):
    """A list of records, each typed or picked as ``single`` (a PickerField) reads one.
    Every input that does not resolve is named in the error."""

    def __init__(self, single: PickerField, *, extra: int = 2, **kwargs: Any) -> None:
        self.single = single
        kwargs.setdefault("help_text", single.help_text)
        kwargs.setdefault("widget", MultiPickerInput(single.widget, extra=extra))
        super().__init__(**kwargs)
        self.widget.item_label = self.label or ""

    def bound_data(self, data: Any, initial: Any) -> Any:
        return list(data or [])

    def prepare_value(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        items = value if isinstance(value, list | tuple) else list(value)
        return [item if isinstance(item, str) else self.single.prepare_value(item)
                for item in items]

    def to_python(self, value: Any) -> list[Any]:
        chosen: dict[Any, Any] = {}
        errors: list[ValidationError] = []
        for text in value or []:
            text = (text or "").strip()
            if not text:
                continue
            try:
                item = self.single.resolve(text)
            except ValidationError as error:
                errors.extend(error.error_list)
            else:
                chosen.setdefault(item.pk, item)
        if errors:
            raise ValidationError(errors)
        return list(chosen.values())

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            chosen = {item.pk for item in self.to_python(data)}
        except ValidationError:
            return True
        return chosen != {getattr(item, "pk", item) for item in (initial or [])}


class CIsPickerField(MultiPickerField):
    def __init__(self, *, kind: str | None, allowed: Callable[[], Q] | None = None,
                 lookup_url: str | None = None, **kwargs: Any) -> None:
        single = _NarrowedCIPicker(kind=kind or "", allowed=allowed, lookup_url=lookup_url)
        super().__init__(single, **kwargs)


class _UrlPickerInput(PickerInput):
    """A picker input asking its suggestions from a given URL (a lookup with a path
    argument, such as a template's allowed classes)."""

    def __init__(self, url: str) -> None:
        super().__init__("cmdb:ci_lookup")
        self.url = url

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict:
        context = super().get_context(name, value, attrs)
        status = context["widget"]["status_id"]
        context["widget"]["attrs"]["hx-get"] = f"{self.url}?status={status}"
        return context


class _NarrowedCIPicker(CIPickerField):
    """The CMDB's picker, optionally narrowed further (a template's allowed classes)."""

    def __init__(self, *, kind: str, allowed: Callable[[], Q] | None,
                 lookup_url: str | None) -> None:
        super().__init__(kind=kind)
        self.allowed = allowed
        if lookup_url:
            self.widget = _UrlPickerInput(lookup_url)

    def resolve(self, text: str) -> Any:
        item = super().resolve(text)
        if self.allowed is not None and not type(item).objects.filter(
                self.allowed(), pk=item.pk).exists():
            raise ValidationError(
                _("%(name)s (%(cls)s) is not a class this template allows."),
                code="ci_class_not_allowed",
                params={"name": item.name, "cls": item.ci_class.name})
        return item


_INCIDENT_NUMBER = re.compile(r"^\s*(INC\d+)\b", re.IGNORECASE)


def incident_token(incident: Incident) -> str:
    """How a picked incident reads in its field (``IncidentPickerField`` reads it back)."""
    return f"{incident.number} {incident.title}"


class IncidentPickerField(PickerField):
    """An incident by number (or its exact title), suggested from ``changes:incident_lookup``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", _("Type its number or part of its title and pick "
                                         "from the suggestions."))
        super().__init__(lookup_url_name="changes:incident_lookup", **kwargs)

    def token(self, obj: Any) -> str:
        return incident_token(obj)

    def from_key(self, key: Any) -> Any | None:
        return Incident.objects.filter(pk=key).first()

    def resolve(self, text: str) -> Any:
        match = _INCIDENT_NUMBER.match(text)
        if match:
            found = Incident.objects.filter(number=match.group(1).upper()).first()
            if found is not None:
                return found
            raise ValidationError(_("There is no incident %(number)s."), code="no_match",
                                  params={"number": match.group(1).upper()})
        named = list(Incident.objects.filter(title__iexact=text)[:6])
        if len(named) == 1:
            return named[0]
        if not named:
            raise ValidationError(
                _("No incident is called “%(text)s”. Type its number or part of its title "
                  "and pick from the suggestions."), code="no_match", params={"text": text})
        raise ValidationError(
            _("Several incidents are called “%(text)s” (%(numbers)s): type the number."),
            code="ambiguous",
            params={"text": text, "numbers": ", ".join(i.number for i in named)})


# --- Assignment --------------------------------------------------------------------------

class AssignmentMixin(forms.Form):
    """Assignment group and implementer: the drop-down lists the group's members (and
    changing the group reloads it, htmx), read as values when shown."""

    assignment_group = forms.ModelChoiceField(label=_("Assignment group"), required=False,
                                              queryset=Team.objects.filter(is_active=True),
                                              widget=QuickSelect)
    assignee = PersonChoiceField(label=_("Implementer"), required=False, widget=QuickSelect)

    def _setup_assignment(self) -> None:
        group_field, field = self.fields["assignment_group"], self.fields["assignee"]
        group_id = self._value_of("assignment_group")
        if group_id:
            field.queryset = field.queryset.filter(team_memberships__team_id=group_id)
        else:
            field.queryset = field.queryset.none()
            field.help_text = _("Choose a group first.")
        people = field.queryset
        field.widget.choices = LazyChoices(lambda: [("", "—"), *person_choices(people)])
        group_field.widget.choices = LazyChoices(
            lambda: [("", "—"), *group_field.queryset.values_list("pk", "name")])
        assignee_id = self.auto_id % "assignee" if self.auto_id else "id_assignee"
        group_field.widget.attrs.update({
            "hx-get": reverse("changes:group_members"), "hx-target": f"#{assignee_id}",
            "hx-swap": "innerHTML", "hx-include": "this"})

    def _value_of(self, name: str) -> int | None:
        value = (self.data.get(self.add_prefix(name)) if self.is_bound
                 else self.initial.get(name))
        value = getattr(value, "pk", value)
        return int(value) if str(value or "").isdigit() else None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("assignee") and not data.get("assignment_group"):
            self.add_error("assignee", _("Choose the group first."))
        return data


# --- The change form ---------------------------------------------------------------------

class ChangeForm(AssignmentMixin):
    """Every field of a normal or emergency change. Standard changes come from the
    catalogue (``TemplateUseForm``)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    type = forms.ChoiceField(label=_("Type"), initial=ChangeType.NORMAL,
                             choices=[(ChangeType.NORMAL, ChangeType.NORMAL.label),
                                      (ChangeType.EMERGENCY, ChangeType.EMERGENCY.label)],
                             help_text=_("Standard changes are made from the catalogue."))
    category = forms.ModelChoiceField(label=_("Category"), required=False, empty_label="—",
                                      queryset=ChangeCategory.objects.filter(is_active=True))
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 4}))
    justification = forms.CharField(label=_("Justification"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 3}),
                                    help_text=_("Why the change is needed, and now."))
    implementation_plan = forms.CharField(label=_("Implementation plan"), required=False,
                                          widget=forms.Textarea(attrs={"rows": 5}))
    backout_plan = forms.CharField(label=_("Backout plan"), required=False,
                                   widget=forms.Textarea(attrs={"rows": 4}),
                                   help_text=_("Required before the change is scheduled."))
    test_plan = forms.CharField(label=_("Test plan"), required=False,
                                widget=forms.Textarea(attrs={"rows": 3}))
    cis = CIsPickerField(kind=CI, label=_("Affected configuration items"), required=False)
    services = CIsPickerField(kind=SERVICE, label=_("Affected services"), required=False)
    planned_start = moment(_("Planned start"))
    planned_end = moment(_("Planned end"))
    outage_expected = forms.BooleanField(label=_("An outage is expected"), required=False)
    outage_minutes = forms.IntegerField(label=_("Expected outage (minutes)"), required=False,
                                        min_value=1)
    impact = forms.TypedChoiceField(label=_("Impact"), choices=ChangeImpact.choices,
                                    coerce=int, initial=ChangeImpact.LOW)
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices,
                                      coerce=int, initial=Priority.P4)
    requester = PersonPickerField(label=_("Requested by"))
    incidents = MultiPickerField(IncidentPickerField(), label=_("Linked incidents"),
                                 required=False, extra=1)

    field_order = ("title", "type", "category", "description", "justification",
                   "implementation_plan", "backout_plan", "test_plan", "cis", "services",
                   "planned_start", "planned_end", "outage_expected", "outage_minutes",
                   "impact", "priority", "requester", "assignment_group", "assignee",
                   "incidents")
    TEXT = ("description", "justification", "implementation_plan", "backout_plan",
            "test_plan")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setup_assignment()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.TEXT:  # browsers send CRLF; store what the API stores
            if isinstance(data.get(name), str):
                data[name] = data[name].replace("\r\n", "\n")
        return data

    def service_values(self) -> dict[str, Any]:
        """The cleaned values as ``change_create`` takes them."""
        values = {name: value for name, value in self.cleaned_data.items()
                  if name in self.fields and not self.fields[name].disabled}
        if values.get("outage_minutes") is None:
            values.pop("outage_minutes", None)
        return {k: v for k, v in values.items() if v is not None}


class ChangeEditForm(ChangeForm):
    """An open change's fields, through ``change_update`` (only what differs is sent).
    A standard change keeps its template's plans (shown read-only)."""

    def __init__(self, *args: Any, change: Change, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        initial = {name: getattr(change, name) for name in self.field_order
                   if name not in ("cis", "services", "incidents", "type")}
        initial.update(cis=list(change.cis.all()), services=list(change.services.all()),
                       incidents=list(change.incidents.all()))
        kwargs["initial"] = {**initial, **kwargs["initial"]}
        self.change = change
        super().__init__(*args, **kwargs)
        del self.fields["type"]
        if change.type == ChangeType.STANDARD:
            for name in TEMPLATE_LOCKED:
                self.fields[name].disabled = True
            version = change.template_version
            classes = [c.pk for c in version.allowed_ci_classes.all()] if version else []
            if classes:
                self.fields["cis"] = CIsPickerField(
                    kind=CI, label=_("Affected configuration items"), required=False,
                    allowed=lambda: Q(ci_class_id__in=classes), help_text=_(
                        "Only %(classes)s (the template allows no other class).") % {
                        "classes": ", ".join(c.name for c in
                                             version.allowed_ci_classes.all())})

    def changes(self) -> dict[str, Any]:
        """What differs from the change, as ``change_update`` takes it."""
        out: dict[str, Any] = {}
        for name, value in self.service_values().items():
            if name in ("cis", "services", "incidents"):
                before = {item.pk for item in getattr(self.change, name).all()}
                if {item.pk for item in value} != before:
                    out[name] = value
            elif value != getattr(self.change, name):
                out[name] = value
        # Emptied optional fields are changes too (service_values drops None).
        for name in ("planned_start", "planned_end", "outage_minutes", "category",
                     "assignment_group", "assignee"):
            if (name in self.fields and not self.fields[name].disabled
                    and self.cleaned_data.get(name) is None
                    and getattr(self.change, name) is not None):
                out[name] = None
        return out


# --- Lifecycle and comments ----------------------------------------------------------

class TransitionForm(forms.Form):
    """A move along the lifecycle, with the values some moves take."""

    to_state = forms.ChoiceField(choices=ChangeState.choices, widget=forms.HiddenInput)
    result = forms.ChoiceField(label=_("Result"), required=False,
                               choices=[("", "—"), *ChangeResult.choices])
    freeze_override_reason = forms.CharField(
        label=_("Reason to override a change freeze"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only for an emergency change planned inside a freeze."))
    note = forms.CharField(label=_("Note"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))

    VALUES_FOR = {ChangeState.REVIEW: ("result",),
                  ChangeState.SCHEDULED: ("freeze_override_reason",)}

    @classmethod
    def fields_for(cls, change: Change, target: str) -> tuple[str, ...]:
        """The value fields a move shows: the result when implementation ends; the
        freeze override when an emergency change is scheduled."""
        names = cls.VALUES_FOR.get(target, ())
        if target == ChangeState.SCHEDULED and change.type != ChangeType.EMERGENCY:
            return ()
        return names

    def values(self, change: Change) -> dict[str, Any]:
        names = self.fields_for(change, self.cleaned_data["to_state"])
        return {name: self.cleaned_data[name] for name in names
                if self.cleaned_data[name] not in (None, "")}


class CommentForm(forms.Form):
    KIND_CHOICES = (("work_note", _("Work note (desk only)")),
                    ("comment", _("Comment (the requester sees it)")))

    kind = forms.ChoiceField(label=_("Kind"), choices=KIND_CHOICES, initial="work_note",
                             widget=forms.RadioSelect)
    body = forms.CharField(label=_("Message"), required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))

