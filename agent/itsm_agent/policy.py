"""The local policy: what the device owner agrees to let the server run.

``policy.json`` in the config directory: ``{"allow": [entry, ...]}``. An entry is an
action name (``snapshot``, ``query:process_running``, ``restart-web``), a glob over
names (``query:*``), or ``category:<name>`` (the built-ins are ``category:read-only``;
an action job's categories come from its signed spec: ``read-only``, ``risk:<risk>``,
``builtin:<name>`` or ``script``). ``cancel`` jobs are always allowed: they only stop
things. Absent file: ``["snapshot", "query:*"]``. A file that cannot be read or parsed
allows nothing: a broken policy must not widen what runs."""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

POLICY_FILE = "policy.json"
DEFAULT_ALLOW = ("snapshot", "query:*")
QUERY_ACTIONS = ("process_running", "service_stopped", "package_below", "disk_above")

# Categories of the built-in actions. Actions added by later issues bring their own.
BUILTIN_CATEGORIES: dict[str, frozenset[str]] = {
    "snapshot": frozenset({"read-only"}),
    **{f"query:{name}": frozenset({"read-only"}) for name in QUERY_ACTIONS},
}


def action_categories(envelope: dict[str, Any]) -> frozenset[str]:
    """The categories an action job declares in its signed spec."""
    spec = envelope.get("spec")
    if envelope.get("kind") != "action" or not isinstance(spec, dict):
        return frozenset()
    found = set()
    if spec.get("read_only") is True:
        found.add("read-only")
    if isinstance(spec.get("risk"), str) and spec["risk"]:
        found.add(f"risk:{spec['risk']}")
    if spec.get("type") == "builtin" and isinstance(spec.get("builtin"), str) and \
            spec["builtin"]:
        found.add(f"builtin:{spec['builtin']}")
    elif spec.get("type") == "script":
        found.add("script")
    return frozenset(found)


def action_name(kind: str, action: str) -> str:
    """The name the policy matches: ``snapshot``, ``query:<action>`` or the action."""
    if kind == "snapshot":
        return "snapshot"
    if kind == "query":
        return f"query:{action}"
    return action


@dataclass(frozen=True)
class Policy:
    allow: tuple[str, ...] = DEFAULT_ALLOW
    source: str = "default"
    error: str = ""
    extra_categories: dict[str, frozenset[str]] = field(default_factory=dict)

    def categories(self, name: str) -> frozenset[str]:
        return BUILTIN_CATEGORIES.get(name, frozenset()) | self.extra_categories.get(
            name, frozenset())

    def allows(self, name: str, categories: frozenset[str] = frozenset()) -> bool:
        cats = self.categories(name) | categories
        for entry in self.allow:
            if entry.startswith("category:"):
                if entry.removeprefix("category:") in cats:
                    return True
            elif fnmatch.fnmatchcase(name, entry):
                return True
        return False

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"allow": list(self.allow), "source": self.source}
        if self.error:
            data["error"] = self.error
        return data


def load_policy(config_dir: Path) -> Policy:
    path = Path(config_dir) / POLICY_FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Policy()
    except OSError as exc:
        log.error("cannot read the local policy %s (%s): nothing will be allowed", path, exc)
        return Policy(allow=(), source=str(path), error=str(exc))
    try:
        data = json.loads(raw)
        allow = data["allow"]
        if not isinstance(allow, list) or not all(isinstance(e, str) and e for e in allow):
            raise ValueError('"allow" must be a list of non-empty strings')
    except (ValueError, KeyError, TypeError) as exc:
        log.error("the local policy %s is malformed (%s): nothing will be allowed", path, exc)
        return Policy(allow=(), source=str(path), error=f"malformed: {exc}")
    return Policy(allow=tuple(allow), source=str(path))
