"""Action jobs: parameters checked again, scripts with their interpreter, timeout and
run-as, cancels (running, before arrival, after the end) and the policy's categories."""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import Signer

from itsm_agent import actions
from itsm_agent.actions import Refused, validate_params
from itsm_agent.config import ConfigError, load_config
from itsm_agent.envelope import check_job, load_public_keys
from itsm_agent.policy import Policy, action_categories
from itsm_agent.runner import JobProcessor
from itsm_agent.state import State

ALLOW_ALL = Policy(allow=("*",))


def spec(**changes: Any) -> dict[str, Any]:
    base = {"type": "script", "builtin": "", "interpreter": "sh", "parameters": [],
            "timeout": 20, "run_as": "", "read_only": False, "risk": "low"}
    return {**base, **changes}


def action_job(signer: Signer, agent_id: str, *, script: str = "echo hi",
               params: dict[str, Any] | None = None, execution_id: str | None = None,
               action: str = "fix-it", **spec_changes: Any) -> dict[str, Any]:
    kind_script = spec_changes.get("type", "script") == "script"
    envelope = signer.envelope(agent_id, kind="action", action=action, params=params,
                               script=script if kind_script else "",
                               execution_id=execution_id)
    envelope["spec"] = spec(**spec_changes)
    return signer.job(envelope)


def cancel_job(signer: Signer, agent_id: str, target: str) -> dict[str, Any]:
    return signer.job(signer.envelope(agent_id, kind="cancel", action="cancel",
                                      params={"execution_id": target}))


def processor(state: State, signer: Signer, agent_id: str, policy: Policy = ALLOW_ALL,
              roots: tuple[str, ...] = ("/tmp",)) -> JobProcessor:
    keys = load_public_keys([signer.pinned])
    return JobProcessor(state, agent_id, lambda: keys, lambda: policy, clearable_roots=roots)


def run(proc: JobProcessor, job: dict[str, Any]) -> dict[str, Any]:
    decision = proc.accept(job)
    if decision.result is not None:
        return decision.result
    assert decision.envelope is not None
    return proc.execute(decision.envelope)


# -- parameters ------------------------------------------------------------------------
DECLARED = [
    {"name": "service", "type": "string", "required": True, "pattern": "[a-z]+"},
    {"name": "count", "type": "integer", "min": 1, "max": 5},
    {"name": "force", "type": "boolean"},
    {"name": "mode", "type": "choice", "choices": ["fast", "safe"]},
]


def test_valid_parameters_are_typed():
    assert validate_params(DECLARED, {"service": "nginx", "count": "3", "force": False,
                                      "mode": "safe"}) == {
        "service": "nginx", "count": 3, "force": False, "mode": "safe"}
    assert validate_params(DECLARED, {"service": "web", "mode": ""}) == {"service": "web"}


@pytest.mark.parametrize(("params", "named"), [
    ({}, "'service' is required"),
    ({"service": "nginx; rm -rf /"}, "'service': does not match"),
    ({"service": "nginxX"}, "'service': does not match"),  # fullmatch, not search
    ({"service": 5}, "'service': must be text"),
    ({"service": "a", "count": 0}, "'count': must be at least 1"),
    ({"service": "a", "count": 6}, "'count': must be at most 5"),
    ({"service": "a", "count": "two"}, "'count': must be a whole number"),
    ({"service": "a", "count": True}, "'count': must be a whole number"),
    ({"service": "a", "force": "yes"}, "'force': must be true or false"),
    ({"service": "a", "mode": "reckless"}, "'mode': must be one of fast, safe"),
    ({"service": "a", "extra": 1}, "'extra' is not declared"),
])
def test_bad_parameters_are_named(params, named):
    with pytest.raises(Refused) as caught:
        validate_params(DECLARED, params)
    assert caught.value.reason == "bad_params" and named in str(caught.value)


def test_a_job_with_bad_parameters_is_refused_and_nothing_runs(state, signer, agent_id,
                                                               tmp_path):
    marker = tmp_path / "ran"
    result = run(processor(state, signer, agent_id), action_job(
        signer, agent_id, script=f"touch {marker}", params={"service": "NO"},
        parameters=DECLARED))
    assert (result["status"], result["reason"]) == ("refused", "bad_params")
    assert "'service'" in result["stderr"] and not marker.exists()


