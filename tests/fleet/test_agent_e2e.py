"""A real `itsm-agent` process against a real server on the test database: enrolment
(the device lands in the CMDB), its inventory reconciled, a live snapshot within seconds,
every tampered envelope refused with its reason (and nothing run), reconnection after a
server restart, and revocation stopping the agent.

One test, in order: the agent process and the server live through all of it."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from fleet import services, signing
from fleet.models import Agent, Inventory, Job, JobState

from .conftest import FACTS  # noqa: F401  (the same facts module, for the reader)
from .conftest_channel import (
    channel_server_fixture,  # noqa: F401 (the fixture "channel_server")
    database_as_migrated,  # noqa: F401 (a fixture)
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

AGENT = shutil.which("itsm-agent") or str(Path(sys.executable).parent / "itsm-agent")




def agent_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ITSM_AGENT_CONFIG_DIR": str(tmp_path / "etc"),
            "ITSM_AGENT_STATE_DIR": str(tmp_path / "state"), "PYTHONUNBUFFERED": "1"}


def signed_job(agent: Agent, **changes: Any) -> Job:
    """A job for ``agent`` whose envelope carries ``changes`` (signed after them unless
    ``_tamper`` says to change it after signing)."""
    tamper = changes.pop("_tamper", {})
    sequence = changes.pop("_sequence", None)
    agent.refresh_from_db()
    if sequence is None:
        sequence = agent.last_sequence + 1
        Agent.objects.filter(pk=agent.pk).update(last_sequence=sequence)
    now = timezone.now()
    envelope = {"v": 1, "execution_id": str(uuid.uuid4()), "agent_id": str(agent.pk),
                "kind": "snapshot", "action": "snapshot", "version": 1, "script_sha256": "",
                "script": "", "params": {},
                "not_before": now.isoformat().replace("+00:00", "Z"),
                "expires_at": (now + datetime.timedelta(minutes=5)).isoformat().replace(
                    "+00:00", "Z"), "sequence": sequence, **changes}
    signature, key_id = signing.sign(envelope)
    envelope.update(tamper)
    job = Job.objects.create(
        id=uuid.UUID(envelope["execution_id"]), agent=agent, kind=envelope["kind"],
        sequence=sequence if not Job.objects.filter(agent=agent, sequence=sequence).exists()
        else 10_000_000 + Job.objects.count(), envelope=envelope, signature=signature,
        key_id=key_id, not_before=now, expires_at=now + datetime.timedelta(minutes=5))
    services.publish_nudge([agent.pk])
    return job


def finished(job: Job) -> Job | None:
    job.refresh_from_db()
    return job if job.state not in (JobState.QUEUED, JobState.SENT) else None


def test_a_real_agent_enrols_reports_answers_refuses_reconnects_and_is_revoked(
        channel_server, signing_key, secret, fleet_manager, tmp_path):
    env = agent_env(tmp_path)
    # Given a machine enrolled with the desk's secret
    enrolled = subprocess.run([AGENT, "enroll", "--server", channel_server.url,
                               "--secret", secret], env=env, capture_output=True, text=True,
                              timeout=60)
    assert enrolled.returncode == 0, enrolled.stderr
    agent = Agent.objects.select_related("device").get()
    assert agent.device.ci_class.key in ("workstation", "server")
    token_file = next((tmp_path / "state").rglob("*token*"), None)
    assert token_file is not None and oct(token_file.stat().st_mode)[-3:] == "600"
    # A wrong secret is refused with its reason, and nothing is written
    wrong = subprocess.run([AGENT, "enroll", "--server", channel_server.url, "--secret",
                            "itsm_enr_wrong", "--state-dir", str(tmp_path / "other")],
                           env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "secret" in (wrong.stderr + wrong.stdout).lower()
    assert Agent.objects.count() == 1

    # When the agent runs
    process = subprocess.Popen([AGENT, "run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        # Then it comes online and its inventory lands (and is reconciled into the CMDB)
        wait_for(lambda: Agent.objects.filter(pk=agent.pk, online=True).exists(),
                 what="the agent online")
        inventory = wait_for(lambda: Inventory.objects.filter(
            agent=agent, received_at__isnull=False).first(), what="the inventory")
        assert inventory.data["hostname"] and inventory.data["processes"]
        agent.device.refresh_from_db()
        assert agent.device.hostname.lower() == inventory.data["hostname"].lower()

        # A live snapshot arrives within seconds
        started = time.monotonic()
        job, = services.jobs_create(agents=[agent], kind="snapshot", action="snapshot")
        done = wait_for(lambda: finished(job), what="the snapshot")
        assert done.state == JobState.DONE, done.result
        assert time.monotonic() - started < 5
        inventory.refresh_from_db()
        names = {p["name"] for p in inventory.snapshot["processes"]}
        assert any("python" in name or "itsm-agent" in name for name in names)

        # Every tampered envelope is refused with its reason, and nothing runs
        cases = {
            "bad_signature": signed_job(agent, _tamper={"params": {"x": "1"}}),
            "wrong_agent": signed_job(agent, agent_id=str(uuid.uuid4())),
            "expired": signed_job(agent, expires_at="2020-01-01T00:00:00Z",
                                  not_before="2020-01-01T00:00:00Z"),
            "hash_mismatch": signed_job(agent, kind="action", action="restart-service",
                                        script="systemctl restart cups",
                                        script_sha256="0" * 64),
            "not_allowed": signed_job(agent, kind="action", action="restart-service"),
        }
        for reason, tampered in cases.items():
            refused = wait_for(lambda tampered=tampered: finished(tampered),
                               what=f"the {reason} refusal")
            assert (refused.state, refused.refusal_reason) == (JobState.REFUSED, reason), (
                reason, refused.result)
        # a replay: an old sequence with a new execution id
        replay = signed_job(agent, _sequence=1)
        refused = wait_for(lambda: finished(replay), what="the replay refusal")
        assert (refused.state, refused.refusal_reason) == (JobState.REFUSED, "replayed")

        # When the server restarts, the agent reconnects by itself and answers again
        channel_server.stop()
        Agent.objects.filter(pk=agent.pk).update(online=False)
        channel_server.start()
        wait_for(lambda: Agent.objects.filter(pk=agent.pk, online=True).exists(),
                 timeout=60, what="the agent back online")
        job, = services.jobs_create(agents=[agent], kind="query", action="process_running",
                                    params={"name": "itsm-agent"})
        answered = wait_for(lambda: finished(job), timeout=20, what="the query")
        assert answered.state == JobState.DONE and "matched" in answered.result["data"]

        # When the agent is revoked, it is cut off and stops
        services.agent_revoke(actor=fleet_manager, agent=agent)
        code = process.wait(timeout=30)
        assert code == 3
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate(timeout=10)[0]
    assert "revoked" in output.lower()
    status = subprocess.run([AGENT, "status", "--json"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 1 and json.loads(status.stdout)["revoked"] is True
