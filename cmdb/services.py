"""Writes to the CMDB. Every path (desk, API, import, discovery, the agent later) comes
through here: attributes are validated against the class schema, identification rules
keep each CI unique, relationships are checked against the classes they join, and every
change is audited."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.services import reject_unknown_fields, require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from itsm.errors import Conflict, DomainError

from .models import (
    CI_LIFECYCLE,
    AttributeDefinition,
    AttributeType,
    CIClass,
    ConfigurationItem,
    Relationship,
    RelationshipType,
    Tag,
)

# Fields a CI write may set (status moves through ci_transition; identity is computed).
CI_FIELDS = (
    "name", "ci_class", "description", "owner_team", "criticality", "location",
    "environment", "serial_number", "asset_tag", "hostname", "domain", "ip_address",
    "mac_address", "vendor", "product_model", "attributes", "purchase_date", "cost",
    "supplier", "warranty_end", "lease_end", "assigned_to", "stock_location",
)
IDENTIFIER_FIELDS = ("serial_number", "asset_tag", "hostname", "mac_address")
_MAC = re.compile(r"^[0-9a-f]{12}$")
_TRUE = {"true", "yes", "1", "y", "on"}
_FALSE = {"false", "no", "0", "n", "off", ""}


# --- Attributes -----------------------------------------------------------------------

def _attribute_value(definition: AttributeDefinition, raw: Any) -> Any:
    """The stored form of one attribute value, or ValueError saying what is wrong."""
    kind = definition.type
    if kind == AttributeType.TEXT:
        return str(raw).strip()
    if kind == AttributeType.NUMBER:
        if isinstance(raw, bool):
            raise ValueError(_("Enter a number."))
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation as error:
            raise ValueError(_("Enter a number.")) from error
        if not number.is_finite():
            raise ValueError(_("Enter a number."))
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == AttributeType.DATE:
        if isinstance(raw, datetime.date):
            return raw.isoformat()
        try:
            return datetime.date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError as error:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from error
    if kind == AttributeType.CHOICE:
        value = str(raw).strip()
        if value not in definition.choices:
            raise ValueError(_("Choose one of: %(choices)s.")
                             % {"choices": ", ".join(definition.choices)})
        return value
    if kind == AttributeType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(_("Enter yes or no."))
    if kind == AttributeType.REFERENCE:
        target = raw.pk if isinstance(raw, ConfigurationItem) else raw
        try:
            target_id = int(str(target).strip())
        except ValueError as error:
            raise ValueError(_("Enter the id of a configuration item.")) from error
        query = ConfigurationItem.objects.filter(pk=target_id)
        if definition.reference_class_id:
            query = query.filter(ci_class_id=definition.reference_class_id)
        if not query.exists():
            raise ValueError(_("No such configuration item of the right class."))
        return target_id
    raise ValueError(_("Unknown attribute type."))


def clean_attributes(ci_class: CIClass, data: dict[str, Any] | None) -> dict[str, Any]:
    """Validate ``data`` against the class schema; return the values to store.

    Unknown keys, wrong types and missing required values are refused, each named as
    ``attributes.<key>``. Empty values of optional attributes are dropped."""
    data = dict(data or {})
    definitions = {d.key: d for d in ci_class.attributes.all()}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - set(definitions)):
        errors[f"attributes.{key}"] = [
            _("The class %(cls)s has no attribute %(key)s.") % {"cls": ci_class.name,
                                                                 "key": key}]
    cleaned: dict[str, Any] = {}
    for key, definition in definitions.items():
        raw = data.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if definition.required:
                errors[f"attributes.{key}"] = [_("%(label)s is required.")
                                               % {"label": definition.label}]
            continue
        try:
            cleaned[key] = _attribute_value(definition, raw)
        except ValueError as error:
            errors[f"attributes.{key}"] = [f"{definition.label}: {error}"]
    if errors:
        raise DomainError(next(iter(errors.values()))[0], fields=errors)
    return cleaned


# --- Identification -------------------------------------------------------------------

def normalise_mac(value: str) -> str:
    if not (value or "").strip():
        return ""
    digits = re.sub(r"[\s:.-]", "", value).lower()
    if not _MAC.match(digits):
        raise DomainError(_("Enter a MAC address such as 00:1a:2b:3c:4d:5e."),
                          fields={"mac_address": [_("Not a MAC address.")]})
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def identity_of(*, serial_number: str = "", asset_tag: str = "", hostname: str = "",
                domain: str = "", mac_address: str = "") -> tuple[str | None, str | None]:
    """The identification rule: serial number, else asset tag, else hostname + domain,
    else MAC. Returns (identity key, the field that decided it)."""
    if serial_number.strip():
        return f"serial:{serial_number.strip().upper()}", "serial_number"
    if asset_tag.strip():
        return f"tag:{asset_tag.strip().upper()}", "asset_tag"
    if hostname.strip():
        host = hostname.strip().lower().rstrip(".")
        zone = domain.strip().lower().strip(".")
        return f"host:{host}.{zone}" if zone else f"host:{host}", "hostname"
    if mac_address.strip():
        return f"mac:{normalise_mac(mac_address)}", "mac_address"
    return None, None


def _differs(mine: str, theirs: str) -> bool:
    return bool(mine and theirs and mine.strip().lower() != theirs.strip().lower())


def _contradicts(ci: ConfigurationItem, ids: dict[str, str]) -> bool:
    """True when the CI and the identifiers both carry a value for some identifier and
    the values differ: then they are two different things."""
    if _differs(ci.serial_number, ids["serial_number"]) or _differs(ci.asset_tag,
                                                                    ids["asset_tag"]):
        return True
    if ids["hostname"] and ci.hostname and (
        _differs(ci.hostname.rstrip("."), ids["hostname"].rstrip("."))
        or _differs(ci.domain.strip("."), ids["domain"].strip(".") or ci.domain.strip("."))
    ):
        return True
    return bool(ids["mac_address"] and ci.mac_address
                and ci.mac_address != normalise_mac(ids["mac_address"]))


def ci_find_identified(*, exclude_pk: int | None = None,
                       **identifiers: str) -> ConfigurationItem | None:
    """The CI these identifiers identify, if any.

    First the identification rule's own key (serial, else asset tag, else hostname +
    domain, else MAC). Then a CI that shares any identifier and contradicts none, so a
    row that knows only the hostname still finds the server recorded by its serial."""
    ids = {f: (identifiers.get(f) or "").strip()
           for f in ("serial_number", "asset_tag", "hostname", "domain", "mac_address")}
    key, _field = identity_of(**ids)
    if key is None:
        return None
    items = ConfigurationItem.objects.select_related("ci_class")
    if exclude_pk is not None:
        items = items.exclude(pk=exclude_pk)
    exact = items.filter(identity=key).first()
    if exact is not None:
        return exact
    shared = Q(pk__in=[])
    if ids["serial_number"]:
        shared |= Q(serial_number__iexact=ids["serial_number"])
    if ids["asset_tag"]:
        shared |= Q(asset_tag__iexact=ids["asset_tag"])
    if ids["hostname"]:
        shared |= Q(hostname__iexact=ids["hostname"].rstrip("."))
    if ids["mac_address"]:
        shared |= Q(mac_address=normalise_mac(ids["mac_address"]))
    for candidate in items.filter(shared).order_by("pk")[:20]:
        if not _contradicts(candidate, ids):
            return candidate
    return None


def _check_identity(ci: ConfigurationItem) -> None:
    key, field = identity_of(serial_number=ci.serial_number, asset_tag=ci.asset_tag,
                             hostname=ci.hostname, domain=ci.domain,
                             mac_address=ci.mac_address)
    ci.identity = key
    if key is None:
        return
    existing = ci_find_identified(
        exclude_pk=ci.pk, serial_number=ci.serial_number, asset_tag=ci.asset_tag,
        hostname=ci.hostname, domain=ci.domain, mac_address=ci.mac_address)
    if existing is not None:
        raise Conflict(
            _("This is already recorded as %(name)s (CI %(id)s).")
            % {"name": existing.name, "id": existing.pk},
            code="duplicate_ci",
            fields={field: [_("Matches %(name)s (CI %(id)s).")
                            % {"name": existing.name, "id": existing.pk}]},
        )


def tags_get_or_create(names: Iterable[str]) -> list[Tag]:
    """Tags by name (slugified; made when new): the CMDB's one tag rule."""
    tags = []
    for name in names:
        slug = slugify(str(name))[:50]
        if not slug:
            raise DomainError(_("Tags need letters or digits."),
                              fields={"tags": [_("Invalid tag: %(tag)r") % {"tag": name}]})
        tags.append(Tag.objects.get_or_create(name=slug)[0])
    return tags


