"""The built-in read-only actions: the live snapshot and the four fleet questions.
Each query returns ``{"matched": bool, "detail": {...}}``. None of them runs a shell."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import psutil

from . import inventory


class BadParams(ValueError):
    """The job's parameters do not fit the action; the message says which."""


def _text(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadParams(f"{key!r} must be a non-empty string")
    return value.strip()


def snapshot(params: dict[str, Any]) -> dict[str, Any]:
    return inventory.snapshot()


def process_running(params: dict[str, Any]) -> dict[str, Any]:
    """Matched when a process has that name (or that executable base name)."""
    name = _text(params, "name").lower()
    pids = []
    for proc in psutil.process_iter(["pid", "name", "exe"]):
        pname = (proc.info.get("name") or "").lower()
        exe = os.path.basename(proc.info.get("exe") or "").lower()
        if name in (pname, exe):
            pids.append(proc.info["pid"])
    return {"matched": bool(pids), "detail": {"name": name, "pids": sorted(pids),
                                              "count": len(pids)}}


STOPPED_STATES = {"dead", "failed", "inactive"}


def service_stopped(params: dict[str, Any]) -> dict[str, Any]:
    """Matched when the service exists and is not running. A service that is not
    installed is not "stopped": it is reported with ``found: false``."""
    name = _text(params, "name").removesuffix(".service")
    for service in inventory.services():
        if service["name"] == name:
            return {"matched": service["state"] in STOPPED_STATES,
                    "detail": {"name": name, "found": True, "state": service["state"]}}
    return {"matched": False, "detail": {"name": name, "found": False}}


_TOKEN = re.compile(r"~|\d+|[A-Za-z]+")


def version_key(version: str) -> tuple[int, list[tuple[Any, ...]]]:
    """dpkg-style order: an optional numeric epoch (``2:``), then the version split on
    anything that is not a letter or digit; numbers compare as integers, letters sort
    before numbers, ``~`` sorts before everything, even the end (``1.0~rc1 < 1.0``)."""
    epoch = 0
    head, sep, rest = version.partition(":")
    if sep and head.isdigit():
        epoch, version = int(head), rest
    parts: list[tuple[Any, ...]] = []
    for token in _TOKEN.findall(version):
        if token == "~":
            parts.append((0,))
        elif token.isdigit():
            parts.append((3, int(token)))
        else:
            parts.append((2, token))
    parts.append((1,))  # the end: above "~", below any letter or number
    return epoch, parts


def version_less(a: str, b: str) -> bool:
    return version_key(a) < version_key(b)


def package_below(params: dict[str, Any]) -> dict[str, Any]:
    """Matched when the package is installed at a version below ``version``."""
    name = _text(params, "name")
    wanted = _text(params, "version")
    installed = [s["version"] for s in inventory.software() if s["name"] == name]
    if not installed:
        return {"matched": False, "detail": {"name": name, "installed": False}}
    lowest = min(installed, key=version_key)
    return {"matched": version_less(lowest, wanted),
            "detail": {"name": name, "installed": True, "version": lowest,
                       "below": wanted}}


def disk_above(params: dict[str, Any]) -> dict[str, Any]:
    """Matched when any disk is fuller than ``percent``."""
    percent = params.get("percent")
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not (
            0 <= percent <= 100):
        raise BadParams("'percent' must be a number from 0 to 100")
    disks = inventory.disks()
    above = [d for d in disks if d["used_percent"] > percent]
    highest = max((d["used_percent"] for d in disks), default=0.0)
    return {"matched": bool(above),
            "detail": {"percent": percent, "above": above, "max_used_percent": highest}}


QUERIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "process_running": process_running,
    "service_stopped": service_stopped,
    "package_below": package_below,
    "disk_above": disk_above,
}


def find(kind: str, action: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    if kind == "snapshot" and action == "snapshot":
        return snapshot
    if kind == "query":
        return QUERIES.get(action)
    return None
