"""A fleet of simulated endpoint agents in one asyncio process, speaking the real protocol
(docs/agent.md): enrolment (or tokens made beforehand), the WebSocket channel with the
agent's backoff and restart jitter, signature and envelope checks with the agent's own
code (itsm_agent.envelope), heartbeats, and results for every job (execution simulated).
Action jobs are answered as a real agent would, fast: the local policy checked, a
``started`` message if still running after the agent's STARTED_AFTER, then the result
(``--fail-rate`` and ``--fail-hosts`` make some fail); ``cancel`` jobs stop actions still
running. For tests (a few agents) and
benchmarks (10,000: bench/fleet.py).

    python bench/fleet_sim.py --server http://127.0.0.1:8000 --tokens var/fleet-tokens.csv
    python bench/fleet_sim.py --server http://127.0.0.1:8000 --enrol-secret itsm_enr_… -n 20

It prints one JSON line of counters every ``--report-every`` seconds (and at the end):
connected, connecting, jobs received, results acknowledged, refusals, handshake errors by
status, and the receipt latency of jobs (from the envelope's not_before to arrival)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import fnmatch
import gc
import hashlib
import json
import os
import random
import resource
import signal
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

import websockets
from itsm_agent.channel import STARTED_AFTER, backoff_delay, restart_jitter, ws_url
from itsm_agent.envelope import canonical_json, load_public_keys, parse_time, verify_signature
from itsm_agent.policy import Policy, action_categories

# What every simulated device's owner allows (sent in the hello, applied to actions).
SIM_POLICY = ("snapshot", "query:*", "category:read-only", "category:risk:low",
              "category:risk:medium")


@dataclass
class Counters:
    connected: int = 0
    connects: int = 0
    jobs: int = 0
    acked: int = 0
    refused: int = 0
    revoked: int = 0
    actions: int = 0
    actions_failed: int = 0
    actions_cancelled: int = 0
    handshake_errors: dict[str, int] = field(default_factory=dict)
    connection_errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def report(self, started: float) -> dict[str, Any]:
        lat = sorted(self.latencies)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 3)) if lat else (
            lambda q: None)
        return {"t": round(time.monotonic() - started, 2), "connected": self.connected,
                "connects": self.connects, "jobs": self.jobs, "acked": self.acked,
                "refused": self.refused, "revoked": self.revoked,
                "actions": self.actions, "actions_failed": self.actions_failed,
                "actions_cancelled": self.actions_cancelled,
                "handshake_errors": self.handshake_errors,
                "connection_errors": self.connection_errors,
                "receipt_p50": pick(.5), "receipt_p99": pick(.99),
                "receipt_mean": round(statistics.fmean(lat), 3) if lat else None}


@dataclass
class SimAgent:
    agent_id: str
    token: str
    role: str = ""  # "server" or "workstation" when the tokens file says (the demo)
    hostname: str = ""  # for --fail-hosts; the agent id when the tokens file has none
    seen: set[str] = field(default_factory=set)
    highest: int = 0
    # Created on first use: most agents of a benchmark never run an action.
    running: dict[str, asyncio.Task[None]] | None = None
    cancelled: set[str] | None = None


class Fleet:
    def __init__(self, server: str, keys: list[dict[str, str]], heartbeat: float,
                 jitter: float, work_ms: float, demo: bool = False, fail_rate: float = 0.0,
                 fail_hosts: str = "") -> None:
        self.server, self.heartbeat, self.jitter, self.work_ms = server, heartbeat, jitter, work_ms
        self.demo = demo
        self.fail_rate, self.fail_hosts = fail_rate, fail_hosts
        self.policy = Policy(allow=SIM_POLICY, source="simulator")
        self.keys = load_public_keys(keys)
        self.verify = signature_checker(self.keys)
        self.counters = Counters()
        self.rng = random.Random(2026)

    async def run_agent(self, agent: SimAgent, stop: asyncio.Event) -> None:
        attempt, was_connected = 0, False
        while not stop.is_set():
            try:
                await self._session(agent, stop)
                attempt, was_connected = 0, True
            except _Revoked:
                self.counters.revoked += 1
                return
            except (TimeoutError, OSError, websockets.WebSocketException) as error:
                # An HTTP answer to the handshake is counted by its status (a 5xx is the
                # server failing); a refused or dropped connection by its kind.
                status = getattr(getattr(error, "response", None), "status_code", None)
                bucket = (self.counters.handshake_errors if status else
                          self.counters.connection_errors)
                key = str(status or type(error).__name__)
                bucket[key] = bucket.get(key, 0) + 1
            if stop.is_set():
                return
            # The agent's own backoff; after losing a working connection (a server
            # restart) the first retry also waits the restart jitter.
            delay = backoff_delay(attempt, self.rng)
            if was_connected:
                delay += restart_jitter(self.jitter, self.rng)
                was_connected = False
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self, agent: SimAgent, stop: asyncio.Event) -> None:
        headers = {"Authorization": f"Bearer {agent.token}"}
        async with websockets.connect(ws_url(self.server), additional_headers=headers,
                                      open_timeout=30, ping_interval=None,
                                      compression=None,  # as the real agent
                                      max_size=4 * 1024 * 1024) as socket:
            self.counters.connects += 1
            self.counters.connected += 1
            try:
                await socket.send(json.dumps({"type": "hello", "agent_version": "sim-1",
                                              "last_sequence": agent.highest,
                                              "policy": self.policy.as_dict()}))
                beat = asyncio.create_task(self._heartbeats(socket))
                try:
                    async for raw in socket:
                        await self._on_message(agent, socket, json.loads(raw))
                        if stop.is_set():
                            break
                finally:
                    beat.cancel()
            finally:
                self.counters.connected -= 1
            if socket.close_code == 4401:
                raise _Revoked()

    async def _heartbeats(self, socket: Any) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.heartbeat))
        while True:
            await socket.send(json.dumps({"type": "heartbeat", "uptime": 1}))
            await asyncio.sleep(self.heartbeat)

    async def _on_message(self, agent: SimAgent, socket: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ping":
            await socket.send('{"type":"pong"}')
        elif kind == "ack":
            self.counters.acked += len(message.get("ids") or [])
        elif kind == "jobs":
            for job in message.get("jobs") or []:
                await self._run(agent, socket, job)

    async def _run(self, agent: SimAgent, socket: Any, job: dict[str, Any]) -> None:
        envelope = job.get("envelope") or {}
        execution_id = str(envelope.get("execution_id"))
        arrived = datetime.now(UTC)
        if execution_id in agent.seen:  # sent again after a reconnect: answer again
            status, reason = "succeeded", ""
            if envelope.get("kind") == "action":
                if execution_id in (agent.running or {}):
                    return  # still running: its result follows
                if execution_id in (agent.cancelled or set()):
                    status, reason = "cancelled", "cancelled"
        elif not self.verify(envelope, job.get("signature"), job.get("key_id")):
            status, reason = "refused", "bad_signature"
        elif envelope.get("agent_id") != agent.agent_id:
            status, reason = "refused", "wrong_agent"
        elif envelope.get("sequence", 0) <= agent.highest:
            status, reason = "refused", "replayed"
        else:
            status, reason = "succeeded", ""
            agent.highest = envelope["sequence"]
            self.counters.jobs += 1
            try:
                sent = parse_time(envelope.get("not_before"))
                self.counters.latencies.append((arrived - sent).total_seconds())
            except ValueError:
                pass
        kind = envelope.get("kind")
        if status == "succeeded" and kind in ("action", "cancel") and \
                execution_id not in agent.seen:
            agent.seen.add(execution_id)
            if kind == "cancel":
                await self._cancel(agent, socket, execution_id, envelope)
                return
            if not self.policy.allows(str(envelope.get("action")),
                                      action_categories(envelope)):
                status, reason = "refused", "not_allowed"
            elif execution_id in (agent.cancelled or set()):
                status, reason = "cancelled", "cancelled"
            else:
                if agent.running is None:
                    agent.running = {}
                agent.running[execution_id] = asyncio.create_task(
                    self._act(agent, socket, execution_id))
                return
        elif status == "succeeded" and kind == "cancel":  # sent again
            await self._cancel(agent, socket, execution_id, envelope)
            return
        elif status == "succeeded" and kind == "action":  # sent again: the same answer
            if self.policy.allows(str(envelope.get("action")), action_categories(envelope)):
                failed = self.fails(agent, execution_id)
                await self._send(socket, self.action_result(execution_id, failed, 0))
                return
            status, reason = "refused", "not_allowed"
        if status == "refused":
            self.counters.refused += 1
        agent.seen.add(execution_id)
        if self.work_ms:
            await asyncio.sleep(self.work_ms / 1000 * self.rng.random())
        data = self.contents(agent, envelope) if status == "succeeded" else {}
        await socket.send(json.dumps({
            "type": "result", "execution_id": execution_id, "status": status,
            "reason": reason, "exit_code": 0 if status == "succeeded" else None,
            "stdout": "", "stderr": "", "duration_ms": int(self.work_ms), "data": data}))

    # -- action jobs ---------------------------------------------------------------------
    def fails(self, agent: SimAgent, execution_id: str) -> bool:
        """Deterministic: the same execution id fails on every run of the simulator."""
        if self.fail_hosts and fnmatch.fnmatchcase(agent.hostname or agent.agent_id,
                                                   self.fail_hosts):
            return True
        if self.fail_rate <= 0:
            return False
        draw = int(hashlib.sha256(execution_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return draw < self.fail_rate

    @staticmethod
    def action_result(execution_id: str, failed: bool, took_ms: int) -> dict[str, Any]:
        return {"type": "result", "execution_id": execution_id,
                "status": "failed" if failed else "succeeded", "reason": "",
                "exit_code": 1 if failed else 0, "stdout": "" if failed else "ok\n",
                "stderr": "simulated failure\n" if failed else "",
                "duration_ms": took_ms, "data": {}}

    @staticmethod
    async def _send(socket: Any, message: dict[str, Any]) -> None:
        # A socket closed meanwhile: the server sends the job again on reconnect.
        with contextlib.suppress(websockets.WebSocketException, OSError):
            await socket.send(json.dumps(message))

    async def _act(self, agent: SimAgent, socket: Any, execution_id: str) -> None:
        started = time.monotonic()
        self.counters.actions += 1
        # As the agent: "started" only for an action still running after STARTED_AFTER.
        tell = asyncio.get_running_loop().call_later(STARTED_AFTER, lambda: (
            asyncio.ensure_future(self._send(socket, {"type": "started",
                                                      "execution_id": execution_id}))))
        try:
            if self.work_ms:
                await asyncio.sleep(self.work_ms / 1000 * self.rng.random())
            failed = self.fails(agent, execution_id)
            self.counters.actions_failed += failed
            await self._send(socket, self.action_result(
                execution_id, failed, int((time.monotonic() - started) * 1000)))
        except asyncio.CancelledError:
            if agent.cancelled is None or execution_id not in agent.cancelled:
                raise  # the simulator stopping, not a cancel
            self.counters.actions_cancelled += 1
            await self._send(socket, {
                "type": "result", "execution_id": execution_id, "status": "cancelled",
                "reason": "cancelled", "exit_code": None, "stdout": "", "stderr": "",
                "duration_ms": int((time.monotonic() - started) * 1000), "data": {}})
        finally:
            tell.cancel()
            if agent.running is not None:
                agent.running.pop(execution_id, None)

    async def _cancel(self, agent: SimAgent, socket: Any, execution_id: str,
                      envelope: dict[str, Any]) -> None:
        target = str((envelope.get("params") or {}).get("execution_id"))
        if agent.cancelled is None:
            agent.cancelled = set()
        task = (agent.running or {}).get(target)
        if task is not None:
            agent.cancelled.add(target)
            task.cancel()
            was = "running"
        elif target in agent.seen:
            was = "finished"
        else:
            agent.cancelled.add(target)  # answered "cancelled" if it arrives later
            was = "not_started"
        await self._send(socket, {
            "type": "result", "execution_id": execution_id, "status": "succeeded",
            "reason": "", "exit_code": 0, "stdout": "", "stderr": "", "duration_ms": 0,
            "data": {"execution_id": target, "was": was}})

    def contents(self, agent: SimAgent, envelope: dict[str, Any]) -> dict[str, Any]:
        """What a simulated device answers: empty for benchmarks; with ``--demo`` a
        believable machine (the same one every time for the same agent)."""
        kind, action = envelope.get("kind"), envelope.get("action")
        params = envelope.get("params") or {}
        if not self.demo:
            return {"matched": False, "detail": {}} if kind == "query" else {
                "processes": [], "services": [], "sessions": []}
        machine = demo_machine(agent.agent_id, agent.role)
        if kind != "query":
            return {key: machine[key] for key in ("processes", "services", "sessions")}
        name = str(params.get("name", "")).lower()
        if action == "process_running":
            found = [p for p in machine["processes"] if name and name in p["name"].lower()]
            return {"matched": bool(found), "detail": {"processes": found[:5]}}
        if action == "service_stopped":
            found = [s for s in machine["services"]
                     if name and name in s["name"].lower() and s["state"] != "running"]
            return {"matched": bool(found), "detail": {"services": found}}
        if action == "disk_above":
            full = [d for d in machine["disks"] if d["used_percent"] > float(
                params.get("percent", 100))]
            return {"matched": bool(full), "detail": {"disks": full}}
        return {"matched": False, "detail": {"found": False}}


def signature_checker(keys: dict[str, Any]) -> Any:
    """The agent's check (the same canonical bytes, the same pinned keys), through
    libsodium when PyNaCl is installed: its Ed25519 verify costs half of OpenSSL's here
    (54 µs against 107 µs), and 10,000 simulated agents verify on the one machine that
    also runs the server."""
    try:
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey
    except ImportError:
        return lambda envelope, signature, key_id: verify_signature(envelope, signature,
                                                                    key_id, keys)
    from cryptography.hazmat.primitives import serialization

    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    sodium = {key_id: VerifyKey(key.public_bytes(*raw)) for key_id, key in keys.items()}

    def verify(envelope: Any, signature: Any, key_id: Any) -> bool:
        key = sodium.get(key_id) if isinstance(key_id, str) else None
        if key is None or not isinstance(envelope, dict) or not isinstance(signature, str):
            return False
        try:
            key.verify(canonical_json(envelope), base64.b64decode(signature, validate=True))
        except (BadSignatureError, ValueError, binascii.Error):
            return False
        return True

    return verify


def demo_machine(agent_id: str, role: str = "") -> dict[str, Any]:
    rng = random.Random(agent_id)
    server = role == "server" if role else rng.random() < 0.35
    names = ([("nginx", "www-data"), ("python3", "app"), ("sshd", "root"),
              ("postgres", "postgres"), ("systemd-journald", "root")] if server else
             [("explorer.exe", "user"), ("OUTLOOK.EXE", "user"), ("Teams.exe", "user"),
              ("chrome.exe", "user"), ("MsMpEng.exe", "SYSTEM"), ("OneDrive.exe", "user")])
    services = (("nginx.service", "ssh.service", "cron.service", "cups.service") if server
                else ("Spooler", "WinDefend", "wuauserv", "BITS"))
    return {
        "processes": [{"pid": 300 + i * 17, "name": name, "user": user,
                       "cpu_percent": round(rng.uniform(0, 25), 1),
                       "memory_mb": rng.randint(15, 1200)} for i, (name, user) in
                      enumerate(names)],
        "services": [{"name": name, "state": "running" if rng.random() < 0.85 else "dead"}
                     for name in services],
        "sessions": [] if server else [{"user": "corp\\user", "terminal": "console",
                                        "host": "", "started": "08:47"}],
        "disks": [{"mount": "/" if server else "C:\\", "total_gb": 256,
                   "used_percent": rng.choice((38, 52, 61, 74, 86, 91))}],
    }


class _Revoked(Exception):
    pass


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def enrol(server: str, secret: str, count: int) -> tuple[list[SimAgent], list[dict[str, str]]]:
    agents, keys = [], []
    for index in range(count):
        reply = _post(server.rstrip("/") + "/agent/v1/enroll", {"secret": secret, "facts": {
            "hostname": f"sim-{index:05d}", "domain": "sim.example", "os_name": "Ubuntu",
            "os_version": "24.04", "serial_number": f"SIM{index:07d}",
            "mac_addresses": [], "ip_addresses": [], "agent_version": "sim-1"}})
        agents.append(SimAgent(reply["agent_id"], reply["token"],
                               hostname=f"sim-{index:05d}"))
        keys = reply["signing_keys"]
    return agents, keys


def read_tokens(path: Path) -> tuple[list[SimAgent], list[dict[str, str]]]:
    """The file bench/fleet.py (and the demo) writes: a first line of JSON signing keys,
    then ``agent_id,token[,role[,hostname]]`` lines."""
    lines = path.read_text().splitlines()
    keys = json.loads(lines[0])
    return [SimAgent(*line.split(",", 3)) for line in lines[1:] if line], keys


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.tokens and not Path(args.tokens).exists():
        # The embedded run's Procfile starts the simulator for the demo fleet; without
        # its tokens (no demo loaded) it idles rather than stop the other processes.
        print(f"no tokens at {args.tokens}: no simulated agents", file=sys.stderr, flush=True)
        while True:
            await asyncio.sleep(3600)
    if args.tokens:
        agents, keys = read_tokens(Path(args.tokens))
        agents = agents[:args.agents] if args.agents else agents
    else:
        agents, keys = enrol(args.server, args.enrol_secret, args.agents)
    fleet = Fleet(args.server, keys, args.heartbeat, args.jitter, args.work_ms, args.demo,
                  fail_rate=args.fail_rate, fail_hosts=args.fail_hosts)
    stop = asyncio.Event()
    # SIGINT / SIGTERM end the run with the final report line (bench/fleet.py, tests).
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    # One process holds what 10,000 agents would each hold on their own machine (a
    # million objects): Python's default thresholds would walk them all in a full
    # collection every few seconds, a cost no real agent has. Young collections less
    # often; the connected fleet frozen out of them below.
    gc.set_threshold(50_000, 20, 20)
    started = time.monotonic()
    tasks = []
    for index, agent in enumerate(agents):
        tasks.append(asyncio.create_task(fleet.run_agent(agent, stop)))
        if index % 200 == 199:
            await asyncio.sleep(args.ramp)  # do not open 10,000 sockets in one tick
    deadline = started + args.duration if args.duration else None
    frozen = False
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=args.report_every)
            if not frozen and fleet.counters.connected >= len(agents):
                gc.freeze()  # the connected fleet's objects: out of every collection
                frozen = True
            line = fleet.counters.report(started)
            line["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            print(json.dumps(line), flush=True)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return fleet.counters.report(started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("ITSM_SERVER",
                                                           "http://127.0.0.1:8000"))
    parser.add_argument("--tokens", help="agent_id,token file from bench/fleet.py")
    parser.add_argument("--enrol-secret", help="enrol this many agents first instead")
    parser.add_argument("-n", "--agents", type=int, default=0)
    parser.add_argument("--heartbeat", type=float, default=60.0)
    parser.add_argument("--jitter", type=float, default=10.0,
                        help="the restart jitter of the first reconnect (seconds)")
    parser.add_argument("--work-ms", type=float, default=0.0,
                        help="simulated execution time per job, at most (ms)")
    parser.add_argument("--ramp", type=float, default=0.05,
                        help="pause after every 200 connections at start (seconds)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (0: run until killed)")
    parser.add_argument("--report-every", type=float, default=1.0)
    parser.add_argument("--demo", action="store_true",
                        help="answer with believable machines (the embedded demo fleet)")
    parser.add_argument("--fail-rate", type=float, default=0.0,
                        help="fraction of action executions that fail with exit code 1 "
                             "(by a hash of the execution id: reruns agree)")
    parser.add_argument("--fail-hosts", default="",
                        help="fnmatch pattern over simulated hostnames whose actions "
                             "always fail")
    args = parser.parse_args()
    if not 0 <= args.fail_rate <= 1:
        parser.error("--fail-rate is a fraction from 0 to 1")
    if not args.tokens and not args.enrol_secret:
        parser.error("give --tokens or --enrol-secret")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # bench/fleet.py stops the simulator with SIGINT.
    # uvloop when installed (uvicorn[standard] brings it; the server runs on it too):
    # 10,000 simulated agents cost the machine less CPU, which the server shares.
    try:
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        print(json.dumps(run(main_async(args))), flush=True)


if __name__ == "__main__":
    main()
