"""Delivery without a server: jobs go out as the stored envelope's text (never decoded and
encoded again) and still verify with the agent's own code; a nudge for many agents is
delivered in chunks, every agent's jobs exactly once; a "started" still waiting when its
result arrives is not written (the result ends the job)."""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from itsm_agent.envelope import load_public_keys, verify_signature

from fleet import hub as hub_module
from fleet import services
from fleet.hub import Hub, KeyedBatcher, Socket
from fleet.models import Job, JobState

from .conftest import FACTS
from .conftest_channel import database_as_migrated  # noqa: F401 (a fixture)

# Committed data: the hub's batch calls run in threads, on connections of their own. As
# the channel tests: each test starts from the database as migrated.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("database_as_migrated")]


def _closing(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    finally:
        connection.close()


class RecordingHub(Hub):
    """The hub with its batch calls in the loop's default threads (not started: no
    background loops), and a record of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    async def _run(self, kind: str, fn: Any, *args: Any) -> Any:
        self.calls.append((fn.__name__, len(args[0]) if args else 0))
        return await asyncio.get_running_loop().run_in_executor(None, _closing, fn, *args)


@pytest.fixture
def secret(fleet_manager, group) -> str:
    _row, raw = services.enrolment_secret_create(
        actor=fleet_manager, group=group, name="many", max_uses=50,
        expires_at=timezone.now() + datetime.timedelta(days=1))
    return raw


def fleet_of(secret: str, count: int) -> list[Any]:
    agents = []
    for number in range(count):
        agents.append(services.agent_enrol(secret=secret, facts={
            **FACTS, "hostname": f"del-{number}", "serial_number": f"DEL{number}",
            "mac_addresses": [f"02:00:00:00:01:{number:02x}"]}).agent)
    return agents


def frames_of(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(event["text"]) for event in sent if event["type"] == "websocket.send"]


def test_the_wire_text_is_the_stored_envelope_and_verifies_with_the_agents_code(enrolled):
    job, = services.jobs_create(agents=[enrolled.agent], kind="action", action="say-hi",
                                script="echo hi", params={"name": "Zoë", "n": 1.5},
                                spec={"type": "script", "interpreter": "sh", "timeout": 30})
    wire, = services.jobs_pending_wire([enrolled.agent.pk])[str(enrolled.agent.pk)]
    assert wire.execution_id == str(job.pk) and wire.queued
    decoded = json.loads(wire.text)
    assert decoded == services.wire_job(Job.objects.get(pk=job.pk))
    keys = load_public_keys(services.signing_keys())
    assert verify_signature(decoded["envelope"], decoded["signature"], decoded["key_id"], keys)
    tampered = {**decoded["envelope"], "params": {"name": "Zoe", "n": 1.5}}
    assert not verify_signature(tampered, decoded["signature"], decoded["key_id"], keys)
    Job.objects.filter(pk=job.pk).update(state=JobState.SENT)
    assert not services.jobs_pending_wire([enrolled.agent.pk])[str(enrolled.agent.pk)][0].queued
    Job.objects.filter(pk=job.pk).update(state=JobState.DONE)
    assert services.jobs_pending_wire([enrolled.agent.pk]) == {}


def test_a_nudge_is_delivered_in_chunks_each_agent_once(secret, signing_key, monkeypatch):
    monkeypatch.setattr(hub_module, "DELIVER_CHUNK", 3)
    agents = fleet_of(secret, 8)
    jobs = services.jobs_create(agents=agents, kind="snapshot", action="snapshot")
    by_agent = {str(job.agent_id): str(job.pk) for job in jobs}
    sent: dict[str, list[dict[str, Any]]] = {}

    async def main() -> RecordingHub:
        hub = RecordingHub()
        for agent in agents[:7]:  # the eighth is not connected here
            events = sent.setdefault(str(agent.pk), [])

            async def send(event: dict[str, Any], events: list[Any] = events) -> None:
                events.append(event)
            hub.attach(Socket(str(agent.pk), "digest", send))
        ids = [str(agent.pk) for agent in agents]
        await hub.deliver(ids)
        await hub.deliver(ids)  # the same nudge again: nothing sent twice on a socket
        for socket in hub.sockets.values():
            await socket.flush()
        return hub

    hub = asyncio.run(main())
    # 7 agents here, in chunks of 3, twice.
    assert [size for name, size in hub.calls] == [3, 3, 1, 3, 3, 1]
    keys = load_public_keys(services.signing_keys())
    for agent_id, events in sent.items():
        frames = frames_of(events)
        assert len(frames) == 1 and frames[0]["type"] == "jobs"
        wire, = frames[0]["jobs"]
        assert wire["envelope"]["execution_id"] == by_agent[agent_id]
        assert wire["envelope"]["agent_id"] == agent_id
        assert verify_signature(wire["envelope"], wire["signature"], wire["key_id"], keys)
    states = dict(Job.objects.values_list("agent_id", "state"))
    assert [states[agent.pk] for agent in agents] == [JobState.SENT] * 7 + [JobState.QUEUED]


def test_a_chunk_that_fails_does_not_keep_the_others_from_their_jobs(secret, signing_key,
                                                                     monkeypatch):
    monkeypatch.setattr(hub_module, "DELIVER_CHUNK", 2)
    agents = fleet_of(secret, 4)
    services.jobs_create(agents=agents, kind="snapshot", action="snapshot")
    unlucky = str(agents[0].pk)
    real = hub_module._fetch_pending

    def fetch(ids: list[str]) -> Any:
        if unlucky in ids:
            raise RuntimeError("the database went away")
        return real(ids)
    monkeypatch.setattr(hub_module, "_fetch_pending", fetch)
    frames: dict[str, list[Any]] = {}

    async def main() -> None:
        hub = RecordingHub()
        for agent in agents:
            events = frames.setdefault(str(agent.pk), [])

            async def send(event: dict[str, Any], events: list[Any] = events) -> None:
                events.append(event)
            hub.attach(Socket(str(agent.pk), "digest", send))
        await hub.deliver(sorted(frames))
        for socket in hub.sockets.values():
            await socket.flush()

    asyncio.run(main())
    got = {agent_id for agent_id, events in frames.items() if frames_of(events)}
    chunks = [set(sorted(frames)[:2]), set(sorted(frames)[2:])]
    lost = next(chunk for chunk in chunks if unlucky in chunk)
    assert got == set(frames) - lost


def test_the_connect_time_frame_does_not_follow_a_nudge_that_came_first(secret, signing_key):
    # The database check can nudge a socket just attached before the connect-time fetch
    # answers: the agent gets its job once, and no "nothing waiting" after it.
    busy, idle = fleet_of(secret, 2)
    job, = services.jobs_create(agents=[busy], kind="snapshot", action="snapshot")
    sent: dict[str, list[dict[str, Any]]] = {str(busy.pk): [], str(idle.pk): []}

    async def main() -> None:
        hub = RecordingHub()
        sockets = []
        for agent_id, events in sent.items():
            async def send(event: dict[str, Any], events: list[Any] = events) -> None:
                events.append(event)
            socket = Socket(agent_id, "digest", send)
            hub.attach(socket)
            sockets.append(socket)
        await hub.deliver([str(busy.pk)])  # the nudge first
        for socket in sockets:
            await hub.connected(socket)
            await socket.flush()

    asyncio.run(main())
    busy_frames = frames_of(sent[str(busy.pk)])
    assert [frame["type"] for frame in busy_frames] == ["jobs"]
    assert [wire["envelope"]["execution_id"] for wire in busy_frames[0]["jobs"]] == [str(job.pk)]
    assert frames_of(sent[str(idle.pk)]) == [{"type": "jobs", "jobs": []}]


@pytest.fixture
def published(settings, monkeypatch) -> list[tuple[str, Any]]:
    """What is published after a dispatch commits, as with Redis configured."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # never reached: _publish is recorded
    messages: list[tuple[str, Any]] = []
    monkeypatch.setattr(services, "_publish",
                        lambda channel, message: messages.append((channel, message)))
    return messages


def attached(hub: Hub, agents: list[Any]) -> dict[str, list[dict[str, Any]]]:
    sent: dict[str, list[dict[str, Any]]] = {}
    for agent in agents:
        events = sent.setdefault(str(agent.pk), [])

        async def send(event: dict[str, Any], events: list[Any] = events) -> None:
            events.append(event)
        hub.attach(Socket(str(agent.pk), "digest", send))
    return sent


ACTION = {"kind": "action", "action": "say-hi", "script": "echo hi",
          "spec": {"type": "script", "interpreter": "sh", "timeout": 30}}


def test_jobs_that_come_with_their_nudge_are_marked_sent_and_handed_over_unread(
        secret, signing_key, published, monkeypatch):
    monkeypatch.setattr(hub_module, "DELIVER_CHUNK", 2)
    agents = fleet_of(secret, 5)
    jobs = services.jobs_create(agents=agents, **ACTION)
    (channel, message), = published
    assert channel == services.NUDGE_CHANNEL
    assert [job[:2] for job in message["jobs"]] == [[str(job.agent_id), str(job.pk)]
                                                    for job in jobs]
    # Cancelled before the channel had the nudge: it is never sent.
    assert services.jobs_cancel([jobs[1].pk]) == []
    sent: dict[str, list[dict[str, Any]]] = {}

    async def main() -> RecordingHub:
        hub = RecordingHub()
        sent.update(attached(hub, agents[:4]))  # the fifth is connected elsewhere
        hub._on_pubsub(services.NUDGE_CHANNEL.encode(), json.dumps(message).encode())
        await asyncio.gather(*hub._pushes)
        for socket in hub.sockets.values():
            await socket.flush()
        return hub

    hub = asyncio.run(main())
    # Marked in chunks of two agents, and nothing read back from the database.
    assert hub.calls == [("_mark_pushed", 2), ("_mark_pushed", 2)]
    keys = load_public_keys(services.signing_keys())
    for index, agent in enumerate(agents[:4]):
        frames = frames_of(sent[str(agent.pk)])
        if index == 1:
            assert frames == []
            continue
        wire, = frames[0]["jobs"]
        assert wire == services.wire_job(Job.objects.get(pk=jobs[index].pk))
        assert verify_signature(wire["envelope"], wire["signature"], wire["key_id"], keys)
    states = dict(Job.objects.values_list("agent_id", "state"))
    assert [states[agent.pk] for agent in agents] == [
        JobState.SENT, JobState.CANCELLED, JobState.SENT, JobState.SENT, JobState.QUEUED]
    assert all(Job.objects.get(pk=jobs[index].pk).sent_at for index in (0, 2, 3))


def test_a_job_sent_already_is_not_sent_again_by_its_nudge(secret, signing_key, published):
    agent, = fleet_of(secret, 1)
    job, = services.jobs_create(agents=[agent], kind="snapshot", action="snapshot")
    (_channel, message), = published
    sent: dict[str, list[dict[str, Any]]] = {}

    async def main() -> None:
        hub = RecordingHub()
        sent.update(attached(hub, [agent]))
        for socket in hub.sockets.values():
            await hub.connected(socket)  # the connect-time fetch got it first
        hub.push(message["jobs"])
        await asyncio.gather(*hub._pushes)
        for socket in hub.sockets.values():
            await socket.flush()

    asyncio.run(main())
    frame, = frames_of(sent[str(agent.pk)])
    assert [wire["envelope"]["execution_id"] for wire in frame["jobs"]] == [str(job.pk)]


def test_a_parked_long_poll_is_answered_by_a_nudge_with_its_jobs(secret, signing_key,
                                                                 published):
    agent, = fleet_of(secret, 1)

    async def main() -> list[str]:
        hub = RecordingHub()
        poll = asyncio.ensure_future(hub.poll(str(agent.pk), wait=10))
        while str(agent.pk) not in hub.waiters or not hub.calls:
            await asyncio.sleep(0.01)  # parked, its fetch made (nothing was waiting)
        await hub.pending.drain()
        await asyncio.get_running_loop().run_in_executor(None, _closing, functools.partial(
            services.jobs_create, agents=[agent], kind="snapshot", action="snapshot"))
        (_channel, message), = published
        hub.push(message["jobs"])
        return await asyncio.wait_for(poll, 5)

    wires = asyncio.run(main())
    job = Job.objects.get(agent=agent)
    assert [json.loads(wire)["envelope"]["execution_id"] for wire in wires] == [str(job.pk)]
    assert job.state == JobState.SENT


def test_a_nudge_too_large_to_carry_its_jobs_names_the_agents(secret, signing_key,
                                                               published, monkeypatch):
    monkeypatch.setattr(services, "NUDGE_JOBS_MAX_BYTES", 1000)
    agents = fleet_of(secret, 3)
    services.jobs_create(agents=agents, **ACTION)
    assert published == [(services.NUDGE_CHANNEL, [str(agent.pk) for agent in agents])]


def test_a_malformed_nudge_is_ignored(secret, signing_key):
    agent, = fleet_of(secret, 1)

    async def main() -> RecordingHub:
        hub = RecordingHub()
        attached(hub, [agent])
        for junk in (b"{", b'{"jobs": 3}', json.dumps({"jobs": [[str(agent.pk), 1, "x"],
                                                                 "x", [str(agent.pk)]]})):
            hub._on_pubsub(services.NUDGE_CHANNEL, junk)
        await asyncio.gather(*hub._pushes)
        return hub

    assert asyncio.run(main()).calls == []


async def _inline(fn: Any, *args: Any) -> Any:
    return fn(*args)


def test_a_keyed_batch_takes_an_item_once_and_an_item_withdrawn_not_at_all():
    calls: list[list[str]] = []

    def handle(items: list[str]) -> list[bool]:
        calls.append(items)
        return [True] * len(items)

    async def main() -> list[Any]:
        batcher: KeyedBatcher[str, bool] = KeyedBatcher(_inline, handle, name="t",
                                                        window=0.01)
        first, again, other = batcher.submit("a"), batcher.submit("a"), batcher.submit("b")
        assert first is again
        assert batcher.withdraw("b", True) and not batcher.withdraw("c", True)
        answers = await asyncio.gather(first, other)
        later = batcher.submit("a")  # after its batch: a new item
        return [*answers, await later]

    assert asyncio.run(main()) == [True, True, True]
    assert calls == [["a"], ["a"]]


def test_the_database_check_names_the_agents_here_with_queued_jobs(secret, signing_key):
    agents = fleet_of(secret, 3)
    jobs = services.jobs_create(agents=agents[:2], kind="snapshot", action="snapshot")
    services.jobs_mark_sent([jobs[1].pk])
    here = [str(agent.pk) for agent in agents[1:]]
    # The first has a queued job but is not here; the second's job is sent already.
    assert hub_module._agents_with_queued_jobs(here) == []
    services.jobs_create(agents=agents[1:], kind="snapshot", action="snapshot")
    assert hub_module._agents_with_queued_jobs(here) == sorted(here)
