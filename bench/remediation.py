"""Benchmark: one approved action to 10,000 simulated agents, on PostgreSQL and Redis on
this machine: from "start run" to every result stored, the nudge-to-receipt latency, and a
10-wave rollout (a canary and 9 batches, no pause) end to end.

    .venv/bin/python bench/remediation.py                    # 10,000 agents, 3 repetitions
    .venv/bin/python bench/remediation.py --agents 1000 --repeat 1
    .venv/bin/python bench/remediation.py --micro            # the server side alone, no sim
    .venv/bin/python bench/remediation.py --profile var/prof # py-spy each process per run

Another database or Redis db (two people benchmarking on one machine): BENCH_DATABASE,
BENCH_REDIS_URL (defaults ``itsm_bench_remediation``, db 13).

1. Seeds ``itsm_bench_remediation`` as bench/fleet.py seeds its database (AGENTS devices
   and enrolled agents, tokens and the signing key in ``var/bench-remediation/``), and an
   approved action (the ``flush_dns`` builtin), an operator, an approver, and an approved
   change whose window is open: the run's authority.
2. Starts the server (uvicorn, the web and the agent channel), a Celery worker on the
   ``dispatch`` queue (concurrency 1) and the simulator (bench/fleet_sim.py), REDIS_URL
   db 13 for the broker and the nudges.
3. Per repetition (a fresh simulator each time, so its receipt latencies are this run's):
   ``remediation.runs.run_start`` in this process for every workstation (the bench's
   devices), then polls until every execution has its result. The nudge time is when the
   wave's transaction committed: this process listens on the nudge channel, published
   right after the commit. The simulator measures receipt from the envelope's
   ``not_before`` (the start of signing); the difference between the two is subtracted.
4. The same with ``rollout=waves``: a canary of AGENTS/10 then 9 batches, pause 0.

``--micro`` times the server-side functions alone, in this process: ``run_start``,
``wave_dispatch`` (``jobs_create``: sequences, signatures, inserts), the hub's side of
the nudges that carry the jobs (``hub._mark_pushed``: ``jobs_mark_sent`` per chunk of 500)
and ``results_record`` in the hub's batches of 500 (executions following through
``jobs_changed``).

Targets (the issue): start → all results stored < 5 s; nudge → receipt p50 < 1 s, p99 < 3 s.
Medians of the repetitions are printed and written to var/bench-remediation/result.json
(micro.json for --micro); docs/benchmarks.md holds the figures recorded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC
from datetime import datetime as dt
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fleet as fleet_bench  # noqa: E402

# Overridable, so two people benchmarking on one machine keep apart (own database and
# Redis db): BENCH_DATABASE, BENCH_REDIS_URL.
DATABASE = os.environ.get("BENCH_DATABASE", "itsm_bench_remediation")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
WORK = ROOT / "var" / "bench-remediation"
ALLOW_ALL = {"allow": ["snapshot", "query:*", "*"]}
RESULT_BATCH = 500  # the hub's results batcher (fleet/hub.py)

# bench/fleet.py's seeding, server and simulator, on this benchmark's database and Redis db.
fleet_bench.DATABASE = DATABASE
fleet_bench.DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
fleet_bench.REDIS_URL = REDIS_URL
fleet_bench.WORK = WORK


def setup(agents: int) -> dict[str, Any]:
    fleet_bench.setup(agents)
    return {**authority_setup(), "devices": devices(agents)}


def authority_setup() -> dict[str, Any]:
    """The operator, the approver, the approved action and the change (made once)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import UserProfile
    from accounts.services import _set_roles
    from changes.models import Change
    from incidents.models import Incident  # noqa: F401  (ticket models loaded)
    from remediation import services
    from remediation.models import ActionVersion, VersionStatus
    from tickets.services import ticket_create

    users = {}
    for name, role in (("bench-operator", "remediation_operator"),
                       ("bench-approver", "remediation_approver"),
                       ("bench-desk", "service_desk_agent")):
        user, _created = get_user_model().objects.get_or_create(username=name)
        UserProfile.objects.get_or_create(user=user, defaults={"time_zone": "UTC"})
        _set_roles(user, [role])
        users[role] = get_user_model().objects.get(pk=user.pk)
    version = ActionVersion.objects.filter(action__name="bench-flush-dns",
                                           status=VersionStatus.APPROVED).first()
    if version is None:
        draft = services.action_create(
            actor=users["remediation_operator"], name="bench-flush-dns",
            title="Flush the DNS cache (benchmark)", kind="builtin", builtin="flush_dns",
            platforms=["linux"], timeout_seconds=60)
        version = services.version_approve(actor=users["remediation_approver"],
                                           version=draft)
    now = timezone.now()
    change = Change.objects.filter(title="Benchmark: flush DNS everywhere").first()
    if change is None:
        change = ticket_create(model=Change, actor=users["service_desk_agent"],
                               title="Benchmark: flush DNS everywhere", type="normal",
                               planned_start=now - datetime.timedelta(hours=1),
                               planned_end=now + datetime.timedelta(days=30))
    Change.objects.filter(pk=change.pk).update(
        state="scheduled", authorized_at=now, planned_start=now - datetime.timedelta(hours=1),
        planned_end=now + datetime.timedelta(days=30))
    change.refresh_from_db()
    return {"operator": users["remediation_operator"], "version": version, "change": change}