# -- scripts ---------------------------------------------------------------------------
def test_a_script_runs_with_its_parameters(state, signer, agent_id):
    result = run(processor(state, signer, agent_id), action_job(
        signer, agent_id, script='echo "svc=$ITSM_PARAM_SERVICE $1"; echo oops >&2',
        params={"service": "nginx"}, parameters=DECLARED))
    assert result["status"] == "succeeded" and result["exit_code"] == 0
    assert result["stdout"] == "svc=nginx --service=nginx\n" and result["stderr"] == "oops\n"


def test_a_script_exit_code_fails_it(state, signer, agent_id):
    result = run(processor(state, signer, agent_id),
                 action_job(signer, agent_id, script="exit 7", interpreter="bash"))
    assert (result["status"], result["exit_code"]) == ("failed", 7)


def test_python_scripts_run_with_python3(state, signer, agent_id):
    result = run(processor(state, signer, agent_id), action_job(
        signer, agent_id, script="import sys; print(sys.version_info[0])",
        interpreter="python3"))
    assert result["stdout"] == "3\n", result


def test_a_missing_interpreter_fails(state, signer, agent_id, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    result = run(processor(state, signer, agent_id), action_job(signer, agent_id))
    assert (result["status"], result["reason"]) == ("failed", "interpreter_missing")
    if not (shutil.which("pwsh") or shutil.which("powershell")):
        monkeypatch.undo()
        result = run(processor(state, signer, agent_id),
                     action_job(signer, agent_id, interpreter="powershell"))
        assert result["reason"] == "interpreter_missing" and "pwsh" in result["stderr"]


def test_the_spec_timeout_ends_a_script(state, signer, agent_id):
    started = time.monotonic()
    result = run(processor(state, signer, agent_id),
                 action_job(signer, agent_id, script="echo begun; sleep 30", timeout=1))
    assert result["status"] == "timed_out" and result["exit_code"] is None
    assert result["stdout"] == "begun\n" and time.monotonic() - started < 10


# -- run as ----------------------------------------------------------------------------
def test_run_as_when_the_agent_is_not_root(state, signer, agent_id, monkeypatch):
    monkeypatch.setattr(actions, "_euid", lambda: 1000)
    monkeypatch.setattr(actions, "_own_name", lambda: "agentuser")
    proc = processor(state, signer, agent_id)
    other = run(proc, action_job(signer, agent_id, run_as="root"))
    assert (other["status"], other["reason"]) == ("refused", "run_as_unavailable")
    unknown = run(proc, action_job(signer, agent_id, run_as="no-such-user-x9"))
    assert (unknown["status"], unknown["reason"]) == ("refused", "run_as_unknown")
    own = run(proc, action_job(signer, agent_id, run_as="agentuser"))
    assert own["status"] == "succeeded"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_root_runs_the_script_as_the_user(state, signer, agent_id):
    import pwd

    nobody = pwd.getpwnam("nobody")
    result = run(processor(state, signer, agent_id),
                 action_job(signer, agent_id, script="id -u; id -G", run_as="nobody"))
    uid, groups = result["stdout"].split("\n")[:2]
    assert result["status"] == "succeeded", result
    assert int(uid) == nobody.pw_uid and "0" not in groups.split()


# -- cancel ----------------------------------------------------------------------------
def test_cancel_kills_a_running_script(state, signer, agent_id, tmp_path):
    proc = processor(state, signer, agent_id)
    pid_file = tmp_path / "pid"
    job = action_job(signer, agent_id, script=f"sleep 60 & echo $! > {pid_file}; wait")
    decision = proc.accept(job)
    assert decision.envelope is not None
    began = threading.Event()
    results: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: results.append(
        proc.execute(decision.envelope, began.set)))
    worker.start()
    assert began.wait(10)
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sleeper = int(pid_file.read_text())

    cancel = run(proc, cancel_job(signer, agent_id, decision.envelope["execution_id"]))
    worker.join(10)

    assert cancel["status"] == "succeeded"
    assert cancel["data"] == {"execution_id": decision.envelope["execution_id"],
                              "was": "running"}
    assert (results[0]["status"], results[0]["reason"]) == ("cancelled", "cancelled")
    assert results[0]["exit_code"] is None
    time.sleep(0.2)
    assert not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == "zombie"


