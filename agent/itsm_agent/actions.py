"""Action jobs: an approved action from the server's library, run on this device.

The signed envelope carries the action's ``spec`` (docs/agent.md, "Action jobs"). Before
anything runs, the parameters are checked again against the spec's declarations
(``bad_params``), the user to run as is resolved (``run_as_unknown``,
``run_as_unavailable``) and, for scripts, the interpreter found
(``interpreter_missing``). Scripts go through ``run_script``; built-ins are in
``remedies``. Both honour the spec's timeout and a ``cancel``."""

from __future__ import annotations

import getpass
import logging
import os
import re
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from . import remedies
from .process import Cancellation, RunAs
from .scripts import make_result, run_script

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300
MAX_TEXT = 1000
INTERPRETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # name → (executables tried in order, arguments before the file, file suffix)
    "sh": (("sh",), (), ""),
    "bash": (("bash",), (), ""),
    "python3": (("python3",), (), ".py"),
    "powershell": (("pwsh", "powershell"), ("-NoProfile", "-NonInteractive", "-File"),
                   ".ps1"),
}


class Refused(Exception):
    """The action cannot run here; ``reason`` is the result's reason."""

    def __init__(self, status: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


# -- parameters ----------------------------------------------------------------------
def validate_params(declared: Sequence[dict[str, Any]], params: Any) -> dict[str, Any]:
    """The parameters, typed, as the server's check makes them; ``Refused`` (bad_params)
    naming the first parameter at fault. Empty values count as absent."""
    if not isinstance(params, dict):
        raise Refused("refused", "bad_params", "parameters must be an object")
    specs = {str(spec.get("name")): spec for spec in declared}
    unknown = sorted(set(map(str, params)) - set(specs))
    if unknown:
        raise Refused("refused", "bad_params",
                      f"parameter {unknown[0]!r} is not declared by this action")
    clean: dict[str, Any] = {}
    for name, spec in specs.items():
        value = params.get(name)
        if value is None or value == "":
            if spec.get("required"):
                raise Refused("refused", "bad_params", f"parameter {name!r} is required")
            continue
        problem, typed = _typed(spec, value)
        if problem:
            raise Refused("refused", "bad_params", f"parameter {name!r}: {problem}")
        clean[name] = typed
    return clean


def _typed(spec: dict[str, Any], value: Any) -> tuple[str, Any]:
    kind = spec.get("type")
    if kind == "boolean":
        return ("", value) if isinstance(value, bool) else ("must be true or false", None)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "must be a whole number", None
        try:
            number = int(value)
        except ValueError:
            return "must be a whole number", None
        low, high = spec.get("min"), spec.get("max")
        if isinstance(low, int | float) and number < low:
            return f"must be at least {low}", None
        if isinstance(high, int | float) and number > high:
            return f"must be at most {high}", None
        return "", number
    if not isinstance(value, str):
        return "must be text", None
    if kind == "choice":
        choices = spec.get("choices") or []
        if value not in choices:
            return f"must be one of {', '.join(map(str, choices))}", None
        return "", value
    if kind != "string":
        return f"has an unknown type {kind!r}", None
    if len(value) > MAX_TEXT or "\x00" in value:
        return f"must be at most {MAX_TEXT} characters without NUL", None
    pattern = spec.get("pattern")
    if pattern:
        try:
            if not re.fullmatch(str(pattern), value):
                return "does not match the expected form", None
        except re.error:
            return "has a pattern this agent cannot read", None
    return "", value


# -- run as --------------------------------------------------------------------------
def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1


def _own_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(_euid()).pw_name
    except (ImportError, KeyError):
        return getpass.getuser()


def resolve_run_as(name: str) -> RunAs:
    """Who runs the action: the agent itself (``name`` empty or the agent's own user) or,
    when the agent is root, that user."""
    if not name or name == _own_name():
        return RunAs()
    try:
        import pwd
    except ImportError as exc:  # Windows: no switching users
        raise Refused("refused", "run_as_unavailable",
                      f"this agent cannot run actions as {name!r}") from exc
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise Refused("refused", "run_as_unknown", f"there is no user {name!r} here") from exc
    if _euid() != 0:
        raise Refused("refused", "run_as_unavailable",
                      f"the agent runs as {_own_name()!r}, not root: it cannot run actions "
                      f"as {name!r}")
    if entry.pw_uid == 0:
        return RunAs()
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid,
                 groups=tuple(os.getgrouplist(name, entry.pw_gid)), home=entry.pw_dir)