def _prepare(ci: ConfigurationItem) -> None:
    ci.mac_address = normalise_mac(ci.mac_address)
    ci.attributes = clean_attributes(ci.ci_class, ci.attributes)
    validated(ci, exclude=["identity"])
    _check_identity(ci)


# --- Configuration items --------------------------------------------------------------

@transaction.atomic
@as_actor
def ci_create(*, actor: Any, name: str, ci_class: CIClass, tags: Iterable[str] = (),
              status: str | None = None, **fields: Any) -> ConfigurationItem:
    require_permission(actor, "cmdb.add_configurationitem")
    reject_unknown_fields(fields, CI_FIELDS)
    ci = ConfigurationItem(name=name, ci_class=ci_class, **fields)
    ci.status = status or CI_LIFECYCLE.initial
    _prepare(ci)
    try:
        with transaction.atomic():
            ci.save()
    except IntegrityError as error:  # a concurrent write took the identity first
        raise Conflict(_("This configuration item was just recorded by someone else."),
                       code="duplicate_ci") from error
    tag_list = tags_get_or_create(tags)
    ci.tags.set(tag_list)
    initial = {k: v for k, v in snapshot(ci, ("name", "ci_class", "status", *CI_FIELDS[2:]))
               .items() if v not in (None, "", {}, [])}
    audit_record(action=AuditAction.CREATE, target=ci, changes={
        **diff({}, initial),
        **({"tags": [None, sorted(t.name for t in tag_list)]} if tag_list else {}),
    })
    return ci


