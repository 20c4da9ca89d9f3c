"""Benchmark: 10,000 simulated agents on one server, on PostgreSQL and Redis on this
machine: the server's memory and CPU with the fleet idle, the time for the whole fleet to
reconnect after a server restart, and (for the record) the receipt of one nudged job per
agent.

    .venv/bin/python bench/fleet.py                  # 10,000 agents, record the results
    .venv/bin/python bench/fleet.py --agents 1000 --no-record   # a quick look

1. Seeds the PostgreSQL database ``itsm_bench_fleet`` (created and migrated when missing):
   AGENTS device CIs and enrolled agents, written in bulk with the ORM (enrolling 10,000
   one by one through the API is not what is measured here), their tokens in
   ``var/bench-fleet/tokens.csv``, and a job-signing key in ``var/bench-fleet/``.
2. Starts the server (``uvicorn itsm.asgi:application``, one process, as the embedded
   run; REDIS_URL db 8 for the nudges) and the simulator (bench/fleet_sim.py) with the
   agents' heartbeat at 60 s and a restart jitter of 10 s.
3. When all are connected, waits WARM s, then samples the server process for IDLE s:
   resident memory (max) and CPU time used (user + system, as a share of one core).
4. Sends every agent one signed snapshot job (``fleet.services.jobs_create`` in this
   process, as the worker would) and reads the simulator's receipt latencies.
5. Kills the server (SIGKILL: a crash, no goodbye) and starts it again at once, and
   measures until every agent is connected again; the simulator counts handshake
   answers by status (5xx would be the server failing under the reconnect storm).

Targets (issue 7): idle memory < 512 MB, idle CPU < 10 % of one core, reconnect < 60 s
with no 5xx. Results are appended to docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "itsm_bench_fleet"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/8"
WORK = ROOT / "var" / "bench-fleet"
WARM, IDLE = 30, 60


def environment() -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "itsm.settings", "ITSM_VAR_DIR": str(WORK),
            "FLEET_SIGNING_KEY_FILE": str(WORK / "fleet-signing.pem"),
            "LOG_TASKS": "0"}


def setup(agents: int) -> None:
    """Database, migrations, key and AGENTS enrolled agents (kept between runs)."""
    WORK.mkdir(parents=True, exist_ok=True)
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
        capture_output=True, text=True, check=True).stdout.strip() == "1"
    if not exists:
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc",
                        f"CREATE DATABASE {DATABASE}"], check=True)
    os.environ.update(environment())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("fleet_keygen", "--if-missing", verbosity=0)
    seed(agents)


def seed(count: int) -> None:
    from cmdb.models import CIClass, ConfigurationItem
    from fleet import services, tokens
    from fleet.models import Agent, Job

    # Jobs left by an earlier run would reach the new simulator as old news.
    Job.objects.filter(agent__hostname__startswith="bench-").delete()
    have = Agent.objects.filter(hostname__startswith="bench-").count()
    path = WORK / "tokens.csv"
    if have >= count and path.exists() and len(path.read_text().splitlines()) > count:
        return
    if have >= count:
        # The agents are there but their tokens are not (a copied database, a fresh
        # checkout): new tokens for them, rather than deleting agents that runs refer to.
        keep = list(Agent.objects.filter(hostname__startswith="bench-").order_by("hostname"))
        raws = [tokens.new_secret(tokens.TOKEN_PREFIX) for _ in keep]
        for agent, raw in zip(keep, raws, strict=True):
            agent.token_prefix, agent.token_hash = raw[:tokens.PREFIX_LENGTH], tokens.digest(raw)
            agent.revoked_at = None
        Agent.objects.bulk_update(keep, ["token_prefix", "token_hash", "revoked_at"],
                                  batch_size=2000)
        _write_tokens(path, keep, raws)
        return
    Agent.objects.filter(hostname__startswith="bench-").delete()
    ConfigurationItem.objects.filter(name__startswith="bench-").delete()
    workstation = CIClass.objects.get(key="workstation")
    os_value = services.device_os_choice(workstation, "Ubuntu 24.04")
    cis = ConfigurationItem.objects.bulk_create([
        ConfigurationItem(name=f"bench-{i:05d}", ci_class=workstation, status="operational",
                          hostname=f"bench-{i:05d}", serial_number=f"BENCH{i:07d}",
                          identity=f"serial:BENCH{i:07d}", attributes={"os": os_value})
        for i in range(count)], batch_size=2000)
    raws = [tokens.new_secret(tokens.TOKEN_PREFIX) for _ in cis]
    made = Agent.objects.bulk_create([
        Agent(device=ci, hostname=ci.name, os_name="Ubuntu", agent_version="sim-1",
              token_prefix=raw[:tokens.PREFIX_LENGTH], token_hash=tokens.digest(raw))
        for ci, raw in zip(cis, raws, strict=True)], batch_size=2000)
    _write_tokens(path, made, raws)


def _write_tokens(path: Path, agents: list[Any], raws: list[str]) -> None:
    from fleet import services

    keys = json.dumps(services.signing_keys())
    lines = [keys, *(f"{agent.pk},{raw},,{agent.hostname}"
                     for agent, raw in zip(agents, raws, strict=True))]
    path.write_text("\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, ws: str = "auto") -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "itsm.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log", "--log-level", "warning", "--ws", ws,
         # As the Procfile and the image: no per-message compression (a zlib
         # compressor per connection would cost some 45 KB each).
         "--ws-per-message-deflate", "false",
         "--ws-max-size", str(4 * 1024 * 1024), "--timeout-keep-alive", "75"],
        cwd=ROOT, env=environment())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


class Simulator:
    """The simulator subprocess; keeps its latest counters line."""

    def __init__(self, port: int, agents: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fleet_sim.py"), "--server",
             f"http://127.0.0.1:{port}", "--tokens", str(WORK / "tokens.csv"), "-n",
             str(agents), "--heartbeat", "60", "--jitter", "10", "--report-every", "1"],
            cwd=ROOT, env=environment(), stdout=subprocess.PIPE, text=True)
        self.latest: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.latest = json.loads(line)
            except ValueError:
                continue

    def wait_connected(self, count: int, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.latest.get("connected", 0) >= count:
                return time.monotonic() - started
            time.sleep(0.2)
        raise SystemExit(f"only {self.latest.get('connected')} of {count} connected "
                         f"after {timeout:.0f} s: {self.latest}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def sample_idle(pid: int, seconds: float) -> dict[str, float]:
    import psutil

    process = psutil.Process(pid)
    before = process.cpu_times()
    peak = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        peak = max(peak, process.memory_info().rss)
        time.sleep(1)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return {"rss_mb": round(peak / 2 ** 20), "cpu_percent_of_one_core":
            round(100 * used / (time.monotonic() - started), 1),
            "threads": process.num_threads()}


def nudge_all(sim: Simulator, agents: int) -> dict[str, Any]:
    from fleet import services
    from fleet.models import Agent

    jobs_before = sim.latest.get("jobs", 0)
    started = time.monotonic()
    targets = list(Agent.objects.filter(hostname__startswith="bench-")[:agents])
    services.jobs_create(agents=targets, kind="snapshot", action="snapshot")
    created = time.monotonic() - started
    while sim.latest.get("jobs", 0) - jobs_before < agents and time.monotonic() - started < 60:
        time.sleep(0.1)
    return {"created_s": round(created, 2), "all_received_s":
            round(time.monotonic() - started, 2), "received": sim.latest.get("jobs", 0) -
            jobs_before, "receipt_p50": sim.latest.get("receipt_p50"),
            "receipt_p99": sim.latest.get("receipt_p99")}


def record(results: dict[str, Any]) -> None:
    import psutil

    machine = (f"{platform.node()}: {psutil.cpu_count()} CPUs, "
               f"{round(psutil.virtual_memory().total / 2 ** 30)} GiB, Python "
               f"{platform.python_version()}, PostgreSQL and Redis on the same machine")
    idle, nudge = results["idle"], results["nudge"]
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    rows = [
        ("all connected at start", f"{results['connect_s']} s", ""),
        (f"server memory, fleet idle (RSS, max over {IDLE} s)", f"{idle['rss_mb']} MB",
         "< 512 MB"),
        (f"server CPU, fleet idle ({IDLE} s)",
         f"{idle['cpu_percent_of_one_core']} % of one core", "< 10 %"),
        ("server threads, fleet idle", str(idle["threads"]), ""),
        ("one signed snapshot job to every agent: created and signed, then all received",
         f"{nudge['created_s']} s, all received {nudge['all_received_s']} s after the "
         f"start (receipt from not_before: p50 {nudge['receipt_p50']} s, "
         f"p99 {nudge['receipt_p99']} s)", ""),
        ("reconnect after a server crash (SIGKILL, restarted at once)",
         f"{results['reconnect_s']} s", "< 60 s"),
        ("handshake answers other than 101 during the reconnect",
         str(results["handshake_errors"] or "none"), "no 5xx"),
        ("connections refused or dropped meanwhile (the server was down)",
         str(results["connection_errors"] or "none"), ""),
    ]
    lines = ["", f"## Fleet: {results['agents']:,} agents on one server ({when})", "",
             f"Machine: {machine}. Command: `.venv/bin/python bench/fleet.py`.", "",
             "| measure | result | target |", "| --- | --- | --- |",
             *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
    with open(ROOT / "docs" / "benchmarks.md", "a") as handle:
        handle.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--ws", default="auto",
                        help="uvicorn's WebSocket implementation (as the Procfile: auto)")
    args = parser.parse_args()
    setup(args.agents)
    port = free_port()
    server = start_server(port, args.ws)
    sim = Simulator(port, args.agents)
    results: dict[str, Any] = {"agents": args.agents}
    try:
        results["connect_s"] = round(sim.wait_connected(args.agents, 300), 1)
        time.sleep(WARM)
        results["idle"] = sample_idle(server.pid, IDLE)
        results["nudge"] = nudge_all(sim, args.agents)
        errors_before = dict(sim.latest.get("handshake_errors") or {})
        server.kill()
        server.wait()
        crashed = time.monotonic()
        server = start_server(port, args.ws)
        time.sleep(1)
        sim.wait_connected(args.agents, 180)
        results["reconnect_s"] = round(time.monotonic() - crashed, 1)
        errors = sim.latest.get("handshake_errors") or {}
        results["handshake_errors"] = {k: v - errors_before.get(k, 0) for k, v in errors.items()
                                       if v - errors_before.get(k, 0)}
        results["connection_errors"] = sim.latest.get("connection_errors") or {}
    finally:
        sim.stop()
        server.terminate()
        server.wait(timeout=20)
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(results)


if __name__ == "__main__":
    main()
