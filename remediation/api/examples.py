"""OpenAPI examples of the remediation API: flushing the DNS cache on the devices of a
point-of-sale incident, in waves, under an approved change."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

ACTION_CREATE = OpenApiExample(
    "A built-in with a typed parameter", request_only=True,
    value={"name": "clear-pos-cache", "title": "Clear the POS client cache",
           "kind": "builtin", "builtin": "clear_directory", "platforms": ["windows"],
           "parameters": [{"name": "days", "type": "integer", "min": 1, "max": 30,
                           "required": True, "help": "Files older than this many days"}],
           "timeout_seconds": 120, "risk": "low",
           "expected_outcome": "The POS client starts in under 10 s."})

RUN_REQUEST = OpenApiExample(
    "An incident's devices in waves under an approved change", request_only=True,
    value={"action": "flush-dns", "params": {},
           "targets": {"ticket": True},
           "authority": {"kind": "change", "change": "CHG0000012",
                         "incident": "INC0000042"},
           "rollout": {"mode": "waves", "canary_size": 20, "batch_size": 500,
                       "pause_seconds": 300, "failure_threshold": 5},
           "expires_in_minutes": 240})

_EXCLUDED = [
    {"device": 5121, "name": "store-0413-pc2", "kind": "policy",
     "reason": "The device's local policy does not allow this action."},
    {"device": 5377, "name": "store-0588-pc1", "kind": "freeze",
     "reason": "Store 588 refit. A run there needs an authorised emergency change."},
]

PREVIEW_RESPONSE = OpenApiExample(
    "1,994 devices in five waves", response_only=True, status_codes=["200"],
    value={"receive": 1994, "online": 1980, "offline": 14, "excluded": _EXCLUDED,
           "excluded_by_reason": {"policy": 1, "freeze": 1},
           "waves": [20, 500, 500, 500, 474]})

_COUNTS = {"queued": 1974, "sent": 12, "running": 8, "succeeded": 0, "failed": 0,
           "timed_out": 0, "refused": 0, "cancelled": 0, "unreachable": 0}
_PENDING = {**{state: 0 for state in _COUNTS}, "queued": 500}

RUN_RESPONSE = OpenApiExample(
    "The run, its canary sent", response_only=True, status_codes=["201"],
    value={"id": 31, "reference": "RUN-31", "action": "flush-dns", "version": 7,
           "version_number": 2, "params": {}, "authority_kind": "change",
           "authority": "change CHG0000012", "change": 12, "change_number": "CHG0000012",
           "template_version": None, "incident": 42, "incident_number": "INC0000042",
           "targets": {"ticket": True},
           "rollout": {"mode": "waves", "canary_size": 20, "canary_percent": None,
                       "batch_size": 500, "pause_seconds": 300, "failure_threshold": 5},
           "resolve_incident": True, "state": "running", "stop_reason": "",
           "current_wave": 1, "wave_count": 5, "expires_at": "2026-11-24T14:00:00Z",
           "started_by": "pipeline-pos", "created_at": "2026-11-24T10:00:00Z",
           "finished_at": None, "devices": 1994, "done": 0, "succeeded": 0, "failed": 0,
           "excluded": _EXCLUDED,
           "progress": {
               "state": "running", "stop_reason": "", "devices": 1994, "current_wave": 1,
               "wave_count": 5, "counts": _COUNTS, "done": 0,
               "waves": [
                   {"number": 1, "size": 20, "canary": True, "state": "running",
                    "failure_percent": None,
                    "counts": {**_COUNTS, "queued": 0, "sent": 12, "running": 8},
                    "done": 0},
                   *[{"number": n, "size": 500 if n < 5 else 474, "canary": False,
                      "state": "pending", "failure_percent": None,
                      "counts": {**_PENDING, "queued": 500 if n < 5 else 474}, "done": 0}
                     for n in range(2, 6)]]},
           "summary": None})
