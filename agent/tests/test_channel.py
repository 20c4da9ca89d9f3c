"""The channel client against small real servers built here: a ``websockets.serve``
server that plays the server side of AGENT.md, and an ``http.server`` for long-poll."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import serve

from itsm_agent import cli
from itsm_agent.channel import AgentService, ws_url
from itsm_agent.config import Config
from itsm_agent.diff import apply_diff, digest
from itsm_agent.state import State


def make_service(state: State, server: str, tmp_path: Path, **overrides: Any) -> AgentService:
    config = Config(config_dir=tmp_path / "config", state_dir=state.path, server=server,
                    heartbeat_seconds=overrides.pop("heartbeat_seconds", 1),
                    inventory_seconds=overrides.pop("inventory_seconds", 2),
                    reconnect_jitter=0.0, **overrides)
    service = AgentService(config, state, rng=random.Random(7))
    service.backoff_base = 0.05
    return service


async def recv_until(ws, predicate, timeout: float = 10) -> list[dict[str, Any]]:
    """Receive messages (answering nothing) until one satisfies the predicate."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            seen.append(message)
            if predicate(message, seen):
                return seen


def test_ws_url_scheme_mapping():
    assert ws_url("http://h:8000") == "ws://h:8000/agent/v1/ws"
    assert ws_url("https://h/itsm/") == "wss://h/itsm/agent/v1/ws"
    with pytest.raises(ValueError):
        ws_url("ftp://h")


def test_websocket_session(state, signer, agent_id, tmp_path):
    """hello, signed jobs (run and refused), results and acks, ping/pong, heartbeats,
    a full inventory and then a diff against the acknowledged digest, resync."""
    good = signer.envelope(agent_id, kind="query", action="disk_above", params={"percent": 0})
    snap = signer.envelope(agent_id)
    tampered = signer.job(signer.envelope(agent_id, kind="query", action="process_running",
                                          params={"name": "sshd"}))
    tampered["envelope"]["params"]["name"] = "evil"
    forbidden = signer.envelope(agent_id, kind="action", action="reboot")
    jobs = [signer.job(good), signer.job(snap), tampered, signer.job(forbidden)]
    log: dict[str, Any] = {}

    async def handler(ws):
        log["auth"] = ws.request.headers.get("Authorization")
        hello = json.loads(await ws.recv())
        log["hello"] = hello
        await ws.send(json.dumps({"type": "jobs", "jobs": jobs}))
        await ws.send(json.dumps({"type": "ping"}))
        results: dict[str, dict] = {}
        inventories: list[dict] = []
        others: list[dict] = []

        def collect(m, _seen):
            if m["type"] == "result":
                results[m["execution_id"]] = m
            elif m["type"] == "inventory":
                inventories.append(m)
            else:
                others.append(m)
            return len(results) == 4 and inventories
        await recv_until(ws, collect)
        await ws.send(json.dumps({"type": "ack", "ids": list(results)}))
        full = inventories[0]["full"]
        await ws.send(json.dumps({"type": "inventory_ack", "digest": digest(full)}))

        def diff_and_heartbeat(m, _seen):
            others.append(m) if m["type"] != "inventory" else inventories.append(m)
            return (len(inventories) >= 2 and any(o["type"] == "heartbeat" for o in others)
                    and any(o["type"] == "pong" for o in others))
        await recv_until(ws, diff_and_heartbeat)
        # The base no longer matches (say the server lost it): a full one comes back.
        await ws.send(json.dumps({"type": "inventory_resync"}))
        await recv_until(ws, lambda m, _s: m["type"] == "inventory" and "full" in m)
        log.update(results=results, inventories=inventories, others=others)
        await ws.wait_closed()  # stay connected until the agent stops

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            service = make_service(state, f"http://127.0.0.1:{port}", tmp_path)
            task = asyncio.create_task(service.run())
            async with asyncio.timeout(30):
                while "results" not in log:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)  # let the acks land
            service.stop()
            return await task

    assert asyncio.run(main()) == 0
    assert log["auth"] == "Bearer tok-123"
    hello = log["hello"]
    assert hello["type"] == "hello" and hello["last_sequence"] == 0
    assert hello["policy"]["allow"] == ["snapshot", "query:*"]
    results = log["results"]
    assert results[good["execution_id"]]["status"] == "succeeded"
    assert results[good["execution_id"]]["data"]["matched"] is True
    snap_result = results[snap["execution_id"]]
    assert snap_result["status"] == "succeeded"
    assert set(snap_result["data"]) == {"processes", "services", "sessions"}
    assert results[tampered["envelope"]["execution_id"]]["reason"] == "bad_signature"
    assert results[forbidden["execution_id"]]["status"] == "refused"
    assert results[forbidden["execution_id"]]["reason"] == "not_allowed"
    for result in results.values():
        assert set(result) == {"type", "execution_id", "status", "reason", "exit_code",
                               "stdout", "stderr", "duration_ms", "data"}
    full, second = log["inventories"][0], log["inventories"][1]
    assert "full" in full and second["base"] == digest(full["full"])
    assert set(second["diff"]) == {"set", "unset"}
    assert "uptime_seconds" in apply_diff(full["full"], second["diff"])
    assert any(o["type"] == "heartbeat" and isinstance(o["uptime"], int)
               for o in log["others"])
    assert state.pending_count() == 0  # all acknowledged
    assert state.highest_sequence() == forbidden["sequence"]
    assert state.status()["last_inventory_sent"]


