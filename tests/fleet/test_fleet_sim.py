"""The fleet simulator answers action jobs like agents: its policy (low and medium risk,
read-only), a result ("started" first only for an action still running after the agent's
STARTED_AFTER), failures for --fail-hosts, and cancels."""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys

import pytest
from django.utils import timezone

from fleet import services
from fleet.models import Agent, Job, JobState

from .conftest_channel import (
    ROOT,
    channel_server_fixture,  # noqa: F401 (the fixture "channel_server")
    database_as_migrated,  # noqa: F401 (a fixture)
)
from .test_agent_e2e import wait_for

SPEC = {"type": "builtin", "builtin": "flush_dns", "interpreter": "", "parameters": [],
        "timeout": 60, "run_as": "", "read_only": False, "risk": "low"}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulated_agents_answer_action_jobs(channel_server, fleet_manager, group,
                                             signing_key):
    _row, secret = services.enrolment_secret_create(
        actor=fleet_manager, group=group, name="sim",
        expires_at=timezone.now() + datetime.timedelta(days=1))
    sim = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fleet_sim.py"), "--server",
         channel_server.url, "--enrol-secret", secret, "-n", "3", "--duration", "60",
         "--report-every", "1", "--fail-hosts", "sim-00001"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: Agent.objects.filter(online=True).count() == 3, timeout=30,
                 what="three simulated agents online")
        agents = list(Agent.objects.order_by("hostname"))
        assert Agent.objects.get(hostname="sim-00000").policy["allow"] == [
            "snapshot", "query:*", "category:read-only", "category:risk:low",
            "category:risk:medium"]
        jobs = services.jobs_create(agents=agents, kind="action", action="flush-dns",
                                    spec=SPEC)
        def finished() -> dict[str, str] | None:
            found = {j.agent.hostname: Job.objects.get(pk=j.pk).state for j in jobs}
            pending = {JobState.QUEUED, JobState.SENT, JobState.RUNNING}
            return None if pending & set(found.values()) else found

        states = wait_for(finished, what="the three results")
        assert states == {"sim-00000": JobState.DONE, "sim-00001": JobState.FAILED,
                          "sim-00002": JobState.DONE}
        assert Job.objects.get(pk=jobs[1].pk).result["exit_code"] == 1

        risky, = services.jobs_create(agents=agents[:1], kind="action", action="wipe",
                                      spec={**SPEC, "risk": "high"})
        refused = wait_for(lambda: Job.objects.filter(pk=risky.pk,
                                                      state=JobState.REFUSED).first(),
                           what="the refusal")
        assert refused.refusal_reason == "not_allowed"

        # A cancel of an execution that already finished changes nothing
        cancel, = services.jobs_create(agents=agents[:1], kind="cancel", action="cancel",
                                       params={"execution_id": str(jobs[0].pk)})
        done = wait_for(lambda: Job.objects.filter(pk=cancel.pk,
                                                   state=JobState.DONE).first(),
                        what="the cancel")
        assert done.result["data"] == {"execution_id": str(jobs[0].pk), "was": "finished"}
    finally:
        sim.send_signal(signal.SIGINT)  # as bench/fleet.py: the final report line
        output = sim.communicate(timeout=20)[0]
    report = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    assert report["actions"] == 3 and report["actions_failed"] == 1


@pytest.mark.parametrize("sodium", [True, False], ids=["libsodium", "agent"])
def test_the_simulators_signature_check_is_the_agents(sodium, monkeypatch):
    """Whichever library verifies, the simulator accepts exactly what the agent accepts:
    a valid signature over the canonical form (key order does not count), and nothing
    tampered, signed by another key, unknown or malformed."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from itsm_agent.envelope import canonical_json, load_public_keys, verify_signature

    sys.path.insert(0, str(ROOT / "bench"))
    import fleet_sim

    if not sodium:
        monkeypatch.setitem(sys.modules, "nacl.signing", None)  # as if not installed
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
    keys = load_public_keys([{"key_id": "k1", "public_key": base64.b64encode(public).decode()}])
    check = fleet_sim.signature_checker(keys)
    envelope = {"execution_id": "e1", "agent_id": "a1", "sequence": 7, "params": {"b": 1}}
    signed = base64.b64encode(key.sign(canonical_json(envelope))).decode()
    by_other = base64.b64encode(other.sign(canonical_json(envelope))).decode()
    reordered = json.loads(json.dumps(dict(reversed(list(envelope.items())))))
    cases = [(envelope, signed, "k1", True), (reordered, signed, "k1", True),
             ({**envelope, "sequence": 8}, signed, "k1", False),
             (envelope, by_other, "k1", False), (envelope, signed, "k2", False),
             (envelope, "not base64!", "k1", False), (envelope, None, "k1", False),
             ("not a dict", signed, "k1", False)]
    for env, signature, key_id, expected in cases:
        assert check(env, signature, key_id) is expected
        assert verify_signature(env, signature, key_id, keys) is expected
