"""Desk forms of the CMDB. The CI form is generated from the class's attribute schema; the
services decide what is valid, and their refusals are shown at the field they name."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.forms import PersonChoiceField
from accounts.models import Team
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from .licences import PRODUCT_CLASS
from .models import (
    CI_LIFECYCLE,
    AttributeDefinition,
    AttributeType,
    CIClass,
    CIStatus,
    ConfigurationItem,
    Criticality,
    Environment,
    LicenceMetric,
    RelationshipType,
)

# A reference attribute is a drop-down of the CIs of its class up to this many; beyond
# that (or when it may point at any class) it takes the CI's id.
REFERENCE_SELECT_LIMIT = 500
ATTRIBUTE_FIELD_PREFIX = "attr_"
FILTER_PREFIX = "attr."  # ConfigurationItemFilterSet's attribute filters: attr.<key>=value

COMMON_FIELDS = ("name", "description", "owner_team", "criticality", "environment",
                 "location")
IDENTIFICATION_FIELDS = ("serial_number", "asset_tag", "hostname", "domain", "ip_address",
                         "mac_address", "vendor", "product_model")
ASSET_FIELDS = ("purchase_date", "cost", "supplier", "warranty_end", "lease_end",
                "assigned_to", "stock_location")


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _reference_choices(definition: AttributeDefinition) -> list[tuple[str, str]] | None:
    """The CIs a reference attribute may point at, or None when there are too many to
    list (or any class will do): then the field takes an id."""
    if definition.reference_class_id is None:
        return None
    items = list(ConfigurationItem.objects.filter(ci_class_id=definition.reference_class_id)
                 .order_by("name", "id").values_list("pk", "name")[:REFERENCE_SELECT_LIMIT + 1])
    if len(items) > REFERENCE_SELECT_LIMIT:
        return None
    return [(str(pk), name) for pk, name in items]


def attribute_field(definition: AttributeDefinition, *, for_filter: bool = False
                    ) -> forms.Field:
    """The form field for one attribute of a class schema. Filter fields are optional and
    send the raw value the FilterSet matches on."""
    required = definition.required and not for_filter
    options: dict[str, Any] = {"label": definition.label, "required": required,
                               "help_text": "" if for_filter else definition.help_text}
    empty = _("Any") if for_filter else "—"
    kind = definition.type
    if kind == AttributeType.NUMBER:
        return forms.DecimalField(widget=forms.NumberInput(attrs={"step": "any"}), **options)
    if kind == AttributeType.DATE:
        return forms.DateField(widget=_date_widget(), **options)
    if kind == AttributeType.CHOICE:
        return forms.ChoiceField(choices=[("", empty), *((c, c) for c in definition.choices)],
                                 **options)
    if kind == AttributeType.BOOLEAN:
        if for_filter:
            return forms.ChoiceField(choices=[("", empty), ("true", _("Yes")),
                                              ("false", _("No"))], **options)
        widget = forms.NullBooleanSelect()
        widget.choices = [("unknown", "—"), ("true", _("Yes")), ("false", _("No"))]
        return forms.NullBooleanField(widget=widget, **options)
    if kind == AttributeType.REFERENCE:
        choices = _reference_choices(definition)
        if choices is None:
            if not options["help_text"]:
                options["help_text"] = _("The id of the configuration item.")
            return forms.IntegerField(min_value=1, **options)
        return forms.ChoiceField(choices=[("", empty), *choices], **options)
    return forms.CharField(max_length=500, **options)


class AttributeFilterForm(forms.Form):
    """The attribute filters of the CI list for one class (fields named ``attr.<key>``)."""

    def __init__(self, ci_class: CIClass, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ci_class = ci_class
        for definition in ci_class.attributes.all():
            self.fields[FILTER_PREFIX + definition.key] = attribute_field(definition,
                                                                          for_filter=True)


def _tag_names(value: str) -> list[str]:
    return [name for name in re.split(r"[,\s]+", value or "") if name]


class ConfigurationItemForm(forms.Form):
    """Common fields, the asset fields when the class is an asset, and one field per
    attribute of the class schema (named ``attr_<key>``)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    status = forms.ChoiceField(
        label=_("Status"), choices=CIStatus.choices, initial=CI_LIFECYCLE.initial,
        help_text=_("Where it starts. Later moves go through the lifecycle buttons."))
    description = forms.CharField(label=_("Description"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    owner_team = forms.ModelChoiceField(
        label=_("Owner team"), queryset=Team.objects.order_by("name"), required=False,
        empty_label="—",
        help_text=_("The support group incidents on this CI are routed to."))
    criticality = forms.TypedChoiceField(label=_("Business criticality"),
                                         choices=Criticality.choices, coerce=int,
                                         initial=Criticality.MEDIUM)
    environment = forms.ChoiceField(label=_("Environment"), choices=Environment.choices,
                                    initial=Environment.PRODUCTION)
    location = forms.CharField(label=_("Location"), max_length=150, required=False)
    tags = forms.CharField(label=_("Tags"), required=False, max_length=500,
                           help_text=_("Separate tags with commas or spaces."))

    serial_number = forms.CharField(label=_("Serial number"), max_length=100, required=False)
    asset_tag = forms.CharField(label=_("Asset tag"), max_length=100, required=False)
    hostname = forms.CharField(label=_("Hostname"), max_length=255, required=False)
    domain = forms.CharField(label=_("Domain"), max_length=255, required=False)
    ip_address = forms.GenericIPAddressField(label=_("IP address"), required=False)
    mac_address = forms.CharField(label=_("MAC address"), max_length=17, required=False)
    vendor = forms.CharField(label=_("Vendor"), max_length=100, required=False)
    product_model = forms.CharField(label=_("Model"), max_length=100, required=False)

    purchase_date = forms.DateField(label=_("Purchase date"), required=False,
                                    widget=_date_widget())
    cost = forms.DecimalField(label=_("Cost"), max_digits=12, decimal_places=2,
                              required=False, min_value=Decimal(0))
    supplier = forms.CharField(label=_("Supplier"), max_length=150, required=False)
    warranty_end = forms.DateField(label=_("Warranty end"), required=False,
                                   widget=_date_widget())
    lease_end = forms.DateField(label=_("Lease end"), required=False, widget=_date_widget())
    assigned_to = PersonChoiceField(label=_("Assigned to"), required=False, empty_label="—")
    stock_location = forms.CharField(label=_("Stock location"), max_length=150,
                                     required=False)

    def __init__(self, *args: Any, ci_class: CIClass, instance: ConfigurationItem | None = None,
                 **kwargs: Any) -> None:
        self.ci_class = ci_class
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(instance)
        super().__init__(*args, **kwargs)
        if instance is not None:
            del self.fields["status"]  # moves go through the lifecycle
        if not ci_class.is_asset:
            for name in ASSET_FIELDS:
                del self.fields[name]
        elif instance is not None and instance.assigned_to_id:
            # Keep a former colleague who still has the asset selectable.
            field = self.fields["assigned_to"]
            field.queryset = (field.queryset | field.queryset.model.objects.filter(
                pk=instance.assigned_to_id)).distinct()
        self.definitions = list(ci_class.attributes.select_related("reference_class"))
        for definition in self.definitions:
            self.fields[ATTRIBUTE_FIELD_PREFIX + definition.key] = attribute_field(definition)

    @staticmethod
    def initial_from(ci: ConfigurationItem) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(ci, name) for name in (*COMMON_FIELDS, *IDENTIFICATION_FIELDS,
                                                 *ASSET_FIELDS)
            if name not in ("owner_team", "assigned_to")}
        initial["owner_team"] = ci.owner_team_id
        initial["assigned_to"] = ci.assigned_to_id
        initial["tags"] = ", ".join(sorted(t.name for t in ci.tags.all()))
        for key, value in (ci.attributes or {}).items():
            initial[ATTRIBUTE_FIELD_PREFIX + key] = value
        return initial

    def sections(self) -> list[dict[str, Any]]:
        """The fields in the groups the page shows them in: title, help, fields."""
        general = [n for n in ("name", "status", *COMMON_FIELDS[1:], "tags")
                   if n in self.fields]
        groups: list[tuple[str, str, list[str]]] = [
            (str(_("General")), "", general),
            (str(_("%(cls)s attributes") % {"cls": self.ci_class.name}), "",
             [ATTRIBUTE_FIELD_PREFIX + d.key for d in self.definitions]),
            (str(_("Identification")), str(_(
                "The first of these that is filled in identifies the CI: serial number, "
                "else asset tag, else hostname and domain, else MAC address. Two CIs "
                "cannot share it.")), list(IDENTIFICATION_FIELDS)),
        ]
        if self.ci_class.is_asset:
            groups.append((str(_("Asset")), "", list(ASSET_FIELDS)))
        return [{"title": title, "help": help_text, "fields": [self[n] for n in names]}
                for title, help_text, names in groups if names]

    def attributes(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for definition in self.definitions:
            value = self.cleaned_data.get(ATTRIBUTE_FIELD_PREFIX + definition.key)
            if value is None or value == "":
                continue
            values[definition.key] = value
        return values

    def service_values(self) -> dict[str, Any]:
        """The keyword arguments of ci_create / ci_update (without tags and status)."""
        data = self.cleaned_data
        values = {name: data[name] for name in (*COMMON_FIELDS, *IDENTIFICATION_FIELDS)}
        values["ip_address"] = data["ip_address"] or None
        if self.ci_class.is_asset:
            values.update({name: data[name] for name in ASSET_FIELDS})
        values["attributes"] = self.attributes()
        return values

    def tag_names(self) -> list[str]:
        return _tag_names(self.cleaned_data.get("tags", ""))

    def identifiers(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in (
            "serial_number", "asset_tag", "hostname", "domain", "mac_address")}

    def add_service_error(self, error: DomainError) -> None:
        """Show the service's refusal at the fields it names: ``attributes.<key>`` is the
        generated field of that attribute."""
        add_domain_error(self, _renamed(error, {
            name: ATTRIBUTE_FIELD_PREFIX + name.removeprefix("attributes.")
            for name in error.fields if name.startswith("attributes.")}))


def _renamed(error: DomainError, names: dict[str, str]) -> DomainError:
    """The same error with its field names translated to the form's."""
    fields: dict[str, list[str]] = {}
    for name, messages in error.fields.items():
        fields.setdefault(names.get(name, name), []).extend(messages)
    return DomainError(error.message, code=error.code, fields=fields)


# --- Relationships --------------------------------------------------------------------

OUTGOING, INCOMING = "out", "in"
_CI_REFERENCE = re.compile(r"\(CI (\d+)\)\s*$")


def relation_choices(ci: ConfigurationItem) -> list[tuple[str, str]]:
    """Each relationship type read both ways ("depends on", "used by"), as far as this
    CI's class may stand at that end. Values are ``<type key>:out`` or ``:in``."""
    choices = []
    for rel_type in RelationshipType.objects.prefetch_related("allowed_sources",
                                                              "allowed_targets"):
        sources = {c.pk for c in rel_type.allowed_sources.all()}
        targets = {c.pk for c in rel_type.allowed_targets.all()}
        if not sources or ci.ci_class_id in sources:
            choices.append((f"{rel_type.key}:{OUTGOING}", rel_type.name))
        if not targets or ci.ci_class_id in targets:
            choices.append((f"{rel_type.key}:{INCOMING}", rel_type.reverse_name))
    return sorted(choices, key=lambda choice: choice[1])


def find_ci(text: str, *, exclude: int | None = None, queryset: QuerySet | None = None,
            wrong_kind: str | None = None) -> ConfigurationItem:
    """The CI named by an id, a suggestion ("web-01 (CI 12)") or an exact name, or a
    ValidationError saying what to type instead. ``queryset`` narrows which CIs may be
    named (only services, say); ``wrong_kind`` is the message for a CI outside it, with
    its ``%(name)s``."""
    text = (text or "").strip()
    narrowed = queryset is not None
    items = (queryset if narrowed else ConfigurationItem.objects.all()).select_related(
        "ci_class")

    def outside(lookup: dict[str, Any]) -> None:
        other = ConfigurationItem.objects.filter(**lookup).first() if narrowed else None
        if other is not None and wrong_kind:
            raise forms.ValidationError(wrong_kind, params={"name": other.name})

    match = _CI_REFERENCE.search(text)
    if match or text.lstrip("#").isdigit():
        pk = int(match.group(1) if match else text.lstrip("#"))
        ci = items.filter(pk=pk).first()
        if ci is None:
            outside({"pk": pk})
            raise forms.ValidationError(_("There is no configuration item %(id)s."),
                                        params={"id": pk})
        return ci
    found = list(items.filter(name__iexact=text).exclude(pk=exclude)[:6])
    if len(found) == 1:
        return found[0]
    if not found:
        outside({"name__iexact": text})
        raise forms.ValidationError(
            _("No configuration item is called “%(name)s”. Type part of its name and pick "
              "it from the suggestions, or enter its id."), params={"name": text})
    raise forms.ValidationError(
        _("Several configuration items are called “%(name)s” (ids %(ids)s): enter the id."),
        params={"name": text, "ids": ", ".join(str(c.pk) for c in found)})


class RelationshipForm(forms.Form):
    relation = forms.ChoiceField(label=_("Relationship"),
                                 help_text=_("Read it as: this CI … the other CI."))
    other = forms.CharField(
        label=_("Other CI"), max_length=300,
        help_text=_("Type part of its name and pick it from the suggestions, or enter its "
                    "id."))

    def __init__(self, *args: Any, ci: ConfigurationItem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ci = ci
        self.fields["relation"].choices = [("", "—"), *relation_choices(ci)]
        self.fields["other"].widget.attrs.update({"list": "ci-suggestions",
                                                  "autocomplete": "off"})

    def clean_other(self) -> ConfigurationItem:
        return find_ci(self.cleaned_data["other"], exclude=self.ci.pk)

    def ends(self) -> tuple[RelationshipType, ConfigurationItem, ConfigurationItem]:
        """(type, source, target) of the relationship to create."""
        key, direction = self.cleaned_data["relation"].rsplit(":", 1)
        rel_type = RelationshipType.objects.get(key=key)
        other = self.cleaned_data["other"]
        if direction == OUTGOING:
            return rel_type, self.ci, other
        return rel_type, other, self.ci

    def add_service_error(self, error: DomainError) -> None:
        """``source`` and ``target`` are ends of the link: the other CI's end is the
        "other" field; this CI's end means the relationship does not fit its class."""
        _key, direction = self.cleaned_data["relation"].rsplit(":", 1)
        mine, theirs = ("source", "target") if direction == OUTGOING else ("target", "source")
        names = {theirs: "other", mine: "relation"}
        if error.code == "self_relationship":  # whichever end it names, "other" is at fault
            names = {theirs: "other", mine: "other"}
        add_domain_error(self, _renamed(error, names))


# --- Installations, licences -----------------------------------------------------------

class SoftwareProductField(forms.ModelChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", ConfigurationItem.objects.filter(
            ci_class__key=PRODUCT_CLASS).order_by("name", "id"))
        kwargs.setdefault("empty_label", "—")
        super().__init__(**kwargs)


class InstallationForm(forms.Form):
    product = SoftwareProductField(label=_("Software product"))
    version = forms.CharField(label=_("Version"), max_length=50, required=False)

    def add_service_error(self, error: DomainError) -> None:
        add_domain_error(self, _renamed(error, {"device": "product"}))


class LicenceForm(forms.Form):
    product = SoftwareProductField(label=_("Software product"))
    name = forms.CharField(label=_("Name"), max_length=200,
                           help_text=_("Contract or agreement, e.g. “Microsoft EA 2026”."))
    metric = forms.ChoiceField(label=_("Metric"), choices=LicenceMetric.choices)
    entitlement_count = forms.IntegerField(label=_("Entitlements"), min_value=0)
    expiry_date = forms.DateField(label=_("Expiry date"), required=False,
                                  widget=_date_widget(),
                                  help_text=_("Leave empty for a perpetual licence."))
    owner_team = forms.ModelChoiceField(label=_("Owner team"), required=False,
                                        queryset=Team.objects.order_by("name"),
                                        empty_label="—",
                                        help_text=_("Warned before the licence expires."))
    supplier = forms.CharField(label=_("Supplier"), max_length=150, required=False)
    cost = forms.DecimalField(label=_("Cost"), max_digits=12, decimal_places=2,
                              required=False, min_value=Decimal(0))

    FIELDS = ("product", "name", "metric", "entitlement_count", "expiry_date", "owner_team",
              "supplier", "cost")
