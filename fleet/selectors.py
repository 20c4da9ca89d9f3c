"""Reads of the fleet for the desk and the API, with what each page needs loaded up front
(no query per row)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from cmdb.models import Tag

from .models import Agent, EnrolmentGroup, EnrolmentSecret, Inventory, LiveQuery

PROCESSES_SHOWN = 100


def devices() -> QuerySet[Agent]:
    """Agents with their device CI, its class and tags, and their group."""
    return (Agent.objects.select_related("device", "device__ci_class", "group")
            .prefetch_related(Prefetch("device__tags", queryset=Tag.objects.order_by("name"))))


def device_inventory(agent: Agent) -> Inventory | None:
    return Inventory.objects.filter(agent=agent).first()


def inventory_summary(inventory: Inventory | None) -> dict[str, Any]:
    """What the device page and the API show of the last inventory: OS, CPU, memory,
    disks with their used share, software count, uptime and when it arrived."""
    data = inventory.data if inventory is not None else {}
    os_info = data.get("os") if isinstance(data.get("os"), dict) else {}
    cpu = data.get("cpu") if isinstance(data.get("cpu"), dict) else {}
    memory_mb = data.get("memory_mb")
    disks = []
    for disk in data.get("disks") or []:
        if isinstance(disk, dict):
            used = disk.get("used_percent")
            used = used if isinstance(used, int | float) and not isinstance(used, bool) else None
            disks.append({"mount": str(disk.get("mount") or ""), "total_gb": disk.get("total_gb"),
                          "used_percent": used,
                          "used_width": max(0, min(100, round(used))) if used is not None
                          else 0})
    software = data.get("software") if isinstance(data.get("software"), list) else []
    return {
        "received_at": inventory.received_at if inventory is not None else None,
        "os": " ".join(str(os_info.get(k) or "") for k in ("name", "version")).strip(),
        "kernel": str(os_info.get("kernel") or ""),
        "cpu_model": str(cpu.get("model") or ""),
        "cpu_cores": cpu.get("cores"),
        "memory_gb": round(memory_mb / 1024, 1) if isinstance(memory_mb, int | float)
        and not isinstance(memory_mb, bool) else None,
        "disks": disks,
        "software_count": len(software),
        "uptime_seconds": data.get("uptime_seconds"),
        "ip_addresses": [str(ip) for ip in data.get("ip_addresses") or []][:10],
    }


def _cpu(process: dict[str, Any]) -> float:
    value = process.get("cpu_percent")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def snapshot_view(inventory: Inventory | None, *,
                  processes: int = PROCESSES_SHOWN) -> dict[str, Any]:
    """The latest live snapshot: processes by CPU (busiest first, the first
    ``processes``), services (those not running first), sessions, and its time."""
    snapshot = inventory.snapshot if inventory is not None else {}
    rows = [p for p in snapshot.get("processes") or [] if isinstance(p, dict)]
    rows.sort(key=lambda p: (-_cpu(p), str(p.get("name") or "")))
    services = [s for s in snapshot.get("services") or [] if isinstance(s, dict)]
    services.sort(key=lambda s: (s.get("state") in ("running", "active"), str(s.get("name"))))
    return {
        "at": inventory.snapshot_at if inventory is not None else None,
        "processes": rows[:processes],
        "process_count": len(rows),
        "services": services,
        "sessions": [s for s in snapshot.get("sessions") or [] if isinstance(s, dict)],
    }


def live_queries() -> QuerySet[LiveQuery]:
    """Questions with their answer counts (one query for a page of them)."""
    return LiveQuery.objects.select_related("asked_by").annotate(
        answered=Count("answers"), matched=Count("answers", filter=Q(answers__matched=True)))


def enrolment_groups() -> QuerySet[EnrolmentGroup]:
    return (EnrolmentGroup.objects.select_related("owner_team")
            .prefetch_related("tags", Prefetch(
                "secrets", queryset=EnrolmentSecret.objects.select_related("created_by")))
            .annotate(device_count=Count("agents", distinct=True)))


def secret_state(secret: EnrolmentSecret, now: Any) -> str:
    """active, revoked, expired or used up (the first that applies, in that order of
    precedence: revoked, expired, used up)."""
    if secret.revoked_at is not None:
        return "revoked"
    if secret.expires_at <= now:
        return "expired"
    if secret.max_uses is not None and secret.uses >= secret.max_uses:
        return "exhausted"
    return "active"