def test_unacked_results_are_resent_and_a_resent_job_is_not_rerun(state, signer, agent_id,
                                                                    tmp_path):
    env = signer.envelope(agent_id, kind="query", action="disk_above", params={"percent": 0})
    job = signer.job(env)
    connections: list[list[dict]] = []

    async def handler(ws):
        seen: list[dict] = []
        connections.append(seen)
        seen.append(json.loads(await ws.recv()))  # hello
        if len(connections) == 1:
            await ws.send(json.dumps({"type": "jobs", "jobs": [job]}))
            seen += await recv_until(ws, lambda m, _s: m["type"] == "result")
            await ws.close(1012, "restarting")  # no ack: the server went away
            return
        # After the reconnect: the unacknowledged result comes again, unprompted.
        seen += await recv_until(ws, lambda m, _s: m["type"] == "result")
        await ws.send(json.dumps({"type": "jobs", "jobs": [job]}))  # the ack was lost
        seen += await recv_until(ws, lambda m, _s: m["type"] == "result")
        await ws.send(json.dumps({"type": "ack", "ids": [env["execution_id"]]}))
        await ws.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            service = make_service(state, f"http://127.0.0.1:{port}", tmp_path,
                                   heartbeat_seconds=60, inventory_seconds=3600)
            task = asyncio.create_task(service.run())
            async with asyncio.timeout(30):
                while len(connections) < 2 or sum(
                        m["type"] == "result" for m in connections[1]) < 2:
                    await asyncio.sleep(0.05)
                while state.pending_count():
                    await asyncio.sleep(0.05)
            service.stop()
            return await task

    assert asyncio.run(main()) == 0
    first = [m for m in connections[0] if m["type"] == "result"]
    again = [m for m in connections[1] if m["type"] == "result"]
    assert len(first) == 1 and first[0]["status"] == "succeeded"
    assert again == [first[0], first[0]]  # the same stored result, never a second run
    assert connections[1][0]["last_sequence"] == env["sequence"]