@transaction.atomic
@as_actor
def ci_update(*, actor: Any, ci: ConfigurationItem, tags: Iterable[str] | None = None,
              **changes: Any) -> ConfigurationItem:
    require_permission(actor, "cmdb.change_configurationitem")
    reject_unknown_fields(changes, CI_FIELDS)
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    before = snapshot(ci, changes)
    old_tags = sorted(ci.tags.values_list("name", flat=True))
    for name, value in changes.items():
        setattr(ci, name, value)
    _prepare(ci)
    changed = diff(before, snapshot(ci, changes))
    if tags is not None:
        new_tags = tags_get_or_create(tags)
        if sorted(t.name for t in new_tags) != old_tags:
            ci.tags.set(new_tags)
            changed["tags"] = [old_tags, sorted(t.name for t in new_tags)]
    if changed:
        ci.save()
        audit_record(action=AuditAction.UPDATE, target=ci, changes=changed)
    return ci


@transaction.atomic
@as_actor
def ci_transition(*, actor: Any, ci: ConfigurationItem, to_status: str,
                  note: str = "") -> ConfigurationItem:
    """Move a CI along its declared lifecycle (planned → in stock → operational …)."""
    ci = ConfigurationItem.objects.select_for_update().get(pk=ci.pk)
    transition = CI_LIFECYCLE.check(ci, to_status, actor, {})
    before = ci.status
    ci.status = to_status
    ci.save(update_fields=["status", "updated_at"])
    audit_record(action=AuditAction.TRANSITION, target=ci,
                 changes={"status": [before, to_status]},
                 message=f"{transition.label}{': ' + note if note else ''}")
    return ci


def ci_available_transitions(ci: ConfigurationItem, user: Any) -> list[Any]:
    return CI_LIFECYCLE.available(ci, user)


