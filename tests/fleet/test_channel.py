"""The agent channel against a real server process (uvicorn, the test database): enrolment,
the WebSocket (jobs on connect and when nudged, results acknowledged after the commit,
inventories, bad and huge messages, revocation, rate limits), the long-poll fallback, a
server restart, and 200 agents at once on a handful of threads."""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from fleet import services, signing
from fleet.models import Agent, Inventory, Job, JobState

from .conftest import FACTS
from .conftest_channel import (
    MESSAGE_MAX_BYTES,
    RATE_PER_MINUTE,
    ChannelServer,
    channel_server_fixture,  # noqa: F401 (the fixture "channel_server")
    database_as_migrated,  # noqa: F401 (a fixture)
    http,
)

# Committed data (the server is another process). Each test starts from the database as
# migrated, with the same primary keys (the server caches content types by id).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NUDGE_LATENCY = 1.0  # seconds from the commit of a job to the agent having it


# --- Helpers ---------------------------------------------------------------------------

def enrol(server: ChannelServer, secret: str, **facts: Any) -> dict[str, Any]:
    reply = http(server, "POST", "/agent/v1/enroll",
                 {"secret": secret, "facts": {**FACTS, **facts}})
    assert reply.status == 201, reply.body
    return reply.body


def open_socket(server: ChannelServer, token: str) -> ClientConnection:
    return connect(server.ws_url, additional_headers={"Authorization": f"Bearer {token}"},
                   open_timeout=10, max_size=None)