def test_cancel_before_the_action_arrives(state, signer, agent_id, tmp_path):
    proc = processor(state, signer, agent_id)
    target = str(uuid.uuid4())
    cancel = run(proc, cancel_job(signer, agent_id, target))
    assert cancel["data"] == {"execution_id": target, "was": "not_started"}
    marker = tmp_path / "ran"
    decision = proc.accept(action_job(signer, agent_id, script=f"touch {marker}",
                                      execution_id=target))
    assert decision.envelope is None
    assert (decision.result["status"], decision.result["reason"]) == (
        "cancelled", "cancelled")
    assert not marker.exists()


def test_cancel_after_the_end_changes_nothing(state, signer, agent_id):
    proc = processor(state, signer, agent_id)
    job = action_job(signer, agent_id)
    assert run(proc, job)["status"] == "succeeded"
    target = job["envelope"]["execution_id"]
    cancel = run(proc, cancel_job(signer, agent_id, target))
    assert cancel["data"]["was"] == "finished"
    again = proc.accept(job)  # sent again: the stored answer, never a second run
    assert again.result["status"] == "succeeded" and again.envelope is None


# -- policy ----------------------------------------------------------------------------
def check(job: dict[str, Any], state: State, signer: Signer, agent_id: str,
          policy: Policy):
    return check_job(job, agent_id=agent_id, keys=load_public_keys([signer.pinned]),
                     policy=policy, state=state)


def test_categories_come_from_the_signed_spec(signer, agent_id):
    envelope = action_job(signer, agent_id, type="builtin", builtin="restart_service",
                          risk="medium", read_only=True)["envelope"]
    assert action_categories(envelope) == {"read-only", "risk:medium",
                                           "builtin:restart_service"}
    assert action_categories(action_job(signer, agent_id)["envelope"]) == {"script",
                                                                           "risk:low"}


def test_policy_matches_action_names_and_categories(state, signer, agent_id):
    low = Policy(allow=("snapshot", "category:risk:low"))
    assert check(action_job(signer, agent_id), state, signer, agent_id, low).run
    high = action_job(signer, agent_id, risk="high")
    assert check(high, state, signer, agent_id, low).reason == "not_allowed"
    by_name = Policy(allow=("restart-*",))
    assert check(action_job(signer, agent_id, action="restart-web", risk="high"), state,
                 signer, agent_id, by_name).run
    builtin = Policy(allow=("category:builtin:flush_dns",))
    assert check(action_job(signer, agent_id, type="builtin", builtin="flush_dns",
                            interpreter=""), state, signer, agent_id, builtin).run
    assert check(action_job(signer, agent_id), state, signer, agent_id,
                 Policy(allow=("category:script",))).run


def test_cancel_is_always_allowed(state, signer, agent_id):
    nothing = Policy(allow=())
    assert check(cancel_job(signer, agent_id, str(uuid.uuid4())), state, signer, agent_id,
                 nothing).run


def test_malformed_action_envelopes_are_refused(state, signer, agent_id):
    for changes in ({"risk": "extreme"}, {"timeout": 0}, {"type": "binary"},
                    {"parameters": "x"}):
        job = action_job(signer, agent_id, **changes)
        assert check(job, state, signer, agent_id, ALLOW_ALL).reason == "bad_envelope"
    reserved = action_job(signer, agent_id, action="snapshot")
    assert check(reserved, state, signer, agent_id, ALLOW_ALL).reason == "bad_envelope"
    no_target = signer.job(signer.envelope(agent_id, kind="cancel", action="cancel",
                                           params={"execution_id": "x"}))
    assert check(no_target, state, signer, agent_id, ALLOW_ALL).reason == "bad_envelope"


# -- configuration ---------------------------------------------------------------------
def test_clearable_roots_setting(tmp_path: Path):
    (tmp_path / "agent.toml").write_text('clearable_roots = ["/srv/cache", "/tmp"]\n')
    assert load_config(tmp_path, tmp_path, environ={}).clearable_roots == (
        "/srv/cache", "/tmp")
    (tmp_path / "agent.toml").write_text('clearable_roots = ["relative"]\n')
    with pytest.raises(ConfigError, match="clearable_roots"):
        load_config(tmp_path, tmp_path, environ={})
    (tmp_path / "agent.toml").write_text("")
    assert "/tmp" in load_config(tmp_path, tmp_path, environ={}).clearable_roots

