"""Inventory → CMDB: bring an agent's device CI into line with what the agent reports.

The device's common fields (hostname, domain, first IP, first MAC, serial) and the
attributes its class defines (os, memory_gb, cpu_cores) go through ``cmdb.services.
ci_update``, so they are validated against the class schema and the identification rule
and audited. Only what changed is written: an unchanged inventory (most reports, which
differ only in uptime) writes nothing and records no audit entry.

Software becomes ``Installation`` rows (source "agent") for the packages whose name
matches a software product CI (case-insensitive): new ones are added, agent rows whose
package is gone are removed, changed versions are updated; rows entered by hand or by
import are left alone (the agent may not see everything, e.g. on platforms whose package
list is a documented gap). The rows are written in bulk with one audit entry on the
device per reconciliation, rather than ``cmdb.licences.installation_add`` per row: a
first inventory of a fleet would otherwise cost queries and audit entries per package."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from audit.context import acting_as_system
from audit.models import AuditAction
from audit.services import audit_record
from cmdb.licences import DEVICE_CLASSES, PRODUCT_CLASS
from cmdb.models import ConfigurationItem, Installation, InstallationSource
from cmdb.services import normalise_mac
from itsm.errors import DomainError

from .models import Agent

logger = logging.getLogger(__name__)

# Identifier fields: when the identification rule refuses them (another CI already has
# that serial or hostname) the rest of the inventory is still applied.
IDENTIFIERS = ("hostname", "domain", "serial_number", "mac_address")
NAME_BATCH = 500  # product names matched per query (bounded, never one per package)
VERSION_LENGTH = Installation._meta.get_field("version").max_length or 50


def _text(value: Any, limit: int = 255) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _first_ip(values: Any) -> str | None:
    for value in values if isinstance(values, list) else []:
        try:
            return str(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            continue
    return None


def _first_mac(values: Any) -> str:
    for value in values if isinstance(values, list) else []:
        try:
            mac = normalise_mac(str(value))
        except DomainError:
            continue
        if mac and mac != "00:00:00:00:00:00":
            return mac
    return ""


def os_label(data: dict[str, Any]) -> str:
    """"Ubuntu 24.04": the name and version the agent reported (as at enrolment)."""
    os_info = data.get("os") if isinstance(data.get("os"), dict) else {}
    return " ".join(filter(None, (_text(os_info.get("name"), 100),
                                  _text(os_info.get("version"), 100))))


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else round(float(value), 1)


def _field_changes(device: ConfigurationItem, data: dict[str, Any]) -> dict[str, Any]:
    """Common fields the inventory sets to something new. An empty report never clears
    a value (the agent may simply not know it)."""
    wanted = {
        "hostname": _text(data.get("hostname")),
        "domain": _text(data.get("domain")),
        "serial_number": _text(data.get("serial_number"), 100),
        "mac_address": _first_mac(data.get("mac_addresses")),
    }
    changes = {name: value for name, value in wanted.items()
               if value and value != getattr(device, name)}
    ip = _first_ip(data.get("ip_addresses"))
    if ip and ip != device.ip_address:
        changes["ip_address"] = ip
    return changes


def _attribute_changes(device: ConfigurationItem, data: dict[str, Any]) -> dict[str, Any]:
    """The class's attributes the inventory knows (os, memory_gb, cpu_cores), changed."""
    from .services import device_os_choice

    keys = {d.key for d in device.ci_class.attributes.all()}
    current = device.attributes or {}
    wanted: dict[str, Any] = {}
    label = os_label(data)
    if "os" in keys and label and str(current.get("os", "")).lower() != label.lower():
        # Only asked when it differs: device_os_choice may add the OS to the choices.
        choice = device_os_choice(device.ci_class, label)
        if choice:
            wanted["os"] = choice
    memory_mb = _number(data.get("memory_mb"))
    if "memory_gb" in keys and memory_mb:
        wanted["memory_gb"] = _number(round(memory_mb / 1024, 1))
    cpu = data.get("cpu") if isinstance(data.get("cpu"), dict) else {}
    cores = _number(cpu.get("cores"))
    if "cpu_cores" in keys and cores:
        wanted["cpu_cores"] = cores
    # form_factor: the inventory does not report the chassis; left as recorded.
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def _update_ci(device: ConfigurationItem, changes: dict[str, Any]) -> ConfigurationItem:
    from cmdb.services import ci_update

    try:
        with transaction.atomic():
            return ci_update(actor=None, ci=device, **changes)
    except DomainError as error:
        kept = {k: v for k, v in changes.items() if k not in IDENTIFIERS}
        logger.warning("Inventory of %s not applied in full (%s): %s", device.pk,
                       ", ".join(sorted(error.fields)) or error.code, error.message)
        if kept == changes or not kept:
            return device
        try:
            with transaction.atomic():
                return ci_update(actor=None, ci=device, **kept)
        except DomainError as again:
            logger.warning("Inventory of %s not applied: %s", device.pk, again.message)
            return device


