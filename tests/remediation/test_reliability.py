"""The database is the truth, shown with real processes: real `itsm-agent` processes, the
real web/channel server (uvicorn) and a real Celery worker. A worker killed in the middle
of a dispatch, a web process restarted while actions run, and a nudge that is never
published: every execution still ends in a terminal state, none is lost, and none runs
twice on a device (each agent's script appends one line per run to its own file)."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from changes.models import Change
from fleet import services as fleet_services
from fleet import tokens
from fleet.models import Agent
from remediation import runs
from remediation.authority import Authority
from remediation.models import Execution, Run
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import UserFactory
from tests.fleet.conftest_channel import (
    channel_server_fixture,  # noqa: F401 (the fixture "channel_server")
    database_as_migrated,  # noqa: F401 (a fixture)
    wait_for,
)
from tests.platform.test_worker import worker  # noqa: F401 (a fixture)
from tickets.services import ticket_create

from .conftest import approve

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("database_as_migrated"),
              pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
AGENT = str(Path(sys.executable).parent / "itsm-agent")
AGENTS = 3
SCRIPT = 'sleep "${ITSM_PARAM_SECONDS:-0}"\necho "ran $(date +%s%N)" >> "$HOME/ran.log"\n'




class RealAgents:
    """``AGENTS`` enrolled agents (written server side with their tokens, the way
    bench/fleet.py does it, since one machine cannot enrol as three), each an
    ``itsm-agent run`` process with its own state, policy and HOME."""

    def __init__(self, base: Path, server_url: str) -> None:
        from itsm_agent.state import State

        self.base, self.processes = base, {}
        self.agents: list[Agent] = []
        for index in range(AGENTS):
            device = CIFactory(name=f"till-{index}", ci_class=ci_class("workstation"),
                               serial_number=f"TILL{index:04d}")
            raw = tokens.new_secret(tokens.TOKEN_PREFIX)
            agent = Agent.objects.create(device=device, hostname=f"till-{index}",
                                         os_name="Debian GNU/Linux 12",
                                         token_prefix=raw[:tokens.PREFIX_LENGTH],
                                         token_hash=tokens.digest(raw))
            home = base / f"agent{index}"
            (home / "etc").mkdir(parents=True)
            (home / "etc" / "policy.json").write_text(json.dumps(
                {"allow": ["snapshot", "query:*", "record-run"]}))
            State(home / "state").save_enrolment(
                server=server_url, agent_id=str(agent.pk), token=raw,
                signing_keys=fleet_services.signing_keys(), heartbeat_seconds=5,
                inventory_seconds=3600, reenrolled=False)
            self.agents.append(agent)

    def start(self) -> None:
        for index, agent in enumerate(self.agents):
            home = self.base / f"agent{index}"
            env = {**os.environ, "HOME": str(home), "PYTHONUNBUFFERED": "1",
                   "ITSM_AGENT_CONFIG_DIR": str(home / "etc"),
                   "ITSM_AGENT_STATE_DIR": str(home / "state")}
            log = (home / "agent.log").open("a")
            self.processes[agent.pk] = subprocess.Popen([AGENT, "run"], env=env, stdout=log,
                                                        stderr=subprocess.STDOUT)
        wait_for(lambda: Agent.objects.filter(online=True).count() == AGENTS
                 and all("record-run" in (a.policy.get("allow") or [])
                         for a in Agent.objects.all()), timeout=30, what="the agents online")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def runs_on_each(self) -> list[int]:
        counts = []
        for index in range(AGENTS):
            log = self.base / f"agent{index}" / "ran.log"
            counts.append(len(log.read_text().splitlines()) if log.exists() else 0)
        return counts


@pytest.fixture
def agents(channel_server, signing_key, tmp_path):
    fleet = RealAgents(tmp_path, channel_server.url)
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def signing_key(settings, tmp_path):
    """The key the worker and the test sign with (the web never reads it)."""
    from django.core.management import call_command

    path = tmp_path / "keys" / "fleet-signing.pem"
    settings.FLEET_SIGNING_KEY_FILE = str(path)
    os.environ["FLEET_SIGNING_KEY_FILE"] = str(path)
    call_command("fleet_keygen", verbosity=0)
    yield str(path)
    os.environ.pop("FLEET_SIGNING_KEY_FILE", None)


@pytest.fixture
def setup_run(signing_key):
    operator = UserFactory(username="operator", roles=["remediation_operator"])
    approver = UserFactory(username="approver", roles=["remediation_approver"])
    version = approve(operator, approver, name="record-run", kind="script",
                      builtin="", interpreter="sh", script=SCRIPT,
                      parameters=[{"name": "seconds", "type": "integer", "min": 0,
                                   "max": 30}])
    desk = UserFactory(username="desk", roles=["service_desk_agent"])
    now = timezone.now()
    change = ticket_create(model=Change, actor=desk, title="Record a run", type="normal",
                           planned_start=now - datetime.timedelta(hours=1),
                           planned_end=now + datetime.timedelta(hours=2))
    Change.objects.filter(pk=change.pk).update(state="scheduled", authorized_at=now)
    change.refresh_from_db()

    def start_run(seconds: int = 0, **rollout: Any) -> Run:
        change.cis.set([agent.device for agent in Agent.objects.all()])
        return runs.run_start(actor=operator, version=version, params={"seconds": seconds},
                              targets={"ticket": True},
                              authority=Authority("change", change=change), **rollout)
    return start_run


def settled(run: Run) -> bool:
    run.refresh_from_db()
    return run.finished


def test_a_worker_killed_mid_dispatch_loses_nothing_and_runs_nothing_twice(
        agents, setup_run, django_db_blocker, request):
    celery = request.getfixturevalue("worker")  # a real Celery worker process
    # Hold the run's row so the worker's dispatch is provably inside its transaction.
    holding, release = threading.Event(), threading.Event()
    started: dict[str, Any] = {}

    def hold_then_release() -> None:
        with django_db_blocker.unblock(), transaction.atomic():
            Run.objects.select_for_update().filter(pk=started["run"]).update(
                stop_reason="")
            holding.set()
            release.wait(30)
        connection.close()

    run = setup_run()  # commits; its first wave goes to the real worker
    started["run"] = run.pk
    locker = threading.Thread(target=hold_then_release)
    locker.start()
    holding.wait(10)
    time.sleep(1.5)  # the worker has taken the task and waits on the lock
    os.kill(celery.pid, signal.SIGKILL)
    celery.wait(timeout=10)
    release.set()
    locker.join(10)
    assert not Execution.objects.filter(run=run).exclude(state="queued").exists()
    assert run.waves.get().state == "pending"  # the killed transaction left nothing
    # The sweep (a beat task every 30 s) sends the wave; the agents run it once.
    runs.sweep()
    wait_for(lambda: settled(run), timeout=30, what="the run to finish")
    assert set(Execution.objects.filter(run=run).values_list("state", flat=True)) == {
        "succeeded"}
    runs.sweep()  # again: nothing is sent twice
    time.sleep(2)
    assert agents.runs_on_each() == [1] * AGENTS


def test_a_web_restart_while_actions_run_loses_nothing_and_runs_nothing_twice(
        agents, setup_run, channel_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = setup_run(seconds=3)
    wait_for(lambda: Execution.objects.filter(run=run, state="running").count() == AGENTS,
             timeout=30, what="the actions running")
    channel_server.stop()
    time.sleep(4)  # the scripts end while the server is down: results wait on the agents
    channel_server.start()
    wait_for(lambda: settled(run), timeout=60, what="the run to finish")
    assert list(Execution.objects.filter(run=run).values_list("state", flat=True)) == [
        "succeeded"] * AGENTS
    assert agents.runs_on_each() == [1] * AGENTS


def test_a_lost_nudge_is_caught_by_the_channel(agents, setup_run, settings,
                                               django_capture_on_commit_callbacks):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # publishing fails: the nudge is lost
    with django_capture_on_commit_callbacks(execute=True):
        run = setup_run()
    wait_for(lambda: settled(run), timeout=30, what="the run to finish without a nudge")
    assert agents.runs_on_each() == [1] * AGENTS