def allow_actions() -> None:
    """The simulator's hello says "snapshot, query:*"; its agents take any action here."""
    from fleet import bulk
    from fleet.models import Agent

    # Rows locked in id order, as the channel's presence writes lock them (an unordered
    # UPDATE of 10,000 agents deadlocked with a presence flush).
    ids = list(Agent.objects.filter(hostname__startswith="bench-").values_list("pk", flat=True))
    bulk.update_returning(Agent, assignments={"policy": "%s", "online": "%s"},
                          params=[bulk.prep(Agent, "policy", ALLOW_ALL), True], ids=ids,
                          returning=(), lock_in_order=True)


def clean() -> None:
    """Runs and jobs of earlier repetitions (not the agents), all but the last two: a
    database in use holds its history. (Planned with the statistics of tables holding no
    queued job, marking jobs sent once cost PostgreSQL 8-100 s of CPU; fleet.bulk's
    statements no longer depend on them: docs/benchmarks.md.)"""
    from django.db import connection

    from fleet.models import Job
    from remediation.models import Execution, Run

    runs = Run.objects.filter(version__action__name="bench-flush-dns")
    kept = list(runs.order_by("-created_at", "-pk").values_list("pk", flat=True)[:2])
    runs.exclude(pk__in=kept).delete()
    Job.objects.filter(agent__hostname__startswith="bench-").exclude(
        pk__in=Execution.objects.filter(run__in=kept).values("pk")).delete()
    # Each repetition leaves 10,000 dead jobs, executions and agent versions behind, more
    # than autovacuum clears between runs: after a day of runs fleet_job was 626 MB for
    # 10,000 live rows and every run slower.
    with connection.cursor() as cursor:
        for table in ("fleet_job", "remediation_execution", "remediation_wave",
                      "remediation_run", "fleet_agent"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def devices(agents: int) -> list[int]:
    """The devices of the simulator's agents (the first AGENTS of the tokens file)."""
    from fleet.models import Agent

    lines = (WORK / "tokens.csv").read_text().splitlines()[1:agents + 1]
    return list(Agent.objects.filter(pk__in=[line.split(",")[0] for line in lines])
                .values_list("device_id", flat=True))


def start(ctx: dict[str, Any], **options: Any) -> Any:
    from remediation import runs
    from remediation.authority import Authority

    return runs.run_start(actor=ctx["operator"], version=ctx["version"],
                          targets={"devices": ctx["devices"]},
                          authority=Authority("change", change=ctx["change"]), **options)


# --- Micro: the server side alone ------------------------------------------------------

def micro(ctx: dict[str, Any], repeat: int) -> dict[str, Any]:
    from django.db import transaction

    from fleet import hub, services
    from fleet.models import Job
    from remediation import runs
    from remediation.models import Execution

    runs._send_later = lambda *args, **kwargs: None  # no worker: dispatched below
    pushed: list[tuple[str, str, str]] = []  # what the dispatch's nudges carry
    services.publish_jobs = pushed.extend
    allow_actions()
    timings: dict[str, list[float]] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        value = fn(*args, **kwargs)
        timings.setdefault(name, []).append(time.perf_counter() - began)
        return value

    for _ in range(repeat):
        clean()
        run = timed("run_start", start, ctx)
        timed("wave_dispatch (jobs_create)", runs.wave_dispatch, run.pk, 1)
        jobs = list(Job.objects.filter(pk__in=Execution.objects.filter(run=run).values("pk"))
                    .values_list("pk", "agent_id"))
        agent_ids = [agent_id for _pk, agent_id in jobs]

        # The channel's side of those nudges, in its chunks of DELIVER_CHUNK agents.
        chunks = [{agent_id: [(execution_id, wire)]
                   for agent_id, execution_id, wire in pushed[at:at + hub.DELIVER_CHUNK]}
                  for at in range(0, len(pushed), hub.DELIVER_CHUNK)]
        pushed.clear()
        timed("hub push (jobs_mark_sent)", lambda chunks=chunks: [
            hub._mark_pushed(chunk) for chunk in chunks])

        def record(pairs: list[tuple[Any, Any]] = jobs) -> None:
            for at in range(0, len(pairs), RESULT_BATCH):
                with transaction.atomic():
                    services.results_record([(agent_id, {
                        "execution_id": str(pk), "status": "succeeded", "exit_code": 0,
                        "stdout": "", "stderr": "", "duration_ms": 3, "data": {}})
                        for pk, agent_id in pairs[at:at + RESULT_BATCH]])
        timed(f"results_record ({RESULT_BATCH} a batch)", record)
        assert Execution.objects.filter(run=run, state="succeeded").count() == len(jobs)
    return {"devices": len(agent_ids), "repeat": repeat,
            "median_s": {name: round(statistics.median(values), 3)
                         for name, values in timings.items()}}


def micro_signing(count: int) -> dict[str, float]:
    """Canonical JSON and an Ed25519 signature per envelope, apart."""
    from fleet import signing

    envelope = {"v": 1, "execution_id": "6f1c1c1e-94a5-4d55-8a0e-3f6e0c6bb6a1",
                "agent_id": "123", "kind": "action", "action": "bench-flush-dns",
                "version": 1, "script_sha256": "", "script": "", "params": {},
                "not_before": "2026-11-24T08:00:00Z", "expires_at": "2026-11-24T09:00:00Z",
                "sequence": 1, "spec": {"type": "builtin", "builtin": "flush_dns"}}
    key = signing.private_key()
    began = time.perf_counter()
    for _ in range(count):
        signing.canonical(envelope)
    canonical_s = time.perf_counter() - began
    data = signing.canonical(envelope)
    began = time.perf_counter()
    for _ in range(count):
        key.sign(data)
    sign_s = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(count):
        signing.sign(envelope)
    return {"canonical_s": round(canonical_s, 3), "ed25519_s": round(sign_s, 3),
            "signing.sign_s": round(time.perf_counter() - began, 3)}


# --- End to end: server, worker, simulator -------------------------------------------

class Simulator(fleet_bench.Simulator):
    """bench/fleet.py's simulator, reporting its counters every 0.1 s."""

    def __init__(self, port: int, agents: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fleet_sim.py"), "--server",
             f"http://127.0.0.1:{port}", "--tokens", str(WORK / "tokens.csv"), "-n",
             str(agents), "--heartbeat", "60", "--jitter", "10", "--report-every", "0.1"],
            cwd=ROOT, env=fleet_bench.environment(), stdout=subprocess.PIPE, text=True)
        self.latest: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()