def _reported_software(data: dict[str, Any]) -> dict[str, str]:
    """Lower-cased package name → version (the first one reported of each name)."""
    found: dict[str, str] = {}
    for package in data.get("software") or []:
        if not isinstance(package, dict):
            continue
        name = _text(package.get("name"), 200).lower()
        if name and name not in found:
            found[name] = _text(package.get("version"), VERSION_LENGTH)
    return found


def _products(names: Iterable[str]) -> dict[str, ConfigurationItem]:
    """Software product CIs by lower-cased name, in batches of NAME_BATCH names. When
    two products share a name the older one is used."""
    names = sorted(set(names))
    products: dict[str, ConfigurationItem] = {}
    for start in range(0, len(names), NAME_BATCH):
        batch = names[start:start + NAME_BATCH]
        for product in (ConfigurationItem.objects.filter(ci_class__key=PRODUCT_CLASS)
                        .annotate(lowered=Lower("name")).filter(lowered__in=batch)
                        .only("pk", "name").order_by("pk")):
            products.setdefault(product.lowered, product)  # type: ignore[attr-defined]
    return products


def _label(name: str, version: str) -> str:
    return f"{name} {version}".strip()


def reconcile_software(device: ConfigurationItem, data: dict[str, Any]) -> dict[str, Any]:
    """Installations of software products from the inventory's software list; the
    changes recorded (``{}`` when nothing changed). Needs ``software`` in ``data``."""
    if device.ci_class.key not in DEVICE_CLASSES or not isinstance(data.get("software"),
                                                                     list):
        return {}
    reported = _reported_software(data)
    products = _products(reported)
    wanted = {product.pk: (product, reported[name]) for name, product in products.items()}
    existing = {row.product_id: row for row in
                Installation.objects.filter(device=device).select_related("product")}
    added, removed, updated = [], [], []
    for product_id, (product, version) in wanted.items():
        row = existing.get(product_id)
        if row is None:
            added.append(Installation(product=product, device=device, version=version,
                                      source=InstallationSource.AGENT))
        elif row.source == InstallationSource.AGENT and row.version != version:
            updated.append((row, row.version))
            row.version = version
    gone = [row for product_id, row in existing.items()
            if product_id not in wanted and row.source == InstallationSource.AGENT]
    removed = [_label(row.product.name, row.version) for row in gone]
    if gone:
        Installation.objects.filter(pk__in=[row.pk for row in gone]).delete()
    if added:
        # ignore_conflicts: a concurrent writer (a person, another report) may have
        # recorded the same product a moment ago; the unique constraint keeps one row.
        Installation.objects.bulk_create(added, ignore_conflicts=True, batch_size=500)
    if updated:
        Installation.objects.bulk_update([row for row, _old in updated], ["version"],
                                         batch_size=500)
    before = sorted(removed + [_label(row.product.name, old) for row, old in updated])
    after = sorted([_label(row.product.name, row.version) for row in added]
                   + [_label(row.product.name, row.version) for row, _old in updated])
    if not before and not after:
        return {}
    changes = {"installed_software": [before or None, after or None]}
    audit_record(action=AuditAction.UPDATE, target=device, changes=changes,
                 message="Endpoint agent inventory")
    return changes


@transaction.atomic
def reconcile_device(agent: Agent, data: dict[str, Any]) -> None:
    """Apply one agent's inventory to its device CI (called by ``inventory_record`` inside
    its transaction, after the inventory is stored)."""
    device = agent.device
    hostname = _text(data.get("hostname")) or agent.hostname
    with acting_as_system(f"agent inventory ({hostname or agent.pk})"):
        changes = _field_changes(device, data)
        attributes = _attribute_changes(device, data)
        if attributes:
            changes["attributes"] = {**(device.attributes or {}), **attributes}
        if changes:
            device = _update_ci(device, changes)
        reconcile_software(device, data)
    # The agent's own copy of the facts the fleet list shows (not audited: presence-like).
    facts = {"hostname": hostname[:255], "os_name": os_label(data)[:200] or agent.os_name}
    stale = {k: v for k, v in facts.items() if v and getattr(agent, k) != v}
    if stale:
        Agent.objects.filter(pk=agent.pk).update(**stale)
        for name, value in stale.items():
            setattr(agent, name, value)