class _WsServerThread:
    """A websockets server in its own thread, for `itsm-agent run` in this one."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stopped = asyncio.Event()
            async with serve(self.handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                self.ready.set()
                await self.stopped.wait()
        self.loop.run_until_complete(main())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(10)


@pytest.fixture
def enrolled_at(state):
    def point(url: str) -> State:
        identity = state.identity()
        state.save_enrolment(server=url, agent_id=identity["agent_id"], token="tok-123",
                             signing_keys=identity["signing_keys"], heartbeat_seconds=60,
                             inventory_seconds=3600)
        return state
    return point


def test_revoked_close_exits_3_and_status_shows_it(enrolled_at, tmp_path, capsys):
    async def handler(ws):
        await ws.recv()  # hello
        await ws.close(4401, "revoked")

    server = _WsServerThread(handler)
    st = enrolled_at(f"http://127.0.0.1:{server.port}")
    try:
        started = time.monotonic()
        code = cli.main(["run", "--state-dir", str(st.path),
                         "--config-dir", str(tmp_path / "config")])
    finally:
        server.close()
    assert code == 3 and time.monotonic() - started < 10
    assert "revoked" in capsys.readouterr().err
    assert cli.main(["status", "--state-dir", str(st.path),
                     "--config-dir", str(tmp_path / "config")]) == 1
    out = capsys.readouterr().out
    assert "revoked              True" in out
    # And `run` refuses to start again until re-enrolled.
    assert cli.main(["run", "--state-dir", str(st.path),
                     "--config-dir", str(tmp_path / "config")]) == 3


def test_handshake_401_is_a_revocation_too(enrolled_at, tmp_path):
    async def reject(connection, request):
        return connection.respond(401, '{"code": "revoked"}')

    async def handler(ws):  # never reached
        await ws.close()

    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run_server():
        loop = asyncio.new_event_loop()

        async def main():
            holder["stop"] = asyncio.Event()
            async with serve(handler, "127.0.0.1", 0, process_request=reject) as srv:
                holder["port"] = srv.sockets[0].getsockname()[1]
                ready.set()
                await holder["stop"].wait()
        holder["loop"] = loop
        loop.run_until_complete(main())

    thread = threading.Thread(target=run_server, daemon=True)
    thread.start()
    assert ready.wait(10)
    st = enrolled_at(f"http://127.0.0.1:{holder['port']}")
    try:
        code = cli.main(["run", "--state-dir", str(st.path),
                         "--config-dir", str(tmp_path / "config")])
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
    assert code == 3


# -- long-poll --------------------------------------------------------------------------

class PollServer:
    """/agent/v1/ws is not a WebSocket here (a proxy that blocks them); /poll hands out
    queued jobs, /messages records what the agent says and acknowledges it."""

    def __init__(self) -> None:
        self.jobs: list[dict] = []
        self.messages: list[dict] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                outer.requests.append(f"GET {self.path}")
                if self.headers.get("Authorization") != "Bearer tok-123":
                    return self._reply(401, {"code": "unauthenticated", "message": ""})
                if self.path.startswith("/agent/v1/poll"):
                    deadline = time.monotonic() + 1
                    while time.monotonic() < deadline:
                        with outer.lock:
                            if outer.jobs:
                                jobs, outer.jobs = outer.jobs, []
                                return self._reply(200, {"jobs": jobs})
                        time.sleep(0.02)
                    return self._reply(204)
                return self._reply(400, {"code": "bad_request", "message": "no upgrade"})

            def do_POST(self):
                outer.requests.append(f"POST {self.path}")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                replies = []
                for m in body["messages"]:
                    outer.messages.append(m)
                    if m["type"] == "result":
                        replies.append({"type": "ack", "ids": [m["execution_id"]]})
                    elif m["type"] == "inventory" and "full" in m:
                        replies.append({"type": "inventory_ack", "digest": digest(m["full"])})
                return self._reply(200, {"replies": replies})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_falls_back_to_long_poll_after_three_websocket_failures(state, signer, agent_id,
                                                                tmp_path):
    http = PollServer()
    env = signer.envelope(agent_id)
    http.jobs.append(signer.job(env))

    async def main():
        service = make_service(state, http.url, tmp_path, heartbeat_seconds=1)
        service.poll_wait = 1
        task = asyncio.create_task(service.run())
        async with asyncio.timeout(30):
            while not (any(m["type"] == "result" for m in http.messages)
                       and any(m["type"] == "heartbeat" for m in http.messages)):
                await asyncio.sleep(0.05)
            while state.pending_count():
                await asyncio.sleep(0.05)
        service.stop()
        return await task

    try:
        assert asyncio.run(main()) == 0
    finally:
        http.close()
    ws_tries = [r for r in http.requests if r.startswith("GET /agent/v1/ws")]
    assert len(ws_tries) == 3
    # The reachability probe is an empty message batch: it takes no jobs off the queue.
    assert http.requests[3] == "POST /agent/v1/messages"
    assert http.messages[0]["type"] == "hello"
    result = next(m for m in http.messages if m["type"] == "result")
    assert result["execution_id"] == env["execution_id"] and result["status"] == "succeeded"
    assert any(m["type"] == "inventory" and "full" in m for m in http.messages)
    assert any(r.startswith("GET /agent/v1/poll?wait=1") for r in http.requests)
