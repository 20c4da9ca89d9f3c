"""Checking and running jobs, and the result messages.

``JobProcessor.accept`` runs the envelope checks (fast, on the event loop) and says what
to do; ``JobProcessor.execute`` runs an accepted job (in a worker thread) and records its
result. ``run_script`` is the one way to execute a script: argv and environment only,
never shell text (scripts arrive with actions in a later issue)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import builtins
from .envelope import check_job
from .policy import Policy
from .state import State, canonical_id, now_iso

log = logging.getLogger(__name__)

OUTPUT_CAP = 64 * 1024
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Passed through from the agent's own environment; nothing else is inherited.
_BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "HOME")


def make_result(execution_id: str, status: str, reason: str = "", *,
                exit_code: int | None = None, stdout: str = "", stderr: str = "",
                duration_ms: int = 0, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "result", "execution_id": execution_id, "status": status,
            "reason": reason, "exit_code": exit_code, "stdout": stdout, "stderr": stderr,
            "duration_ms": duration_ms, "data": data or {}}


# -- scripts -----------------------------------------------------------------------
@dataclass
class ScriptResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration_ms: int
    stdout_truncated: bool = False
    stderr_truncated: bool = False


def script_env(params: dict[str, Any], base: dict[str, str] | None = None) -> dict[str, str]:
    """``ITSM_PARAM_<NAME>`` for each parameter: strings as they are, anything else as
    JSON. Names must be identifiers so they cannot smuggle anything into the env."""
    source = base if base is not None else os.environ
    env = {key: source[key] for key in _BASE_ENV if key in source}
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.match(name):
            raise ValueError(f"parameter name {name!r} is not an identifier")
        env[f"ITSM_PARAM_{name.upper()}"] = value if isinstance(value, str) else json.dumps(
            value, sort_keys=True)
    return env


def script_args(params: dict[str, Any]) -> list[str]:
    """Each parameter also as one argv item ``--name=value`` (sorted by name)."""
    env = script_env(params, base={})
    return [f"--{name}={env['ITSM_PARAM_' + name.upper()]}" for name in sorted(params)]


class _CappedReader(threading.Thread):
    """Reads a pipe to the end, keeping the first ``cap`` bytes (the rest is drained so
    the child never blocks on a full pipe)."""

    def __init__(self, stream: Any, cap: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.cap = stream, cap
        self.data = bytearray()
        self.truncated = False

    def run(self) -> None:
        while chunk := self.stream.read(65536):
            room = self.cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if len(chunk) > max(room, 0):
                self.truncated = True
        self.stream.close()

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", errors="replace")


def run_script(interpreter: str | list[str], script: str, params: dict[str, Any],
               timeout: float, cap: int = OUTPUT_CAP) -> ScriptResult:
    """Write ``script`` to a private temporary file and run ``interpreter file --k=v …``
    with ``ITSM_PARAM_<K>`` in the environment. The process group is killed at the
    timeout; stdout and stderr keep their first ``cap`` bytes each."""
    argv_head = [interpreter] if isinstance(interpreter, str) else list(interpreter)
    env = script_env(params)
    args = script_args(params)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="itsm-agent-") as tmp:
        path = os.path.join(tmp, "script")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(script)
        os.chmod(path, 0o700)
        proc = subprocess.Popen([*argv_head, path, *args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                cwd=tmp, start_new_session=True)
        readers = [_CappedReader(proc.stdout, cap), _CappedReader(proc.stderr, cap)]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            proc.wait()
        for reader in readers:
            # A grandchild that kept the pipe open must not hold us forever.
            reader.join(timeout=5)
    return ScriptResult(exit_code=None if timed_out else proc.returncode,
                        stdout=readers[0].text(), stderr=readers[1].text(),
                        timed_out=timed_out,
                        duration_ms=int((time.monotonic() - started) * 1000),
                        stdout_truncated=readers[0].truncated,
                        stderr_truncated=readers[1].truncated)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()


# -- jobs ----------------------------------------------------------------------------
def execute(envelope: dict[str, Any]) -> dict[str, Any]:
    """Run an accepted envelope's built-in and build its result."""
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
                 policy: Callable[[], Policy]) -> None:
        self.state, self.agent_id = state, agent_id
        self._keys, self._policy = keys, policy
        self._running: set[str] = set()
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
        # Written before running: a crash mid-job leaves a "running" record, answered as
        # failed on restart, so the job is never run twice.
        self.state.put_record(execution_id, self._record("running", envelope, None))
        self.state.raise_sequence(envelope["sequence"])
        with self._lock:
            self._running.add(canonical_id(execution_id) or execution_id)
        return Decision(envelope=envelope)

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

    def execute(self, envelope: dict[str, Any]) -> dict[str, Any]:
        execution_id = str(envelope["execution_id"])
        result = execute(envelope)  # catches what the action raises
        # Record first, then forget it is running: a duplicate arriving in between finds
        # either "running here" or the result, never an orphaned "running" record.
        self.state.put_record(execution_id, self._record("done", envelope, result))
        with self._lock:
            self._running.discard(canonical_id(execution_id) or execution_id)
        return result

    @staticmethod
    def _record(state: str, envelope: Any, result: dict[str, Any] | None) -> dict[str, Any]:
        envelope = envelope if isinstance(envelope, dict) else {}
        return {"state": state, "at": now_iso(), "sequence": envelope.get("sequence"),
                "expires_at": envelope.get("expires_at"), "kind": envelope.get("kind"),
                "action": envelope.get("action"), "result": result}

