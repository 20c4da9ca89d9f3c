"""Inventories from agents: a full report, or a diff against the last one the server
acknowledged (docs/agent.md → Inventory). The stored copy is what diffs apply to; the
CMDB is brought into line by fleet.reconcile."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from . import signing
from .models import Agent, Inventory

# Top-level keys an inventory may hold (anything else is refused as malformed).
KEYS = {"os", "hostname", "domain", "serial_number", "ip_addresses", "mac_addresses", "cpu",
        "memory_mb", "disks", "uptime_seconds", "software", "processes", "services",
        "sessions"}
LIST_KEYS = {"ip_addresses", "mac_addresses", "disks", "software", "processes", "services",
             "sessions"}


class BadInventory(ValueError):
    """A malformed report: the previous inventory is kept."""


def _check(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInventory("The inventory must be an object.")
    unknown = set(data) - KEYS
    if unknown:
        raise BadInventory(f"Unknown inventory keys: {', '.join(sorted(unknown))}.")
    for key in LIST_KEYS & set(data):
        if not isinstance(data[key], list):
            raise BadInventory(f"{key} must be a list.")
    return data


@transaction.atomic
def inventory_record(agent_id: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Store a full inventory or apply a diff; the reply to send the agent:
    ``inventory_ack`` with the new digest, ``inventory_resync`` when the diff's base is
    not ours, or ``error`` ``bad_inventory`` (nothing is written)."""
    try:
        if "full" in message:
            data = _check(message["full"])
        else:
            inventory = Inventory.objects.select_for_update().filter(agent_id=agent_id).first()
            if inventory is None or inventory.digest != message.get("base"):
                return {"type": "inventory_resync"}
            change = message.get("diff")
            if not isinstance(change, dict):
                raise BadInventory("diff must be an object.")
            data = dict(inventory.data)
            sets, unsets = change.get("set") or {}, change.get("unset") or []
            if not isinstance(sets, dict) or not isinstance(unsets, list):
                raise BadInventory("diff.set must be an object and diff.unset a list.")
            data.update(sets)
            for key in unsets:
                data.pop(key, None)
            _check(data)
    except BadInventory as error:
        return {"type": "error", "code": "bad_inventory", "message": str(error)}
    digest = signing.document_digest(data)
    now = timezone.now()
    Inventory.objects.update_or_create(agent_id=agent_id, defaults={
        "data": data, "digest": digest, "received_at": now})
    agent = Agent.objects.select_related("device", "device__ci_class").get(pk=agent_id)
    from .reconcile import reconcile_device

    reconcile_device(agent, data)
    return {"type": "inventory_ack", "digest": digest}