# -- interpreters --------------------------------------------------------------------
def resolve_interpreter(name: str) -> tuple[list[str], str]:
    """(argv before the script file, file suffix) for ``name``, found on PATH."""
    known = INTERPRETERS.get(name)
    if known is None:
        raise Refused("failed", "interpreter_missing",
                      f"this agent knows no interpreter {name!r}")
    executables, args, suffix = known
    for executable in executables:
        path = shutil.which(executable)
        if path:
            return [path, *args], suffix
    raise Refused("failed", "interpreter_missing",
                  f"{' or '.join(executables)} is not installed (not on PATH)")


# -- running -------------------------------------------------------------------------
def execute_action(envelope: dict[str, Any], *, cancellation: Cancellation | None = None,
                   on_started: Callable[[], None] | None = None,
                   clearable_roots: Sequence[str] = remedies.DEFAULT_CLEARABLE_ROOTS,
                   ) -> dict[str, Any]:
    """Run an accepted action envelope and build its result."""
    execution_id = str(envelope["execution_id"])
    spec = envelope.get("spec") or {}
    cancellation = cancellation or Cancellation()
    try:
        params = validate_params(spec.get("parameters") or [], envelope.get("params") or {})
        run_as = resolve_run_as(str(spec.get("run_as") or ""))
        timeout = float(spec.get("timeout") or DEFAULT_TIMEOUT)
        if spec.get("type") == "script":
            interpreter, suffix = resolve_interpreter(str(spec.get("interpreter") or ""))
            builtin = None
        else:
            builtin = remedies.BUILTINS.get(str(spec.get("builtin") or ""))
            if builtin is None:
                raise Refused("failed", "unknown_action",
                              f"this agent has no built-in {spec.get('builtin')!r}")
    except Refused as refusal:
        log.warning("action %s (%s): %s %s: %s", execution_id, envelope.get("action"),
                    refusal.status, refusal.reason, refusal)
        return make_result(execution_id, refusal.status, refusal.reason, stderr=str(refusal))
    if cancellation.cancelled:
        return make_result(execution_id, "cancelled", "cancelled",
                           stderr="cancelled before it started")
    if on_started is not None:
        on_started()
    if builtin is None:
        outcome = _script_outcome(run_script(
            interpreter, str(envelope.get("script") or ""), params, timeout,
            suffix=suffix, cancellation=cancellation, run_as=run_as))
    else:
        context = remedies.Context(timeout=timeout, cancellation=cancellation, run_as=run_as,
                                   clearable_roots=tuple(clearable_roots))
        try:
            outcome = builtin(params, context)
        except remedies.BadParams as exc:
            return make_result(execution_id, "refused", "bad_params", stderr=str(exc))
        except remedies.ToolMissing as exc:
            return make_result(execution_id, "failed", "tool_missing", stderr=str(exc))
        except Exception as exc:
            log.exception("action %s (%s) failed", execution_id, envelope.get("action"))
            return make_result(execution_id, "failed", "error",
                               stderr=f"{type(exc).__name__}: {exc}")
    return make_result(execution_id, outcome.status, outcome.reason,
                       exit_code=outcome.exit_code, stdout=outcome.stdout,
                       stderr=outcome.stderr, duration_ms=outcome.duration_ms,
                       data=outcome.data)


def _script_outcome(result: Any) -> remedies.Outcome:
    return remedies.outcome_of(result)