def start_worker() -> subprocess.Popen:
    """A Celery worker on the dispatch queue, as the Procfile's (one process)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "itsm", "worker", "--queues", "dispatch",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-mingle",
         "--without-gossip"], cwd=ROOT, env=fleet_bench.environment())
    from itsm.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
    worker.kill()
    raise SystemExit("the worker did not start")


class Nudges:
    """When nudges were published (right after each wave's commit): this process
    subscribes to the channel the hub listens on."""

    def __init__(self) -> None:
        import redis

        from fleet.services import NUDGE_CHANNEL

        self.pubsub = redis.Redis.from_url(REDIS_URL).pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(NUDGE_CHANNEL)
        self.seen: list[tuple[float, int]] = []  # (wall time, agents nudged)
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        for message in self.pubsub.listen():
            if message.get("type") == "message":
                nudge = json.loads(message["data"])  # agent ids, or {"jobs": [...]}
                self.seen.append((time.time(), len(nudge.get("jobs", ())
                                                   if isinstance(nudge, dict) else nudge)))

    def since(self, moment: float) -> list[tuple[float, int]]:
        return [entry for entry in self.seen if entry[0] >= moment]


class CpuMeter:
    """CPU seconds spent by each process of the run (the server, the worker, the
    simulator, this process: run_start, and PostgreSQL's backends), from the start of the
    run to its last result: less sensitive than wall time to what else the machine runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        import psutil

        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.before = self._read()

    @staticmethod
    def _cpu(process: Any, children: bool = True) -> float:
        total = 0.0
        try:  # the worker's pool process does its work: children count too
            for each in [process, *(process.children(recursive=True) if children else [])]:
                times = each.cpu_times()
                total += times.user + times.system
        except Exception:  # ended meanwhile
            pass
        return total

    def _read(self) -> dict[str, float]:
        import psutil

        # This process's children are the server, worker and simulator: not its own.
        values = {name: self._cpu(process, children=process.pid != os.getpid())
                  for name, process in self.processes.items()}
        values["postgresql"] = sum(self._cpu(process, children=False) for process in
                                   psutil.process_iter(["name"])
                                   if process.info["name"] == "postgres")
        return values

    def spent(self) -> dict[str, float]:
        after = self._read()
        return {f"cpu_{name}_s": round(after[name] - self.before.get(name, 0.0), 2)
                for name in after}


PROFILE: Path | None = None  # --profile DIR


def profile_start(pids: dict[str, int]) -> list[subprocess.Popen]:
    """py-spy on each process from the start of the run to its last result (collapsed
    stacks in PROFILE/<process>-<time>.txt), when --profile is given."""
    if PROFILE is None:
        return []
    PROFILE.mkdir(parents=True, exist_ok=True)
    stamp = f"{dt.now(UTC):%H%M%S}"
    spy = Path(sys.executable).with_name("py-spy")
    return [subprocess.Popen([str(spy), "record", "--nonblocking", "--subprocesses",
                              "-r", "250", "-f", "raw", "-p", str(pid), "-o",
                              str(PROFILE / f"{name}-{stamp}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()]


def profile_stop(profilers: list[subprocess.Popen]) -> None:
    for each in profilers:
        each.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    for each in profilers:
        each.wait(timeout=30)
    profilers.clear()


def one_run(ctx: dict[str, Any], port: int, agents: int, nudges: Nudges,
            **options: Any) -> dict[str, Any]:
    """A fresh simulator, one run to every agent; times in seconds from the start."""
    from fleet.models import Job
    from remediation.models import PENDING_EXECUTION_STATES, Execution, Run, RunState

    clean()
    sim = Simulator(port, agents)
    try:
        sim.wait_connected(agents, 300)
        # The hellos written (presence is flushed every 2 s), then every agent allowed.
        from fleet.models import Agent

        for _attempt in range(10):
            time.sleep(2.5)
            allow_actions()
            time.sleep(2.5)
            if Agent.objects.filter(device__in=ctx["devices"], policy=ALLOW_ALL).count() \
                    >= len(ctx["devices"]):
                break
        meter = CpuMeter({**ctx.get("pids", {}), "simulator": sim.process.pid,
                          "bench (run_start)": os.getpid()})
        profilers = profile_start({**ctx.get("pids", {}), "simulator": sim.process.pid})
        began = time.time()
        run = start(ctx, **options)
        started = time.time() - began
        total = Execution.objects.filter(run=run).count()
        stored = None
        counted = 0.0
        while time.time() - began < 120:
            # The run's row every 0.05 s (it completes on its last result), the 10,000
            # executions counted only then or once a second: counting them every 0.1 s
            # took a visible share of PostgreSQL's CPU from the run it measures.
            state = Run.objects.filter(pk=run.pk).values_list("state", flat=True).first()
            if state != RunState.RUNNING or time.time() - counted >= 1.0:
                counted = time.time()
                done = Execution.objects.filter(run=run).exclude(
                    state__in=PENDING_EXECUTION_STATES).count()
                if done >= total:
                    stored = time.time() - began
                    cpu = meter.spent()
                    profile_stop(profilers)
                    break
            time.sleep(0.05)
        while time.time() - began < 120 and Run.objects.get(pk=run.pk).state == \
                RunState.RUNNING:
            time.sleep(0.02)
        completed = time.time() - began
        if stored is None:
            cpu = meter.spent()
            profile_stop(profilers)
        time.sleep(0.3)  # the simulator's last counters
        report = sim.latest
    finally:
        sim.stop()
    run.refresh_from_db()
    result: dict[str, Any] = {
        "devices": total, "run_start_s": round(started, 2),
        "all_stored_s": round(stored, 2) if stored is not None else None,
        "run_completed_s": round(completed, 2), "state": run.state,
        "succeeded": Execution.objects.filter(run=run, state="succeeded").count(),
        "received": report.get("jobs"), "refused": report.get("refused"), **cpu}
    waves = list(run.waves.order_by("number").values_list("dispatched_at", "finished_at"))
    first = Job.objects.filter(pk__in=Execution.objects.filter(run=run, wave=1).values("pk")
                               ).values_list("not_before", flat=True).first()
    published = nudges.since(began)
    if published and first is not None:
        nudge = published[0][0] - began
        signing_began = first.timestamp() - began
        result["wave1_dispatch_began_s"] = round(signing_began, 2)
        result["wave1_nudged_s"] = round(nudge, 2)
        if len(waves) == 1:
            # The simulator measures from not_before (when signing began); the nudge
            # went out when the wave committed, (nudge - not_before) later.
            shift = nudge - signing_began
            result["receipt_from_nudge_p50_s"] = round(report["receipt_p50"] - shift, 3)
            result["receipt_from_nudge_p99_s"] = round(report["receipt_p99"] - shift, 3)
    result["receipt_from_not_before_p50_s"] = report.get("receipt_p50")
    result["receipt_from_not_before_p99_s"] = report.get("receipt_p99")
    if len(waves) > 1:
        result["wave_s"] = [round((end - begin).total_seconds(), 2) for begin, end in waves
                            if begin and end]
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and
            not isinstance(v, bool)]
    return {key: round(statistics.median(r[key] for r in runs if r.get(key) is not None), 3)
            for key in keys if all(r.get(key) is not None for r in runs)}


def end_to_end(ctx: dict[str, Any], agents: int, repeat: int) -> dict[str, Any]:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # this benchmark's db: no stale tasks
    port = fleet_bench.free_port()
    server = fleet_bench.start_server(port)
    worker = start_worker()
    nudges = Nudges()
    ctx = {**ctx, "pids": {"server": server.pid, "worker": worker.pid}}
    # A small run first: the worker and the server warm (imports, key, connections).
    one_run({**ctx, "devices": ctx["devices"][:20]}, port, 20, nudges)
    results: dict[str, Any] = {"agents": agents, "repeat": repeat, "all": [], "waves": []}
    try:
        for _ in range(repeat):
            results["all"].append(one_run(ctx, port, agents, nudges))
            print(json.dumps(results["all"][-1]), flush=True)
        for _ in range(repeat):
            size = max(1, agents // 10)
            results["waves"].append(one_run(ctx, port, agents, nudges, rollout="waves",
                                            canary_size=size, batch_size=size,
                                            pause_seconds=0))
            print(json.dumps(results["waves"][-1]), flush=True)
    finally:
        worker.terminate()
        server.terminate()
        worker.wait(timeout=30)
        server.wait(timeout=30)
    results["median_all"] = median_of(results["all"])
    results["median_waves"] = median_of(results["waves"])
    return results


def machine() -> str:
    import psutil

    return (f"{platform.node()}: {psutil.cpu_count()} CPUs, "
            f"{round(psutil.virtual_memory().total / 2 ** 30)} GiB, Python "
            f"{platform.python_version()}, PostgreSQL and Redis on the same machine")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--micro", action="store_true",
                        help="the server-side functions alone, without the simulator")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy each process during each run (pip install py-spy)")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    ctx = setup(args.agents)
    if args.micro:
        results = {"signing": micro_signing(args.agents), **micro(ctx, args.repeat)}
        name = "micro.json"
    else:
        results = end_to_end(ctx, args.agents, args.repeat)
        name = "result.json"
    results["machine"] = machine()
    results["when"] = f"{dt.now(UTC):%Y-%m-%d %H:%M} UTC"
    (WORK / name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in ("all", "waves")},
                     indent=2))


if __name__ == "__main__":
    main()
