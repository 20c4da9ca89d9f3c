"""Results and scripts: the result message, and ``run_script``, the one way to execute a
script: argv and environment only, never shell text."""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from .process import OUTPUT_CAP, Cancellation, ProcessResult, RunAs, base_env, run_argv

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def make_result(execution_id: str, status: str, reason: str = "", *,
                exit_code: int | None = None, stdout: str = "", stderr: str = "",
                duration_ms: int = 0, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "result", "execution_id": execution_id, "status": status,
            "reason": reason, "exit_code": exit_code, "stdout": stdout, "stderr": stderr,
            "duration_ms": duration_ms, "data": data or {}}


# -- scripts -----------------------------------------------------------------------
ScriptResult = ProcessResult


def script_env(params: dict[str, Any], base: dict[str, str] | None = None) -> dict[str, str]:
    """``ITSM_PARAM_<NAME>`` for each parameter: strings as they are, anything else as
    JSON. Names must be identifiers so they cannot smuggle anything into the env."""
    env = base_env(base)
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


def run_script(interpreter: str | list[str], script: str, params: dict[str, Any],
               timeout: float, cap: int = OUTPUT_CAP, *, suffix: str = "",
               cancellation: Cancellation | None = None,
               run_as: RunAs | None = None) -> ScriptResult:
    """Write ``script`` to a private temporary file and run ``interpreter file --k=v …``
    with ``ITSM_PARAM_<K>`` in the environment. The process group is killed at the
    timeout (or by ``cancellation``); stdout and stderr keep their first ``cap`` bytes
    each. With ``run_as`` the file and its folder are handed to that user first."""
    argv_head = [interpreter] if isinstance(interpreter, str) else list(interpreter)
    env = script_env(params)
    if run_as is not None and run_as.uid is not None:
        env.update(HOME=run_as.home or "/", USER=run_as.name, LOGNAME=run_as.name)
    args = script_args(params)
    with tempfile.TemporaryDirectory(prefix="itsm-agent-") as tmp:
        path = os.path.join(tmp, "script" + suffix)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(script)
        os.chmod(path, 0o700)
        if run_as is not None and run_as.uid is not None:
            os.chown(tmp, run_as.uid, run_as.gid if run_as.gid is not None else -1)
            os.chown(path, run_as.uid, run_as.gid if run_as.gid is not None else -1)
        return run_argv([*argv_head, path, *args], env=env, timeout=timeout, cwd=tmp,
                        cap=cap, cancellation=cancellation, run_as=run_as)