def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame other than a ping."""
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        if message.get("type") != "ping":
            return message


def closed_code(ws: ClientConnection, timeout: float = 8.0) -> int | None:
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@contextmanager
def connected(server: ChannelServer, token: str) -> Iterator[ClientConnection]:
    """A socket past its connect-time jobs frame (which says what was pending)."""
    with open_socket(server, token) as ws:
        first = receive(ws)
        assert first == {"type": "jobs", "jobs": []}, first
        yield ws


def snapshot_job(agent_id: str) -> Job:
    agent = Agent.objects.get(pk=agent_id)
    return services.jobs_create(agents=[agent], kind="snapshot", action="snapshot")[0]


def wait_for(condition: Any, timeout: float = 6.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


INVENTORY = {"os": {"name": "Ubuntu", "version": "24.04", "kernel": "6.8"},
             "hostname": "lap-0042", "domain": "corp.example", "serial_number": "PF3XYZ42",
             "ip_addresses": ["10.1.2.42"], "mac_addresses": ["aa:bb:cc:dd:ee:42"],
             "cpu": {"model": "i7", "cores": 8}, "memory_mb": 16000,
             "disks": [{"mount": "/", "total_gb": 500, "used_percent": 40}],
             "uptime_seconds": 1000, "software": [], "processes": [], "services": [],
             "sessions": []}


@pytest.fixture
def open_secret(fleet_manager, group, signing_key) -> str:
    """A secret without a use limit (the load test enrols 200 machines)."""
    _row, raw = services.enrolment_secret_create(
        actor=fleet_manager, group=group, name="fleet",
        expires_at=timezone.now() + datetime.timedelta(days=1))
    return raw


@pytest.fixture
def agent(channel_server, open_secret) -> dict[str, Any]:
    return enrol(channel_server, open_secret)


# --- Enrolment ---------------------------------------------------------------------------

def test_enrolment_over_http_and_the_same_machine_again(channel_server, open_secret):
    first = enrol(channel_server, open_secret)
    assert first["token"].startswith("itsm_agt_") and not first["reenrolled"]
    assert first["heartbeat_seconds"] > 0 and first["inventory_seconds"] > 0
    key = services.signing_keys()[0]
    assert first["signing_keys"] == [key]
    again = enrol(channel_server, open_secret, hostname="LAP-0042")
    assert again["agent_id"] == first["agent_id"] and again["reenrolled"]
    assert again["token"] != first["token"]

    refused = http(channel_server, "POST", "/agent/v1/enroll",
                   {"secret": "itsm_enr_wrong", "facts": FACTS})
    assert refused.status == 403 and refused.body["code"] == "secret_invalid"
    assert refused.body["message"]
    missing = http(channel_server, "POST", "/agent/v1/enroll",
                   {"secret": open_secret, "facts": {**FACTS, "hostname": ""}})
    assert missing.status == 400 and missing.body["code"] == "bad_request"
    garbage = http(channel_server, "POST", "/agent/v1/enroll", raw=b"{nope")
    assert garbage.status == 400 and garbage.body["code"] == "bad_request"
    assert http(channel_server, "GET", "/agent/v1/enroll").status == 405
    assert http(channel_server, "GET", "/agent/v1/nothing").status == 404
    assert Agent.objects.count() == 1


# --- WebSocket: jobs ---------------------------------------------------------------------

def test_a_job_reaches_the_connected_agent_within_a_second(channel_server, agent):
    with connected(channel_server, agent["token"]) as ws:
        started = time.monotonic()
        job = snapshot_job(agent["agent_id"])
        message = receive(ws, timeout=5)
        latency = time.monotonic() - started
        assert message["type"] == "jobs" and len(message["jobs"]) == 1
        wire = message["jobs"][0]
        assert wire["envelope"]["execution_id"] == str(job.pk)
        key = {k["key_id"]: k["public_key"] for k in agent["signing_keys"]}[wire["key_id"]]
        assert signing.verify(wire["envelope"], wire["signature"], key)
        print(f"nudge latency {latency * 1000:.0f} ms")
        assert latency < NUDGE_LATENCY, f"the job took {latency:.2f}s"
        assert wait_for(lambda: Job.objects.get(pk=job.pk).state == JobState.SENT)


def test_pending_jobs_are_sent_on_connect(channel_server, agent):
    jobs = [snapshot_job(agent["agent_id"]) for _ in range(2)]
    with open_socket(channel_server, agent["token"]) as ws:
        first = receive(ws)
        assert first["type"] == "jobs"
        assert [j["envelope"]["execution_id"] for j in first["jobs"]] == [
            str(job.pk) for job in jobs]


def test_a_result_is_acknowledged_only_once_it_is_stored(channel_server, agent):
    job = snapshot_job(agent["agent_id"])
    with open_socket(channel_server, agent["token"]) as ws:
        assert receive(ws)["jobs"][0]["envelope"]["execution_id"] == str(job.pk)
        result = {"type": "result", "execution_id": str(job.pk), "status": "succeeded",
                  "reason": "", "exit_code": 0, "stdout": "", "stderr": "",
                  "duration_ms": 12, "data": {"processes": [{"pid": 1, "name": "init"}],
                                              "services": [], "sessions": []}}
        ws.send(json.dumps(result))
        assert receive(ws) == {"type": "ack", "ids": [str(job.pk)]}
        # Acknowledged means committed: the job is done the moment the ack is read.
        stored = Job.objects.get(pk=job.pk)
        assert stored.state == JobState.DONE and stored.result["duration_ms"] == 12
        assert Inventory.objects.get(agent_id=agent["agent_id"]).snapshot["processes"]
        # The same result again (a lost ack) is acknowledged again, nothing changes.
        ws.send(json.dumps(result))
        assert receive(ws) == {"type": "ack", "ids": [str(job.pk)]}
        # A result without an execution id is refused, and the socket keeps working.
        ws.send(json.dumps({"type": "result", "status": "succeeded"}))
        assert receive(ws)["code"] == "bad_message"


# --- WebSocket: inventory and bad input ---------------------------------------------------

def test_inventory_full_then_diff_and_a_wrong_base(channel_server, agent):
    with connected(channel_server, agent["token"]) as ws:
        ws.send(json.dumps({"type": "inventory", "full": INVENTORY}))
        ack = receive(ws)
        assert ack == {"type": "inventory_ack", "digest": signing.document_digest(INVENTORY)}
        changed = {**INVENTORY, "uptime_seconds": 2000}
        del changed["sessions"]
        ws.send(json.dumps({"type": "inventory", "base": ack["digest"],
                            "diff": {"set": {"uptime_seconds": 2000}, "unset": ["sessions"]}}))
        second = receive(ws)
        assert second == {"type": "inventory_ack",
                          "digest": signing.document_digest(changed)}
        ws.send(json.dumps({"type": "inventory", "base": "0" * 64,
                            "diff": {"set": {"uptime_seconds": 1}, "unset": []}}))
        assert receive(ws) == {"type": "inventory_resync"}
        ws.send(json.dumps({"type": "inventory", "full": {"nonsense": True}}))
        refused = receive(ws)
        assert refused["type"] == "error" and refused["code"] == "bad_inventory"
        stored = Inventory.objects.get(agent_id=agent["agent_id"])
        assert stored.digest == second["digest"] and stored.data == changed


def test_malformed_frames_get_an_error_and_the_socket_stays(channel_server, agent):
    with connected(channel_server, agent["token"]) as ws:
        for frame in ("{not json", "[1, 2]", json.dumps({"type": "launch_missiles"})):
            ws.send(frame)
            reply = receive(ws)
            assert reply["type"] == "error" and reply["code"] == "bad_message", frame
        ws.send(json.dumps({"type": "heartbeat", "uptime": 5}))
        job = snapshot_job(agent["agent_id"])
        assert receive(ws)["jobs"][0]["envelope"]["execution_id"] == str(job.pk)


def test_a_message_over_the_size_limit_is_refused(channel_server, agent):
    huge = {**INVENTORY, "software": [{"name": "x" * 100, "version": "1", "vendor": "v"}
                                      for _ in range(MESSAGE_MAX_BYTES // 100)]}
    with connected(channel_server, agent["token"]) as ws:
        ws.send(json.dumps({"type": "inventory", "full": huge}))
        assert receive(ws)["code"] == "too_large"
        assert closed_code(ws) == 1009
    assert not Inventory.objects.filter(agent_id=agent["agent_id"]).exists()
    reply = http(channel_server, "POST", "/agent/v1/messages",
                 {"messages": [{"type": "inventory", "full": huge}]}, token=agent["token"])
    assert reply.status == 413 and reply.body["code"] == "too_large"
    assert not Inventory.objects.filter(agent_id=agent["agent_id"]).exists()


# --- Authentication, revocation, rate limits ------------------------------------------------

def test_a_bad_token_is_closed_4401(channel_server):
    with open_socket(channel_server, "itsm_agt_not-a-token") as ws:
        assert closed_code(ws) == 4401
    reply = http(channel_server, "GET", "/agent/v1/poll?wait=0", token="itsm_agt_nope")
    assert reply.status == 401 and reply.body["code"] == "unauthenticated"


def test_revocation_closes_the_open_socket_and_refuses_the_next(channel_server, agent,
                                                                fleet_manager):
    with connected(channel_server, agent["token"]) as ws:
        started = time.monotonic()
        services.agent_revoke(actor=fleet_manager, agent=Agent.objects.get(
            pk=agent["agent_id"]))
        assert closed_code(ws, timeout=10) == 4401
        print(f"revocation closed the socket in {time.monotonic() - started:.2f}s")
    with open_socket(channel_server, agent["token"]) as ws:
        assert closed_code(ws) == 4401
    reply = http(channel_server, "GET", "/agent/v1/poll?wait=0", token=agent["token"])
    assert reply.status == 401 and reply.body["code"] == "revoked"


def test_an_agent_over_its_rate_is_refused(channel_server, agent):
    statuses = [http(channel_server, "GET", "/agent/v1/poll?wait=0", token=agent["token"])
                for _ in range(RATE_PER_MINUTE + 1)]
    limited = statuses[-1]
    assert [r.status for r in statuses[:-1]] == [204] * RATE_PER_MINUTE
    assert limited.status == 429 and limited.body["code"] == "rate_limited"
    assert limited.body["retry_after"] >= 1 and limited.headers["Retry-After"]


def test_a_socket_over_its_rate_is_closed_4429(channel_server, open_secret):
    other = enrol(channel_server, open_secret, hostname="lap-0043", serial_number="S43",
                  mac_addresses=["aa:bb:cc:dd:ee:43"])
    with connected(channel_server, other["token"]) as ws:
        for _ in range(RATE_PER_MINUTE + 5):
            try:
                ws.send(json.dumps({"type": "heartbeat", "uptime": 1}))
            except ConnectionClosed:
                break
        assert closed_code(ws) == 4429


# --- Presence ------------------------------------------------------------------------------

def test_presence_and_hello_are_written_in_the_next_flush(channel_server, agent):
    policy = {"allow": ["snapshot", "query:*"]}
    with connected(channel_server, agent["token"]) as ws:
        ws.send(json.dumps({"type": "hello", "agent_version": "1.2.3", "last_sequence": 0,
                            "policy": policy}))
        assert wait_for(lambda: Agent.objects.filter(
            pk=agent["agent_id"], online=True, channel="websocket", agent_version="1.2.3",
            policy=policy).exists())
    assert wait_for(lambda: not Agent.objects.get(pk=agent["agent_id"]).online)


# --- Long-poll --------------------------------------------------------------------------------

def test_long_poll_answers_a_job_promptly_and_204_on_timeout(channel_server, agent):
    token = agent["token"]
    started = time.monotonic()
    empty = http(channel_server, "GET", "/agent/v1/poll?wait=1", token=token)
    assert empty.status == 204 and 0.9 < time.monotonic() - started < 3

    answer: dict[str, Any] = {}

    def poll() -> None:
        answer["reply"] = http(channel_server, "GET", "/agent/v1/poll?wait=20", token=token,
                               timeout=30)
        answer["at"] = time.monotonic()

    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(0.5)  # parked
    created = time.monotonic()
    job = snapshot_job(agent["agent_id"])
    waiting.join(timeout=25)
    reply = answer["reply"]
    assert reply.status == 200
    assert [j["envelope"]["execution_id"] for j in reply.body["jobs"]] == [str(job.pk)]
    latency = answer["at"] - created
    print(f"long-poll latency {latency * 1000:.0f} ms")
    assert latency < NUDGE_LATENCY + 0.5

    # Handed over: not handed again while the agent runs it (no busy loop).
    assert http(channel_server, "GET", "/agent/v1/poll?wait=0", token=token).status == 204
    result = {"type": "result", "execution_id": str(job.pk), "status": "failed",
              "reason": "", "exit_code": 1, "stdout": "", "stderr": "boom",
              "duration_ms": 3, "data": {}}
    reply = http(channel_server, "POST", "/agent/v1/messages", token=token, body={
        "messages": [{"type": "heartbeat", "uptime": 3}, result,
                     {"type": "inventory", "full": INVENTORY}, {"type": "what"}]})
    assert reply.status == 200, reply.body
    replies = reply.body["replies"]
    assert replies[0]["type"] == "inventory_ack"
    assert replies[1]["code"] == "bad_message"
    assert replies[2] == {"type": "ack", "ids": [str(job.pk)]}
    assert Job.objects.get(pk=job.pk).state == JobState.FAILED
    bad = http(channel_server, "POST", "/agent/v1/messages", token=token, raw=b"{oops")
    assert bad.status == 400 and bad.body["code"] == "bad_request"
    assert wait_for(lambda: Agent.objects.filter(pk=agent["agent_id"], online=True,
                                                 channel="poll").exists())


# --- Scale: 200 agents, few threads --------------------------------------------------------

def test_two_hundred_agents_get_a_nudged_job_on_few_threads(channel_server, open_secret):
    count = 200
    tokens = {}
    for number in range(count):
        enrolled = services.agent_enrol(secret=open_secret, facts={
            **FACTS, "hostname": f"load-{number}", "serial_number": f"LOAD{number}",
            "mac_addresses": [f"02:00:00:00:{number // 256:02x}:{number % 256:02x}"]})
        tokens[str(enrolled.agent.pk)] = enrolled.token
    ready, received, errors = threading.Event(), {}, []

    async def one(agent_id: str, token: str) -> None:
        from websockets.asyncio.client import connect as aconnect

        async with aconnect(channel_server.ws_url, open_timeout=30,
                            additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            assert json.loads(await ws.recv()) == {"type": "jobs", "jobs": []}
            connected_count.append(agent_id)
            if len(connected_count) == count:
                ready.set()
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message["type"] == "jobs":
                    received[agent_id] = (time.monotonic(), message["jobs"])
                    return

    async def fleet() -> None:
        outcomes = await asyncio.gather(*(one(a, t) for a, t in tokens.items()),
                                        return_exceptions=True)
        errors.extend(o for o in outcomes if isinstance(o, BaseException))

    connected_count: list[str] = []
    runner = threading.Thread(target=asyncio.run, args=(fleet(),))
    runner.start()
    assert ready.wait(60), f"{len(connected_count)} connected; {errors[:3]}"
    threads = channel_server.threads()
    started = time.monotonic()
    services.jobs_create(agents=list(Agent.objects.filter(hostname__startswith="load-")),
                         kind="snapshot", action="snapshot")
    runner.join(timeout=60)
    assert not errors, errors[:3]
    assert len(received) == count
    slowest = max(at for at, _ in received.values()) - started
    print(f"200 agents: all had their job {slowest * 1000:.0f} ms after the commit; "
          f"server threads {threads}")
    assert slowest < 5.0
    assert all(len(jobs) == 1 and jobs[0]["envelope"]["agent_id"] == agent_id
               for agent_id, (_, jobs) in received.items())
    assert threads < 50, threads
    assert channel_server.threads() < 50


# --- Restart -------------------------------------------------------------------------------------

def test_after_a_restart_the_agent_reconnects_and_gets_what_is_pending(channel_server, agent):
    with connected(channel_server, agent["token"]) as ws:
        channel_server.stop()
        assert closed_code(ws) in (1012, 1001, 1006, None)
    job = snapshot_job(agent["agent_id"])  # created while the server is down
    channel_server.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            reconnected = open_socket(channel_server, agent["token"])
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    with reconnected as ws:
        first = receive(ws)
        assert [j["envelope"]["execution_id"] for j in first["jobs"]] == [str(job.pk)]


# --- Action jobs: "started" ------------------------------------------------------------------

ACTION_SPEC = {"type": "script", "builtin": "", "interpreter": "sh", "parameters": [],
               "timeout": 30, "run_as": "", "read_only": False, "risk": "low"}


def action_job(agent_id: str) -> Job:
    agent = Agent.objects.get(pk=agent_id)
    return services.jobs_create(agents=[agent], kind="action", action="say-hi",
                                script="echo hi", spec=ACTION_SPEC)[0]


def test_started_over_the_websocket_marks_the_job_running(channel_server, agent,
                                                          open_secret):
    other = enrol(channel_server, open_secret, hostname="lap-0043", serial_number="X43",
                  mac_addresses=["aa:bb:cc:dd:ee:43"])
    job = action_job(agent["agent_id"])
    with open_socket(channel_server, other["token"]) as intruder:
        assert receive(intruder) == {"type": "jobs", "jobs": []}
        intruder.send(json.dumps({"type": "started", "execution_id": str(job.pk)}))
        time.sleep(0.5)  # another agent's "started" is ignored
    with open_socket(channel_server, agent["token"]) as ws:
        wire = receive(ws)["jobs"][0]
        assert wire["envelope"]["spec"] == ACTION_SPEC
        assert Job.objects.get(pk=job.pk).state == JobState.SENT
        ws.send(json.dumps({"type": "started", "execution_id": str(job.pk)}))
        assert wait_for(lambda: Job.objects.get(pk=job.pk).state == JobState.RUNNING)
        ws.send(json.dumps({"type": "started"}))
        assert receive(ws)["code"] == "bad_message"
        ws.send(json.dumps({"type": "result", "execution_id": str(job.pk),
                            "status": "succeeded", "reason": "", "exit_code": 0,
                            "stdout": "hi\n", "stderr": "", "duration_ms": 3, "data": {}}))
        assert receive(ws) == {"type": "ack", "ids": [str(job.pk)]}
        # A late "started" does not bring a finished job back.
        ws.send(json.dumps({"type": "started", "execution_id": str(job.pk)}))
        time.sleep(0.5)
    stored = Job.objects.get(pk=job.pk)
    assert stored.state == JobState.DONE and stored.result["stdout"] == "hi\n"


def test_started_over_long_poll_is_written_before_the_answer(channel_server, agent):
    job = action_job(agent["agent_id"])
    token = agent["token"]
    polled = http(channel_server, "GET", "/agent/v1/poll?wait=0", token=token)
    assert polled.status == 200 and polled.body["jobs"][0]["envelope"]["kind"] == "action"
    reply = http(channel_server, "POST", "/agent/v1/messages", token=token,
                 body={"messages": [{"type": "started", "execution_id": str(job.pk)}]})
    assert reply.status == 200 and reply.body == {"replies": []}
    assert Job.objects.get(pk=job.pk).state == JobState.RUNNING


def test_started_and_its_result_in_one_post_end_the_job(channel_server, agent):
    job = action_job(agent["agent_id"])
    token = agent["token"]
    polled = http(channel_server, "GET", "/agent/v1/poll?wait=0", token=token)
    assert [j["envelope"]["execution_id"] for j in polled.body["jobs"]] == [str(job.pk)]
    result = {"type": "result", "execution_id": str(job.pk), "status": "succeeded",
              "reason": "", "exit_code": 0, "stdout": "hi\n", "stderr": "",
              "duration_ms": 3, "data": {}}
    reply = http(channel_server, "POST", "/agent/v1/messages", token=token, body={
        "messages": [{"type": "started", "execution_id": str(job.pk)}, result]})
    assert reply.status == 200
    assert reply.body == {"replies": [{"type": "ack", "ids": [str(job.pk)]}]}
    stored = Job.objects.get(pk=job.pk)
    assert stored.state == JobState.DONE and stored.sent_at is not None
