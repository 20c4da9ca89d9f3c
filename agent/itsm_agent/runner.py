"""Checking and running jobs, and the result messages.

``JobProcessor.accept`` runs the envelope checks (fast, on the event loop) and says what
to do; ``JobProcessor.execute`` runs an accepted job (in a worker thread) and records its
result, and answers a ``cancel`` at once. ``run_script`` (scripts.py) is the one way to
execute a script: argv and environment only, never shell text."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import builtins
from .actions import execute_action
from .envelope import check_job
from .policy import Policy
from .process import OUTPUT_CAP, Cancellation
from .remedies import DEFAULT_CLEARABLE_ROOTS
from .scripts import ScriptResult, make_result, run_script, script_args, script_env
from .state import State, canonical_id, now_iso

log = logging.getLogger(__name__)

__all__ = ["OUTPUT_CAP", "Decision", "JobProcessor", "ScriptResult", "execute",
           "make_result", "run_script", "script_args", "script_env"]


# -- jobs ----------------------------------------------------------------------------
def execute(envelope: dict[str, Any], *, cancellation: Cancellation | None = None,
            on_started: Callable[[], None] | None = None,
            clearable_roots: Sequence[str] = DEFAULT_CLEARABLE_ROOTS) -> dict[str, Any]:
    """Run an accepted envelope (a read-only built-in or an action) and build its
    result."""
    if envelope["kind"] == "action":
        return execute_action(envelope, cancellation=cancellation, on_started=on_started,
                              clearable_roots=clearable_roots)
    execution_id = str(envelope["execution_id"])
    started = time.monotonic()
    func = builtins.find(envelope["kind"], envelope["action"])
    if func is None:
        return make_result(execution_id, "failed", "unknown_action",
                           stderr=f"this agent has no action {envelope['kind']}:"
                                  f"{envelope['action']}")
    try:
        data = func(envelope.get("params") or {})
    except builtins.BadParams as exc:
        return make_result(execution_id, "failed", "bad_params", stderr=str(exc),
                           duration_ms=int((time.monotonic() - started) * 1000))
    except Exception as exc:
        log.exception("job %s (%s) failed", execution_id, envelope["action"])
        return make_result(execution_id, "failed", "error", stderr=f"{type(exc).__name__}: "
                           f"{exc}", duration_ms=int((time.monotonic() - started) * 1000))
    return make_result(execution_id, "succeeded", data=data,
                       duration_ms=int((time.monotonic() - started) * 1000))


@dataclass
class Decision:
    """``envelope`` set: run it. ``result`` set: send it (a refusal or a stored answer).
    Neither: nothing to do (the same id is running right now)."""

    envelope: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class JobProcessor:
    def __init__(self, state: State, agent_id: str,
                 keys: Callable[[], dict[str, Ed25519PublicKey]],
                 policy: Callable[[], Policy],
                 clearable_roots: Sequence[str] = DEFAULT_CLEARABLE_ROOTS) -> None:
        self.state, self.agent_id = state, agent_id
        self._keys, self._policy = keys, policy
        self.clearable_roots = tuple(clearable_roots)
        # Running here now, each with what a cancel uses to stop it.
        self._running: dict[str, Cancellation] = {}
        self._lock = threading.Lock()

    def accept(self, job: Any, now: datetime | None = None) -> Decision:
        verdict = check_job(job, agent_id=self.agent_id, keys=self._keys(),
                            policy=self._policy(), state=self.state, now=now)
        envelope = job.get("envelope") if isinstance(job, dict) else None
        raw_id = envelope.get("execution_id") if isinstance(envelope, dict) else None
        if canonical_id(raw_id) is None:
            log.warning("dropping a job without a usable execution_id (%s)", verdict.reason)
            return Decision()
        execution_id = str(raw_id)
        if verdict.record is not None:
            return self._from_record(execution_id, verdict.record)
        if not verdict.run:
            log.warning("job %s refused: %s", execution_id, verdict.reason)
            result = make_result(execution_id, "refused", verdict.reason)
            if verdict.verified:
                self.state.put_record(execution_id, self._record("done", envelope, result))
                if verdict.reason in ("hash_mismatch", "not_allowed"):
                    self.state.raise_sequence(envelope["sequence"])  # type: ignore[index]
            return Decision(result=result)
        assert isinstance(envelope, dict)
        if envelope["kind"] == "cancel":
            return Decision(result=self._cancel(envelope))
        # Written before running: a crash mid-job leaves a "running" record, answered as
        # failed on restart, so the job is never run twice.
        self.state.put_record(execution_id, self._record("running", envelope, None))
        self.state.raise_sequence(envelope["sequence"])
        with self._lock:
            self._running[canonical_id(execution_id) or execution_id] = Cancellation()
        return Decision(envelope=envelope)

    def _cancel(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Stop the execution a ``cancel`` names: kill it if it runs here; if it never
        arrived, record it as cancelled so it is answered so and never run; if it
        finished, leave it. The cancel's own result says which it was."""
        execution_id = str(envelope["execution_id"])
        target = canonical_id((envelope.get("params") or {}).get("execution_id"))
        assert target is not None  # check_job refused a cancel without one
        with self._lock:
            running = self._running.get(target)
        if running is not None:
            running.cancel()
            was = "running"
        elif self.state.record(target) is not None:
            was = "finished"
        else:
            was = "not_started"
            cancelled = make_result(target, "cancelled", "cancelled",
                                    stderr="cancelled before it reached this agent")
            self.state.put_record(target, {**self._record("done", {
                "expires_at": envelope.get("expires_at"), "kind": "action"}, cancelled),
                "cancelled_by": execution_id})
        log.info("cancel %s: execution %s was %s", execution_id, target, was)
        result = make_result(execution_id, "succeeded",
                             data={"execution_id": target, "was": was})
        self.state.put_record(execution_id, self._record("done", envelope, result))
        self.state.raise_sequence(envelope["sequence"])
        return result

    def _from_record(self, execution_id: str, record: dict[str, Any]) -> Decision:
        if record.get("result"):
            log.info("job %s already answered: sending the stored result", execution_id)
            return Decision(result=record["result"])
        with self._lock:
            if canonical_id(execution_id) in self._running:
                return Decision()
        # Running when the agent stopped: report it instead of running it again.
        result = make_result(execution_id, "failed", "interrupted",
                             stderr="the agent stopped while this job was running")
        record["state"], record["result"] = "done", result
        self.state.put_record(execution_id, record)
        return Decision(result=result)

    def execute(self, envelope: dict[str, Any],
                on_started: Callable[[], None] | None = None) -> dict[str, Any]:
        execution_id = str(envelope["execution_id"])
        with self._lock:
            cancellation = self._running.get(canonical_id(execution_id) or execution_id)
        # catches what the action raises
        result = execute(envelope, cancellation=cancellation, on_started=on_started,
                         clearable_roots=self.clearable_roots)
        # Record first, then forget it is running: a duplicate arriving in between finds
        # either "running here" or the result, never an orphaned "running" record.
        self.state.put_record(execution_id, self._record("done", envelope, result))
        with self._lock:
            self._running.pop(canonical_id(execution_id) or execution_id, None)
        return result

    @staticmethod
    def _record(state: str, envelope: Any, result: dict[str, Any] | None) -> dict[str, Any]:
        envelope = envelope if isinstance(envelope, dict) else {}
        return {"state": state, "at": now_iso(), "sequence": envelope.get("sequence"),
                "expires_at": envelope.get("expires_at"), "kind": envelope.get("kind"),
                "action": envelope.get("action"), "result": result}