@transaction.atomic
@as_actor
def ci_upsert_identified(*, actor: Any, values: dict[str, Any],
                         tags: Iterable[str] | None = None) -> tuple[ConfigurationItem, bool]:
    """For imports and discovery: update the CI the identification rule finds, else
    create one. Returns (ci, created)."""
    identifiers = {f: values.get(f, "") or "" for f in IDENTIFIER_FIELDS}
    existing = ci_find_identified(**identifiers, domain=values.get("domain", "") or "")
    if existing is None and not any(v.strip() for v in identifiers.values()):
        # Nothing to identify it by (a business service, an application): the same name
        # in the same class is the same CI, when there is exactly one.
        named = list(ConfigurationItem.objects.filter(
            ci_class=values["ci_class"], name__iexact=str(values.get("name", "")).strip(),
            identity__isnull=True)[:2])
        existing = named[0] if len(named) == 1 else None
    if existing is None:
        data = dict(values)
        return ci_create(actor=actor, name=data.pop("name"), ci_class=data.pop("ci_class"),
                         tags=tags or (), **data), True
    changes = {k: v for k, v in values.items() if k != "status"}
    if "attributes" in changes:  # a partial row keeps the attributes it does not name
        changes["attributes"] = {**existing.attributes, **(changes["attributes"] or {})}
    return ci_update(actor=actor, ci=existing, tags=tags, **changes), False


# --- Relationships --------------------------------------------------------------------

def relationship_check(source: ConfigurationItem, target: ConfigurationItem,
                       rel_type: RelationshipType) -> None:
    """Refuse links to itself and links the relationship type does not allow between
    these classes."""
    if source.pk == target.pk:
        raise DomainError(_("A configuration item cannot be related to itself."),
                          code="self_relationship", fields={"target": [_("Choose another CI.")]})
    sources = set(rel_type.allowed_sources.values_list("pk", flat=True))
    targets = set(rel_type.allowed_targets.values_list("pk", flat=True))
    names = {"rel": rel_type.name, "src": source.ci_class.name, "cls": target.ci_class.name}
    if sources and source.ci_class_id not in sources:
        raise DomainError(
            _("“%(rel)s” cannot start from a CI of class %(src)s.") % names,
            code="class_not_allowed", fields={"source": [_("Class not allowed here.")]})
    if targets and target.ci_class_id not in targets:
        raise DomainError(
            _("“%(rel)s” cannot link a CI of class %(src)s to one of class %(cls)s.") % names,
            code="class_not_allowed", fields={"target": [_("Class not allowed here.")]})


@transaction.atomic
@as_actor
def relationship_create(*, actor: Any, source: ConfigurationItem, target: ConfigurationItem,
                        type: RelationshipType) -> Relationship:
    require_permission(actor, "cmdb.add_relationship")
    relationship_check(source, target, type)
    try:
        with transaction.atomic():
            relationship = Relationship.objects.create(source=source, target=target, type=type)
    except IntegrityError as error:
        raise Conflict(_("%(source)s already %(rel)s %(target)s.")
                       % {"source": source.name, "rel": type.name, "target": target.name},
                       fields={"target": [_("Already related this way.")]}) from error
    audit_record(action=AuditAction.UPDATE, target=source, changes={
        "relationships": [None, f"{type.name} {target.name} (CI {target.pk})"]})
    audit_record(action=AuditAction.UPDATE, target=target, changes={
        "relationships": [None, f"{type.reverse_name} {source.name} (CI {source.pk})"]})
    return relationship


@transaction.atomic
@as_actor
def relationship_delete(*, actor: Any, relationship: Relationship) -> None:
    require_permission(actor, "cmdb.delete_relationship")
    source, target, rel_type = relationship.source, relationship.target, relationship.type
    relationship.delete()
    audit_record(action=AuditAction.UPDATE, target=source, changes={
        "relationships": [f"{rel_type.name} {target.name} (CI {target.pk})", None]})
    audit_record(action=AuditAction.UPDATE, target=target, changes={
        "relationships": [f"{rel_type.reverse_name} {source.name} (CI {source.pk})", None]})
