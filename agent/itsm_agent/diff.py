"""Canonical JSON, inventory digests and top-level diffs (AGENT.md, "Inventory")."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """The one byte form the agent and the server sign and hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def digest(inventory: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inventory)).hexdigest()


def make_diff(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``set`` holds top-level keys whose value changed or appeared, ``unset`` the keys
    that went away. Values are compared in canonical form so key order never counts."""
    changed = {key: value for key, value in new.items()
               if key not in base or canonical_json(base[key]) != canonical_json(value)}
    removed = sorted(key for key in base if key not in new)
    return {"set": changed, "unset": removed}


def apply_diff(base: dict[str, Any], diff: dict[str, Any]) -> dict[str, Any]:
    result = {key: value for key, value in base.items() if key not in diff.get("unset", [])}
    result.update(diff.get("set", {}))
    return result


def is_empty(diff: dict[str, Any]) -> bool:
    return not diff.get("set") and not diff.get("unset")
