"""The checks a job passes before anything runs (AGENT.md, "Job envelope").

In order: ``bad_signature``, ``wrong_agent``, (an execution id already run is answered
from the record), ``not_yet_valid`` / ``expired``, ``replayed``, ``hash_mismatch``,
``not_allowed``. A verified envelope that cannot be read (a missing field, a time that is
not ISO-8601) is refused ``bad_envelope``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .diff import canonical_json
from .policy import Policy, action_categories, action_name
from .state import State, canonical_id

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=60)
REASONS = ("bad_signature", "wrong_agent", "not_yet_valid", "expired", "replayed",
           "hash_mismatch", "not_allowed", "bad_envelope")
KINDS = ("snapshot", "query", "action", "cancel")
# Names an action job may not take: they are what the policy calls the other kinds.
RESERVED_ACTIONS = ("snapshot", "cancel")

__all__ = ["CLOCK_SKEW", "REASONS", "Verdict", "canonical_json", "check_job",
           "load_public_keys", "parse_time", "verify_signature"]


def load_public_keys(signing_keys: list[dict[str, str]]) -> dict[str, Ed25519PublicKey]:
    """The pinned keys by key_id; a key that does not decode is skipped and logged."""
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in signing_keys or []:
        try:
            raw = base64.b64decode(entry["public_key"], validate=True)
            keys[str(entry["key_id"])] = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            log.warning("ignoring a pinned signing key that does not decode: %s", exc)
    return keys


def verify_signature(envelope: Any, signature: Any, key_id: Any,
                     keys: dict[str, Ed25519PublicKey]) -> bool:
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None or not isinstance(envelope, dict) or not isinstance(signature, str):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical_json(envelope))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def parse_time(value: Any) -> datetime:
    """ISO-8601; a time without an offset is UTC (the contract says UTC)."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Verdict:
    """``run`` true: every check passed. Otherwise ``reason`` is a refusal code, or
    ``record`` holds what the agent already answered for this execution id."""

    run: bool
    reason: str = ""
    record: dict[str, Any] | None = None
    # The signature verified and the envelope is ours: the refusal may be recorded
    # against the execution id.
    verified: bool = False


def check_job(job: Any, *, agent_id: str, keys: dict[str, Ed25519PublicKey], policy: Policy,
              state: State, now: datetime | None = None) -> Verdict:
    now = now or datetime.now(UTC)
    envelope = job.get("envelope") if isinstance(job, dict) else None
    if not isinstance(job, dict) or not verify_signature(
            envelope, job.get("signature"), job.get("key_id"), keys):
        return Verdict(False, "bad_signature")
    assert isinstance(envelope, dict)
    if canonical_id(envelope.get("agent_id")) != canonical_id(agent_id) or not agent_id:
        return Verdict(False, "wrong_agent")
    execution_id = envelope.get("execution_id")
    if canonical_id(execution_id) is None:
        return Verdict(False, "bad_envelope")
    record = state.record(str(execution_id))
    if record is not None:
        # Already run (or refused after verification): never again; answer from the record.
        return Verdict(False, "already_run", record=record, verified=True)
    try:
        not_before = parse_time(envelope.get("not_before"))
        expires_at = parse_time(envelope.get("expires_at"))
        sequence = envelope.get("sequence")
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ValueError("sequence is not an integer")
        if envelope.get("kind") not in KINDS or not isinstance(envelope.get("action"), str):
            raise ValueError("kind or action")
        script = envelope.get("script", "")
        script_sha = envelope.get("script_sha256", "")
        if not isinstance(script, str) or not isinstance(script_sha, str):
            raise ValueError("script or script_sha256")
        if not isinstance(envelope.get("params", {}), dict):
            raise ValueError("params")
        _check_kind(envelope)
    except ValueError as exc:
        log.warning("job %s: unreadable envelope (%s)", execution_id, exc)
        return Verdict(False, "bad_envelope", verified=True)
    if now < not_before - CLOCK_SKEW:
        return Verdict(False, "not_yet_valid", verified=True)
    if now > expires_at:
        return Verdict(False, "expired", verified=True)
    if sequence <= state.highest_sequence():
        # Not recorded: the id is new but the sequence is old, so it was never ours to run.
        return Verdict(False, "replayed")
    if script or script_sha:
        actual = hashlib.sha256(script.encode()).hexdigest()
        if actual != script_sha.lower():
            return Verdict(False, "hash_mismatch", verified=True)
    # A cancel only ever stops something: the policy does not hold it back.
    if envelope["kind"] != "cancel" and not policy.allows(
            action_name(envelope["kind"], envelope["action"]), action_categories(envelope)):
        return Verdict(False, "not_allowed", verified=True)
    if envelope["kind"] == "action":
        problem = spec_problem(envelope.get("spec"), envelope)
        if problem:
            log.warning("job %s: unreadable action spec (%s)", execution_id, problem)
            return Verdict(False, "bad_envelope", verified=True)
    return Verdict(True, verified=True)


def _check_kind(envelope: dict[str, Any]) -> None:
    kind, action = envelope["kind"], envelope["action"]
    if kind == "action" and (action in RESERVED_ACTIONS or ":" in action or not action):
        raise ValueError(f"an action cannot be called {action!r}")
    if kind == "cancel":
        params = envelope.get("params") or {}
        if action != "cancel" or canonical_id(params.get("execution_id")) is None:
            raise ValueError("a cancel names the execution_id it cancels")


SPEC_TYPES = ("builtin", "script")
RISKS = ("low", "medium", "high")


def spec_problem(spec: Any, envelope: dict[str, Any]) -> str:
    """What is wrong with an action's spec (its shape only), or ""; checked after the
    policy so a device owner's "no" is what the server hears first."""
    if not isinstance(spec, dict):
        return "spec is missing"
    if spec.get("type") not in SPEC_TYPES:
        return "type"
    if spec["type"] == "builtin" and not (isinstance(spec.get("builtin"), str)
                                          and spec["builtin"]):
        return "builtin"
    if spec["type"] == "script" and not (isinstance(spec.get("interpreter"), str)
                                         and spec["interpreter"] and envelope.get("script")):
        return "interpreter or script"
    timeout = spec.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        return "timeout"
    if not isinstance(spec.get("run_as", ""), str):
        return "run_as"
    if not isinstance(spec.get("read_only", False), bool):
        return "read_only"
    if spec.get("risk", "low") not in RISKS:
        return "risk"
    parameters = spec.get("parameters", [])
    if not isinstance(parameters, list) or not all(
            isinstance(p, dict) and isinstance(p.get("name"), str) for p in parameters):
        return "parameters"
    return ""
