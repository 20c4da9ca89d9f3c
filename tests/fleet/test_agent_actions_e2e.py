"""A real `itsm-agent` process running signed action jobs end to end: a small sh script
to a stored result (Job done), and a cancel of a long `sleep` script (the process killed,
the job cancelled, the cancel's own result saying it was running)."""

from __future__ import annotations

import json
import subprocess

import psutil
import pytest

from fleet import services
from fleet.models import Agent, Job, JobState

from .conftest_channel import (
    channel_server_fixture,  # noqa: F401 (the fixture "channel_server")
    database_as_migrated,  # noqa: F401 (a fixture)
)
from .test_agent_e2e import AGENT, agent_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SPEC = {"type": "script", "builtin": "", "interpreter": "sh",
        "parameters": [{"name": "who", "type": "string", "required": True,
                        "pattern": "[a-z]+"}],
        "timeout": 60, "run_as": "", "read_only": False, "risk": "low"}


def state_of(job: Job, *states: str) -> Job | None:
    job.refresh_from_db()
    return job if job.state in states else None


def test_a_real_agent_runs_and_cancels_action_jobs(channel_server, signing_key, secret,
                                                   tmp_path):
    env = agent_env(tmp_path)
    enrolled = subprocess.run([AGENT, "enroll", "--server", channel_server.url,
                               "--secret", secret], env=env, capture_output=True, text=True,
                              timeout=60)
    assert enrolled.returncode == 0, enrolled.stderr
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "policy.json").write_text(json.dumps(
        {"allow": ["snapshot", "query:*", "category:risk:low"]}))
    agent = Agent.objects.get()
    process = subprocess.Popen([AGENT, "run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: Agent.objects.filter(pk=agent.pk, online=True).exists(),
                 what="the agent online")

        # A small script runs with its parameter and its result is stored
        job, = services.jobs_create(agents=[agent], kind="action", action="say-hello",
                                    params={"who": "world"}, spec=SPEC,
                                    script='echo "hello $ITSM_PARAM_WHO"')
        done = wait_for(lambda: state_of(job, JobState.DONE, JobState.FAILED,
                                         JobState.REFUSED), what="the action's result")
        assert done.state == JobState.DONE, done.result
        assert done.result["stdout"] == "hello world\n" and done.result["exit_code"] == 0

        # A high-risk action is refused by the device's policy, and nothing runs
        marker = tmp_path / "high-risk-ran"
        risky, = services.jobs_create(agents=[agent], kind="action", action="risky",
                                      params={"who": "x"}, spec={**SPEC, "risk": "high"},
                                      script=f"touch {marker}")
        refused = wait_for(lambda: state_of(risky, JobState.REFUSED, JobState.DONE),
                           what="the refusal")
        assert refused.refusal_reason == "not_allowed" and not marker.exists()

        # A long script is told "started", then cancelled: its process is killed
        pid_file = tmp_path / "sleeper.pid"
        long, = services.jobs_create(agents=[agent], kind="action", action="sleep-long",
                                     params={"who": "x"}, spec=SPEC,
                                     script=f"sleep 120 & echo $! > {pid_file}; wait")
        wait_for(lambda: state_of(long, JobState.RUNNING), what="the job running")
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(),
                 what="the sleeper's pid")
        sleeper = int(pid_file.read_text())
        assert psutil.pid_exists(sleeper)
        cancel, = services.jobs_cancel([long.pk])
        cancelled = wait_for(lambda: state_of(long, JobState.CANCELLED) if
                             Job.objects.get(pk=long.pk).result else None,
                             what="the cancelled result")
        assert cancelled.result["status"] == "cancelled" and \
            cancelled.refusal_reason == "cancelled"
        answered = wait_for(lambda: state_of(cancel, JobState.DONE), what="the cancel")
        assert answered.result["data"] == {"execution_id": str(long.pk), "was": "running"}
        wait_for(lambda: not psutil.pid_exists(sleeper) or
                 psutil.Process(sleeper).status() == psutil.STATUS_ZOMBIE,
                 timeout=5, what="the sleeper gone")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(process.communicate(timeout=10)[0])  # shown when the test fails
