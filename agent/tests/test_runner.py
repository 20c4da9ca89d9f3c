"""run_script: argv and environment, never shell text; timeout; output caps."""

from __future__ import annotations

import json
import sys
import time

import pytest

from itsm_agent.runner import run_script, script_env

PRINT_ARGS = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:],
                  "env": {k: v for k, v in os.environ.items() if k.startswith("ITSM_PARAM_")}}))
"""


def test_parameters_arrive_as_argv_and_env_not_shell():
    hostile = "x; touch /tmp/pwned-itsm $(id) `id` | cat"
    result = run_script(sys.executable, PRINT_ARGS,
                        {"name": hostile, "count": 3, "flags": ["a", "b"]}, timeout=20)
    assert result.exit_code == 0 and not result.timed_out, result.stderr
    out = json.loads(result.stdout)
    assert out["argv"] == ["--count=3", '--flags=["a", "b"]', f"--name={hostile}"]
    assert out["env"] == {"ITSM_PARAM_NAME": hostile, "ITSM_PARAM_COUNT": "3",
                          "ITSM_PARAM_FLAGS": '["a", "b"]'}


def test_parameter_names_must_be_identifiers():
    with pytest.raises(ValueError):
        script_env({"A=B": "x"})
    with pytest.raises(ValueError):
        run_script(sys.executable, "pass", {"bad name": 1}, timeout=5)


def test_environment_is_not_inherited(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    result = run_script(sys.executable, "import os; print(os.environ.get('SECRET_TOKEN'))",
                        {}, timeout=20)
    assert result.stdout.strip() == "None"


def test_exit_code_and_stderr():
    result = run_script(sys.executable, "import sys; sys.stderr.write('bad'); sys.exit(4)",
                        {}, timeout=20)
    assert result.exit_code == 4 and result.stderr == "bad"


def test_timeout_kills_the_process_group():
    started = time.monotonic()
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    result = run_script(sys.executable, script, {}, timeout=1)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 10


def test_output_is_capped():
    script = "import sys; sys.stdout.write('x' * 500000); sys.stderr.write('y' * 70000)"
    result = run_script(sys.executable, script, {}, timeout=20)
    assert result.exit_code == 0
    assert len(result.stdout) == 64 * 1024 and result.stdout_truncated
    assert len(result.stderr) == 64 * 1024 and result.stderr_truncated


def test_interpreter_as_argv_list():
    result = run_script(["/bin/sh", "-e"], 'printf "%s|%s" "$1" "$ITSM_PARAM_WHO"',
                        {"who": "$(id)"}, timeout=20)
    assert result.stdout == "--who=$(id)|$(id)"
