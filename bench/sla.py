"""Benchmark: the SLA tick at 1,000,000 and at 10,000 active timers, and breach detection
lag with a real worker and beat, on PostgreSQL.

    .venv/bin/python bench/sla.py               # seed itsm_bench_sla afresh, measure, record
    .venv/bin/python bench/sla.py --reuse       # keep the seeded incidents, measure again
    .venv/bin/python bench/sla.py --active 200000 --no-record   # a quick look

It creates (or, with ``--reuse``, keeps) the PostgreSQL database ``itsm_bench_sla`` on
127.0.0.1:5432, migrates it and seeds with the ORM: a 24×7 calendar, the service desk
(with a manager), an agent, a caller and an incident manager, and two SLAs with a
resolution target and thresholds at 50, 75, 90 and 100 % (75 %: notify the assignee;
100 %: mark escalated, which escalates the incident to level 2, audits it, comments on it
and notifies the group's manager and the incident manager):

- *Bench standard* (P2–P4): 7 days;
- *Bench P1* (P1): 1 minute, for the lag measurement.

Then, with INSERT … SELECT generate_series, ACTIVE open incidents (P2–P4) plus LAG_TIMERS
P1 incidents, and on every run the timers afresh: one running resolution timer per P2–P4
incident. DUE of them, every n-th incident's (n = incidents / DUE, so spread over the
table), reached 50 % in the 1,000 s before the measuring instant ``now``; the others reach
it between 0.7 and 3.5 days later. The small table (SMALL timers: the same DUE due ones
and the first others) is a copy in the schema ``bench_small`` with the same indexes; the
ORM reads it when that schema comes first on the search path.

1. **The tick, 1,000,000 against 10,000 active**: ``sla.engine.timers_tick(now)`` in this
   process, on the DUE due timers: each fires its 50 % warning (a ``Firing`` row, no
   action), is rescheduled for 75 % and saved. The two tables are measured alternately
   (the machine is shared: its load then weighs on both alike): a warm-up tick each,
   then REPEAT timed ticks each, the due timers reset before every tick (warned percent,
   next check, their ``Firing`` rows deleted; not timed). Wall time and CPU time (this
   process plus its PostgreSQL backend, from /proc). Target: median at 1,000,000 ≤ 1.5 ×
   the median at 10,000. For each table also: one tick with its queries (by statement,
   with their time) and its reads of ``itsm.config_cache`` version tokens recorded; the
   claim query alone (the first batch's ``SELECT … FOR UPDATE SKIP LOCKED``, rolled
   back) and its EXPLAIN ANALYZE; an idle tick (nothing due: what most ticks are).
2. **Breach detection lag** at 1,000,000 active: a Celery worker (queues default, sla,
   notify; 2 processes, as the Procfile) and beat (``sla.tasks.tick`` every
   ``SLA_TICK_SECONDS``, 2 s by default) as subprocesses on this database and Redis db 9.
   After warm-up, LAG_TIMERS P1 timers are written whose breach falls at known instants
   spread evenly over LAG_SPREAD s, starting LAG_LEAD s later (so 50, 75 and 90 % fire on
   the way, as in production); then the same timers again, all breaching at one instant
   (a burst: tickets opened together). For each: ``Firing(percent=100).fired_at − due_at`` (the
   breach recorded) and ``Incident.escalated_at − due_at`` (the escalation recorded, the
   instant of its audit entry); p50, p95, p99, max. Target: p99 < 5 s. The worker's log
   gives the duration of every tick meanwhile. Both processes are stopped with SIGTERM.

Results are appended to docs/benchmarks.md with the machine and date (``--no-record``
only prints them). The database and Redis db 9 belong to this benchmark (Redis db 9 is
flushed at the start): never point it at a database someone else uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from querylog import QueryLog  # bench/querylog.py (this folder is on the path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE = "itsm_bench_sla"
SERVER_DSN = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/9"
ACTIVE = 1_000_000
SMALL = 10_000
DUE = 1_000  # timers due at each measured tick, spread over the incidents
REPEAT = 9
IDLE_REPEAT = 30
CLAIM_REPEAT = 15
SEED_CHUNK = 250_000
STANDARD_GOAL_MINUTES = 7 * 24 * 60
P1_GOAL_MINUTES = 1
THRESHOLDS = (50, 75, 90, 100)
LAG_TIMERS = 300
LAG_LEAD = 60  # seconds from writing the lag timers to the first breach
LAG_SPREAD = 60  # seconds over which the breaches fall
# (label, seconds over which the LAG_TIMERS breaches fall): the case, then the
# same timers all started together (a burst, as after a mass outage's tickets).
LAG_SCENARIOS = (("spread", LAG_SPREAD), ("burst", 0))
LAG_GRACE = 60  # seconds to wait after the last breach
WORKER_QUEUES = "default,sla,notify"
TARGET_RATIO = 1.5
PUBLIC = "public"
SMALL_SCHEMA = "bench_small"  # the small timers table, beside the large one
TARGET_LAG_P99 = 5.0


def setup_environment(reuse: bool) -> bool:
    """Environment for Django and the worker; (re)create the database. True when it must
    be seeded."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "itsm.settings"
    os.environ["ITSM_PROFILE"] = "embedded"
    os.environ["ITSM_VAR_DIR"] = tempfile.mkdtemp(prefix="itsm-bench-sla-")
    os.environ["DATABASE_URL"] = f"{SERVER_DSN}/{DATABASE}"
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["EMAIL_URL"] = "dummymail://"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    import psycopg
    import redis

    # Stale broker messages and cached definitions of an earlier database must go.
    redis.Redis.from_url(REDIS_URL).flushdb()
    with psycopg.connect(f"{SERVER_DSN}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (DATABASE,)).fetchone() is not None
        if exists and reuse:
            return False
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return True


# --- Seeding ------------------------------------------------------------------------------

def seed_reference_data() -> None:
    """People, the desk, the calendar and the two agreements, with the ORM."""
    from django.contrib.auth import get_user_model

    from accounts.models import Team, TeamMembership, UserProfile
    from accounts.services import _set_roles
    from sla.models import (
        Agreement,
        BusinessCalendar,
        Metric,
        Target,
        Threshold,
        ThresholdAction,
        WorkingInterval,
    )

    user_model = get_user_model()
    people = {}
    for username, roles in (("bench-manager", ["service_desk_agent"]),
                            ("bench-agent", ["service_desk_agent"]),
                            ("bench-im", ["incident_manager"]), ("bench-caller", [])):
        user = user_model.objects.create(username=username, first_name=username.title(),
                                         last_name="Bench", email=f"{username}@bench.test")
        UserProfile.objects.create(user=user, display_name=username, time_zone="UTC")
        _set_roles(user, roles)
        people[username] = user
    desk = Team.objects.create(name="Service Desk", is_service_desk=True,
                               manager=people["bench-manager"])
    for username in ("bench-manager", "bench-agent"):
        TeamMembership.objects.create(team=desk, user=people[username])

    calendar = BusinessCalendar.objects.create(name="24×7", time_zone="UTC")
    WorkingInterval.objects.bulk_create(
        WorkingInterval(calendar=calendar, weekday=day, start_minute=0, end_minute=1440)
        for day in range(7))
    actions = {75: [ThresholdAction.NOTIFY_ASSIGNEE], 100: [ThresholdAction.MARK_ESCALATED]}
    for name, order, priorities, goal in (("Bench P1", 10, [1], P1_GOAL_MINUTES),
                                          ("Bench standard", 20, [2, 3, 4],
                                           STANDARD_GOAL_MINUTES)):
        agreement = Agreement.objects.create(name=name, order=order, priorities=priorities)
        target = Target.objects.create(agreement=agreement, metric=Metric.RESOLUTION,
                                       goal_minutes=goal, calendar=calendar)
        for percent in THRESHOLDS:
            Threshold.objects.create(target=target, percent=percent,
                                     actions=actions.get(percent, []))


def model_defaults(model: Any, written: set[str]) -> list[tuple[str, Any]]:
    """(column, value) for the columns a seed leaves to the model's defaults, so fields
    added later do not break it."""
    from django.db import connection

    defaults = []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in written:
            continue
        value = None if field.null else field.get_db_prep_save(field.get_default(),
                                                              connection)
        defaults.append((field.column, value))
    return defaults


def insert_select(model: Any, columns: dict[str, str], source: str,
                  params: dict[str, Any]) -> None:
    """INSERT INTO the model's table SELECT the given expressions (and defaults for the
    rest) FROM ``source``."""
    from django.db import connection

    defaults = model_defaults(model, set(columns))
    names = [*columns, *(column for column, _value in defaults)]
    values = [*columns.values(), *(f"%(default_{i})s" for i in range(len(defaults)))]
    sql = (f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "
           f"SELECT {', '.join(values)} FROM {source}")
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, **{f"default_{i}": value
                                          for i, (_column, value) in enumerate(defaults)}})


def seed_incidents(active: int) -> float:
    """``active`` open P2–P4 incidents (ids 1…active) and LAG_TIMERS P1 ones after them."""
    from django.contrib.auth import get_user_model
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from accounts.models import Team
    from incidents.models import Incident
    from tickets.models import TicketNumberSequence

    started = time.perf_counter()
    users = get_user_model().objects
    params = {"caller": users.get(username="bench-caller").pk,
              "agent": users.get(username="bench-agent").pk,
              "desk": Team.objects.get(is_service_desk=True).pk,
              "opened": datetime.now(UTC) - timedelta(days=4), "active": active}
    columns = {
        "id": "g", "number": "'INC' || lpad(g::text, 7, '0')",
        "title": "'Incident ' || g || ': the ordering app times out'",
        "description": "'Reported by the caller; colleagues see the same.'",
        "priority": "CASE WHEN g > %(active)s THEN 1 ELSE 2 + g %% 3 END",
        "impact": "CASE WHEN g > %(active)s THEN 1 ELSE 2 END",
        "urgency": "CASE WHEN g > %(active)s THEN 1 ELSE 2 END",
        "requester_id": "%(caller)s", "assignment_group_id": "%(desk)s",
        "assignee_id": "%(agent)s", "state": "'in_progress'", "channel": "'portal'",
        "created_at": "%(opened)s::timestamptz - (g %% 3600) * interval '1 second'",
        "updated_at": "%(opened)s::timestamptz", "acknowledged_at": "%(opened)s::timestamptz",
    }
    total = active + LAG_TIMERS
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # FKs right by construction
    for first in range(1, total + 1, SEED_CHUNK):
        last = min(total, first + SEED_CHUNK - 1)
        with transaction.atomic():
            insert_select(Incident, columns, f"generate_series({first}, {last}) g", params)
        print(f"  incidents {last:,} of {total:,} ({time.perf_counter() - started:.0f} s)",
              flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
        for statement in connection.ops.sequence_reset_sql(no_style(), [Incident]):
            cursor.execute(statement)
        cursor.execute("VACUUM ANALYZE incidents_incident")
    TicketNumberSequence.objects.update_or_create(prefix="INC", defaults={"last_value": total})
    return time.perf_counter() - started


def seed_timers(count: int, now: datetime) -> float:
    """The timers table afresh: ``count`` running resolution timers on the P2–P4
    incidents, DUE of them (every n-th incident) due at ``now`` (50 % reached in
    the last 1,000 s), the others reaching 50 % between 0.7 and 3.5 days after ``now``."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from incidents.models import Incident
    from sla.models import Agreement, Firing, Timer, TimerEvent

    started = time.perf_counter()
    agreement = Agreement.objects.get(name="Bench standard")
    target = agreement.targets.get()
    goal = target.goal_minutes * 60
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Firing._meta.db_table}, {TimerEvent._meta.db_table}, "
                       f"{Timer._meta.db_table}")
        cursor.execute("SELECT max(id) FROM incidents_incident WHERE priority > 1")
        incidents = cursor.fetchone()[0]
    if count > incidents or count < DUE:
        raise SystemExit(f"{count:,} timers need as many incidents (the database has "
                         f"{incidents:,}: run without --reuse) and at least {DUE:,}")
    every = due_every()
    not_due = count - DUE
    # The due ones (every ``every``-th incident), then the first ``not_due`` others.
    last_due = DUE * every
    source = f"""
      (SELECT g FROM generate_series({every}, {last_due}, {every}) g
       UNION ALL
       (SELECT g FROM generate_series(1, {incidents}) g
        WHERE g %% {every} <> 0 OR g > {last_due} ORDER BY g LIMIT {not_due})) s,
      LATERAL (SELECT CASE
        WHEN g %% {every} = 0 AND g <= {last_due}
          THEN %(now)s::timestamptz - (%(goal)s * 0.5 + g / {every}) * interval '1 second'
        ELSE %(now)s::timestamptz
             - ((g::bigint * 7919) %% 100003) / 100003.0 * 0.4 * %(goal)s * interval '1 second'
      END AS started_at) t"""
    columns = {
        "content_type_id": "%(content_type)s", "object_id": "g",
        "agreement_id": "%(agreement)s", "target_id": "%(target)s", "kind": "'sla'",
        "metric": "'resolution'", "state": "'running'", "started_at": "started_at",
        "goal_seconds": "%(goal)s", "calendar_id": "%(calendar)s",
        "due_at": "started_at + %(goal)s * interval '1 second'",
        "next_check_at": "started_at + %(goal)s * 0.5 * interval '1 second'",
        "next_percent": "50", "warned_percent": "0",
        "reason": "'Bench standard covers every incident'",
        "created_at": "started_at", "updated_at": "started_at",
    }
    params = {"content_type": ContentType.objects.get_for_model(Incident).pk,
              "agreement": agreement.pk, "target": target.pk, "goal": goal,
              "calendar": target.calendar_id, "now": now}
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    with transaction.atomic():
        insert_select(Timer, columns, source, params)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("VACUUM ANALYZE sla_timer")
        cursor.execute("VACUUM ANALYZE sla_firing")
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE next_check_at <= %s) "
                       "FROM sla_timer WHERE state = 'running'", [now])
        running, due = cursor.fetchone()
    assert running == count and due == DUE, (running, due)
    return time.perf_counter() - started


def due_every() -> int:
    """The due timers are those of every n-th P2–P4 incident: n = incidents / DUE."""
    from incidents.models import Incident

    return Incident.objects.filter(priority__gt=1).count() // DUE


def reset_due(now: datetime) -> None:
    """The due timers back to "50 % reached, not fired"; their firings gone."""
    from django.db import connection, transaction

    every = due_every()
    due = f"mod(object_id, {every}) = 0 AND object_id <= {DUE * every}"

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM sla_firing WHERE timer_id IN (SELECT id FROM sla_timer WHERE {due})")
        cursor.execute(
            "UPDATE sla_timer SET warned_percent = 0, next_percent = 50, breached_at = NULL, "
            "next_check_at = started_at + goal_seconds * 0.5 * interval '1 second', "
            "due_at = started_at + goal_seconds * interval '1 second', updated_at = %s "
            f"WHERE {due}", [now])
        assert cursor.rowcount == DUE


def seed_small(count: int) -> float:
    """The small timers table: in its own schema (found first on the search path while
    measured), the same DUE due timers and the first ``count - DUE`` others, with the
    same indexes and the firings' foreign key."""
    from django.db import connection

    started = time.perf_counter()
    every = due_every()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SMALL_SCHEMA} CASCADE")
        cursor.execute(f"CREATE SCHEMA {SMALL_SCHEMA}")
        for table in ("sla_timer", "sla_firing"):
            cursor.execute(f"CREATE TABLE {SMALL_SCHEMA}.{table} "
                           f"(LIKE public.{table} INCLUDING ALL)")
        cursor.execute(f"ALTER TABLE {SMALL_SCHEMA}.sla_firing ADD FOREIGN KEY (timer_id) "
                       f"REFERENCES {SMALL_SCHEMA}.sla_timer (id) DEFERRABLE INITIALLY DEFERRED")
        due = f"mod(object_id, {every}) = 0 AND object_id <= {DUE * every}"
        cursor.execute(
            f"INSERT INTO {SMALL_SCHEMA}.sla_timer SELECT * FROM public.sla_timer WHERE {due} "
            f"UNION ALL (SELECT * FROM public.sla_timer WHERE NOT ({due}) "
            f"ORDER BY object_id LIMIT {count - DUE})")
        cursor.execute(f"VACUUM ANALYZE {SMALL_SCHEMA}.sla_timer")
        cursor.execute(f"SELECT count(*) FROM {SMALL_SCHEMA}.sla_timer")
        assert cursor.fetchone()[0] == count
    return time.perf_counter() - started


def use_schema(schema: str) -> None:
    """Which timers table the ORM reads: ``schema``'s, the rest from public."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SET search_path = {schema}, public" if schema != PUBLIC
                       else "SET search_path = public")


def drop_small() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SMALL_SCHEMA} CASCADE")


def reset_lag_incidents(active: int) -> None:
    """The P1 incidents as seeded (a --reuse run follows one that escalated them)."""
    from incidents.models import Incident

    Incident.objects.filter(pk__gt=active).update(escalation_level=0, escalated_at=None)


# --- Measuring ----------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def statement(sql: str) -> str:
    """A query by kind and table: ``SELECT sla_timer``, ``SAVEPOINT``…"""
    verb = sql.split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    return f"{verb} {table.group(1) if table else ''}".strip()


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def cpu_ms(backend: int) -> float:
    """CPU used so far by this process and by its PostgreSQL backend (same machine), ms:
    steadier than wall time on a shared machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
    backend_ms = (int(fields[11]) + int(fields[12])) * 1000 / ticks  # utime, stime
    return time.process_time() * 1000 + backend_ms


class VersionReads:
    """Counts ``itsm.config_cache`` version-token reads from the shared cache (a round
    trip each; a batch's pinned tokens are read once) inside the block, and their time."""

    def __enter__(self) -> VersionReads:
        from itsm import config_cache

        self.count, self.ms = 0, 0.0
        self._cache = config_cache.cache
        self._original = self._cache.get

        def counted(key: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return self._original(key, *args, **kwargs)
            finally:
                if str(key).startswith("config-version:"):
                    self.count += 1
                    self.ms += (time.perf_counter() - started) * 1000

        self._cache.get = counted
        return self

    def __exit__(self, *exc: object) -> None:
        del self._cache.get  # the instance attribute: the class's method again


def measure_ticks(sizes: dict[str, str], now: datetime,
                  repeat: int) -> dict[str, dict[str, Any]]:
    """The tick on the 1,000 due timers of each timers table (``sizes``: label → schema),
    alternately, so the machine's load changes alike for both: a warm-up each, then
    REPEAT timed ticks each; then for each, one tick with its queries recorded, the claim
    query alone and the idle tick."""
    from sla.engine import timers_tick
    from sla.models import Firing

    timed: dict[str, dict[str, list[float]]] = {
        label: {"wall": [], "cpu": []} for label in sizes}
    backend = backend_pid()
    for run in range(repeat + 1):
        order = list(sizes) if run % 2 == 0 else list(reversed(sizes))
        for label in order:
            use_schema(sizes[label])
            reset_due(now)
            cpu_before = cpu_ms(backend)
            started = time.perf_counter()
            counts = timers_tick(now=now)
            elapsed = (time.perf_counter() - started) * 1000
            cpu = cpu_ms(backend) - cpu_before
            assert counts["checked"] == DUE and counts["fired"] == DUE, counts
            assert Firing.objects.filter(percent=50).count() == DUE
            if run:  # the first of each is the warm-up
                timed[label]["wall"].append(elapsed)
                timed[label]["cpu"].append(cpu)
            print(f"  {label}: tick {elapsed:.0f} ms, CPU {cpu:.0f} ms {counts}", flush=True)
    results = {}
    for label, schema in sizes.items():
        use_schema(schema)
        results[label] = {**tick_details(now), "label": label, "samples": timed[label]["wall"],
                          **summary_of(timed[label]["wall"], ""),
                          **summary_of(timed[label]["cpu"], "cpu_")}
    use_schema(PUBLIC)
    return results


def summary_of(samples: list[float], prefix: str) -> dict[str, float]:
    return {f"{prefix}median": statistics.median(samples), f"{prefix}min": min(samples),
            f"{prefix}max": max(samples)}


def tick_details(now: datetime) -> dict[str, Any]:
    """One tick with its queries and version-token reads recorded; the claim query alone
    and its plan; the idle tick."""
    from django.db import connection, transaction

    from sla.engine import timers_tick

    reset_due(now)
    with QueryLog() as log, VersionReads() as reads:
        started = time.perf_counter()
        timers_tick(now=now)
        logged_ms = (time.perf_counter() - started) * 1000
    queries = [q["sql"] for q in log.queries]
    claim_sql = next(q for q in queries if "FOR UPDATE SKIP LOCKED" in q and "sla_timer" in q)
    by_statement: Counter[str] = Counter()
    statement_ms: Counter[str] = Counter()
    for sql, ms in ((q["sql"], q["ms"]) for q in log.queries):
        by_statement[statement(sql)] += 1
        statement_ms[statement(sql)] += ms

    reset_due(now)
    claim_samples = []
    for _ in range(CLAIM_REPEAT):
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(claim_sql)
            rows = cursor.fetchall()
            claim_samples.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)
    claim_rows = len(rows)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {claim_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)

    idle_now = now - timedelta(seconds=DUE + 10)  # before the first due timer
    idle_samples = []
    for _ in range(IDLE_REPEAT):
        started = time.perf_counter()
        assert timers_tick(now=idle_now)["checked"] == 0
        idle_samples.append((time.perf_counter() - started) * 1000)
    return {
        "version_reads": reads.count, "version_ms": reads.ms,
        "queries": len(queries), "by_statement": by_statement, "statement_ms": statement_ms,
        "logged_ms": logged_ms, "sql_ms": sum(statement_ms.values()),
        "claim_sql": claim_sql, "claim_rows": claim_rows,
        "claim_median": statistics.median(claim_samples), "claim_max": max(claim_samples),
        "plan": plan, "idle_median": statistics.median(idle_samples),
        "idle_max": max(idle_samples),
    }


def fire_due(now: datetime) -> None:
    """Leave the due timers fired (next check at 75 %, days away), as after a real tick:
    the worker's first tick must not find them."""
    from sla.engine import timers_tick

    reset_due(now)
    timers_tick(now=now)


# --- Breach detection lag -----------------------------------------------------------------

def start_process(name: str, arguments: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "itsm", *arguments],
                                cwd=ROOT, env=dict(os.environ), stdout=handle,
                                stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen) -> str:
    """SIGTERM (Celery's warm shutdown); how it ended."""
    if process.poll() is not None:
        return f"had exited ({process.returncode})"
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return "killed after 60 s"
    return f"stopped ({process.returncode})"


def wait_for_line(log: Path, pattern: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pattern in log.read_text():
            return
        if process.poll() is not None:
            raise SystemExit(f"{log.name} exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise SystemExit(f"no {pattern!r} in {log.name} after {seconds} s:\n"
                     f"{log.read_text()[-3000:]}")


def write_lag_timers(active: int, first_due: datetime, spread: float) -> list[int]:
    """LAG_TIMERS running P1 timers on the P1 incidents, breaching from ``first_due`` on,
    evenly over ``spread`` s; scheduled by the engine itself."""
    from django.contrib.contenttypes.models import ContentType

    from incidents.models import Incident
    from sla.engine import schedule
    from sla.models import Agreement, Timer, TimerState

    agreement = Agreement.objects.get(name="Bench P1")
    target = agreement.targets.get()
    goal = target.goal_minutes * 60
    content_type = ContentType.objects.get_for_model(Incident)
    timers = []
    for number in range(LAG_TIMERS):
        due = first_due + timedelta(seconds=spread * number / LAG_TIMERS)
        timer = Timer(content_type=content_type, object_id=active + 1 + number,
                      agreement=agreement, target=target, kind=agreement.kind,
                      metric=target.metric, state=TimerState.RUNNING,
                      started_at=due - timedelta(seconds=goal), goal_seconds=goal,
                      calendar_id=target.calendar_id, reason="Bench P1: priority P1")
        schedule(timer)
        assert timer.due_at == due and timer.next_percent == THRESHOLDS[0], timer.__dict__
        timers.append(timer)
    return [t.pk for t in Timer.objects.bulk_create(timers)]


def clear_lag(active: int) -> None:
    """The P1 incidents without timers and not escalated, for the next scenario."""
    from sla.models import Timer

    Timer.objects.filter(object_id__gt=active, agreement__name="Bench P1").delete()
    reset_lag_incidents(active)


def measure_lag(active: int, var_dir: Path) -> dict[str, Any]:
    """Worker and beat started once; each scenario of LAG_SCENARIOS measured in turn."""
    worker_log, beat_log = var_dir / "worker.log", var_dir / "beat.log"
    worker = start_process("worker", [
        "worker", "--queues", WORKER_QUEUES, "--concurrency", "2", "--loglevel", "INFO",
        "--without-mingle", "--without-gossip", "--hostname", f"slabench-{os.getpid()}@%h"],
        worker_log)
    beat = None
    scenarios = []
    try:
        wait_for_line(worker_log, "ready.", worker, 120)
        beat = start_process("beat", ["beat", "--loglevel", "INFO", "--schedule",
                                      str(var_dir / "celerybeat-schedule")], beat_log)
        wait_for_line(worker_log, "sla.tasks.tick", worker, 60)
        time.sleep(6)  # a few ticks: the processes have planned the agreements
        for label, spread in LAG_SCENARIOS:
            clear_lag(active)
            scenarios.append(lag_scenario(active, label, spread, (worker, beat),
                                          (worker_log, beat_log)))
    finally:
        stopped = {"beat": stop_process(beat) if beat else "not started",
                   "worker": stop_process(worker)}
    return {"scenarios": scenarios, "stopped": stopped}


def lag_scenario(active: int, label: str, spread: float,
                 processes: tuple[subprocess.Popen, subprocess.Popen],
                 logs: tuple[Path, Path]) -> dict[str, Any]:
    from audit.models import AuditEntry
    from incidents.models import Incident
    from notifications.models import Notification
    from sla.models import Firing, Timer

    worker_log = logs[0]
    log_start = len(worker_log.read_text())
    written_at = datetime.now(UTC)
    first_due = written_at + timedelta(seconds=LAG_LEAD)
    ids = write_lag_timers(active, first_due, spread)
    last_due = first_due + timedelta(seconds=spread)
    print(f"  {label}: {len(ids)} P1 timers breaching from {first_due:%H:%M:%S} to "
          f"{last_due:%H:%M:%S}", flush=True)
    deadline = last_due + timedelta(seconds=LAG_GRACE)
    while datetime.now(UTC) < deadline:
        escalated = Incident.objects.filter(pk__gt=active, escalation_level=2).count()
        if escalated == len(ids) and datetime.now(UTC) > last_due:
            break
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                raise SystemExit(f"a Celery process exited:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    time.sleep(3)  # the notification e-mails queued by the last escalations

    timers = {t.pk: t for t in Timer.objects.filter(pk__in=ids)}
    escalated_at = dict(Incident.objects.filter(pk__gt=active)
                        .values_list("pk", "escalated_at"))
    firings = Firing.objects.filter(timer_id__in=ids)
    breaches = {f.timer_id: f for f in firings if f.percent == 100}
    fired, escalation = [], []
    for pk, timer in timers.items():
        firing = breaches.get(pk)
        if firing is None:
            continue
        fired.append((firing.fired_at - timer.due_at).total_seconds())
        if escalated_at.get(timer.object_id):
            escalation.append((escalated_at[timer.object_id] - timer.due_at).total_seconds())
    # The e-mail about the escalation goes after the tick's batch commits (on_commit, then
    # the notify queue): the first instant anyone outside the transaction learns of it.
    numbers = dict(Incident.objects.filter(pk__gt=active).values_list("pk", "number"))
    emailed_at: dict[str, datetime] = {}
    for subject, at in Notification.objects.filter(
            kind="incident.escalated", created_at__gte=written_at,
            emailed_at__isnull=False).values_list("subject", "emailed_at"):
        number = subject.split()[0]
        emailed_at[number] = min(at, emailed_at.get(number, at))
    emailed = [(emailed_at[numbers[t.object_id]] - t.due_at).total_seconds()
               for t in timers.values() if numbers.get(t.object_id) in emailed_at]
    audited = AuditEntry.objects.filter(
        object_id__in=[str(t.object_id) for t in timers.values()],
        at__gte=written_at, message__startswith="Escalated to level 2").count()
    log = worker_log.read_text()[log_start:]
    ticks = [(float(seconds), int(checked), int(fired_count))
             for seconds, checked, fired_count in
             re.findall(r"sla\.tasks\.tick\[[^\]]+\] succeeded in ([0-9.]+)s: "
                        r"\{'checked': (\d+), 'fired': (\d+)", log)]
    errors = [line for line in log.splitlines()
              if " ERROR" in line or "Traceback" in line][:5]
    return {
        "label": label, "spread": spread, "timers": len(ids), "breached": len(breaches),
        "skipped_breach": sum(f.skipped for f in breaches.values()),
        "firings": firings.count(), "skipped": firings.filter(skipped=True).count(),
        "escalated": len(escalation), "audited": audited,
        "fired": fired, "escalation": escalation, "emailed": emailed, "ticks": ticks,
        "errors": errors,
        "notifications": notifications_count(written_at),
    }


def notifications_count(since: datetime) -> dict[str, int]:
    from notifications.models import Notification

    rows = Notification.objects.filter(kind__startswith="sla.", created_at__gte=since)
    return {"sent": rows.count(), "emailed": rows.filter(emailed_at__isnull=False).count()}


def lag_summary(values: list[float]) -> str:
    if not values:
        return "– | – | – | –"
    return " | ".join(f"{v:.2f} s" for v in (statistics.median(values),
                                              percentile(values, 0.95),
                                              percentile(values, 0.99), max(values)))


# --- Report -------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def why_due_not_active(batch: int) -> str:
    return (
        "Why the tick follows the timers due, not the timers active: the claim is `WHERE "
        "next_check_at <= now AND state = 'running' ORDER BY next_check_at LIMIT "
        f"{batch} FOR UPDATE SKIP LOCKED`, and the btree on `next_check_at` holds the keys "
        "in order, so PostgreSQL reads only the entries up to `now`: either an index scan from "
        f"the low end that stops after the batch's {batch} rows, or, when its estimate of "
        "the due rows is low, a bitmap scan of all the entries up to `now`, sorted, the first "
        f"{batch} kept (the plans "
        "below show which it chose). Either way it touches the due rows (and the dead index "
        "entries that earlier updates of `next_check_at` left below `now` until the next "
        "vacuum), never the timers due later. Timers not running have no `next_check_at` "
        "(`schedule()` clears it) and never match. Everything else in a tick is work per due "
        "timer: the idle tick costs the same at both sizes, and a tick with 1,000 due costs "
        "1,000 × the per-timer work at both.")


def report(large: dict[str, Any], small: dict[str, Any] | None, lag: dict[str, Any] | None,
           seeded: dict[str, float]) -> str:
    from django.db import connection

    from sla.engine import TICK_BATCH

    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        machine += f", PostgreSQL {cursor.fetchone()[0]})"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = f"{large['active']:,}" + (f" and {small['active']:,}" if small else "")
    rows = [
        f"\n### SLA timers at {sizes} active on PostgreSQL, {when}\n",
        f"Machine: {machine}, shared with other work. `bench/sla.py`: one running resolution "
        f"timer per open incident, {DUE:,} of them due (50 % of a 7-day goal reached in the "
        "1,000 s before the tick's `now`, spread over the table: every n-th incident), the "
        "others due between 0.7 and 3.5 days later"
        + "".join(f"; {label} seeded in {seconds:.0f} s" for label, seconds in seeded.items())
        + f". One `timers_tick(now)` in process fires the {DUE:,} warnings (a `Firing` row "
        "each, no action) and reschedules them for 75 %; the due timers are reset before "
        "each tick (not timed). The small table is a copy of the same due timers and the "
        "first others in a schema of its own (same indexes), and the two are measured "
        f"alternately: median of {len(large['samples'])} ticks each after one warm-up. "
        "*CPU*: this process plus its PostgreSQL backend (from /proc), steadier than wall "
        "time on a shared machine. *Claim query*: the "
        f"first batch's `SELECT … FOR UPDATE SKIP LOCKED` alone, rolled back, median of "
        f"{CLAIM_REPEAT}. *Idle tick*: nothing due (most ticks), median of {IDLE_REPEAT}.\n",
        "| active timers | tick, 1,000 due: median | min – max | per timer | CPU (Python + "
        f"PostgreSQL): median | min – max | queries per tick | claim query ({TICK_BATCH} rows) | "
        "idle tick |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in (large, small):
        if result is None:
            continue
        rows.append(
            f"| {result['active']:,} | **{result['median']:.0f} ms** | {result['min']:.0f} – "
            f"{result['max']:.0f} ms | {result['median'] / DUE:.2f} ms | "
            f"{result['cpu_median']:.0f} ms | {result['cpu_min']:.0f} – {result['cpu_max']:.0f} "
            f"ms | {result['queries']:,} "
            f"| {result['claim_median']:.1f} ms | {result['idle_median']:.1f} ms |")
    if small:
        ratio = large["median"] / small["median"]
        cpu_ratio = large["cpu_median"] / small["cpu_median"]
        claim_ratio = large["claim_median"] / small["claim_median"]
        idle_ratio = large["idle_median"] / small["idle_median"]
        rows += ["", f"Tick at {large['active']:,} / tick at {small['active']:,}: "
                 f"**{ratio:.2f}×** (target ≤ {TARGET_RATIO}×: {verdict(ratio <= TARGET_RATIO)}); "
                 f"CPU {cpu_ratio:.2f}×; claim query {claim_ratio:.2f}×, idle tick "
                 f"{idle_ratio:.2f}×."]
    rows += ["", why_due_not_active(TICK_BATCH)]
    rows += ["", f"One tick at {large['active']:,}, its queries recorded: "
             f"{large['logged_ms']:.0f} ms, of which {large['sql_ms']:.0f} ms waiting for "
             f"{large['queries']:,} queries (round trips included) and "
             f"{large['version_ms']:.0f} ms for {large['version_reads']:,} reads of "
             "`itsm.config_cache` version tokens from Redis (once per batch: "
             "`versions_pinned`), the rest Python. Queries by statement:", "",
             "| statement | count | per timer | total time |", "| --- | --- | --- | --- |"]
    rows += [f"| `{name}` | {count:,} | {count / DUE:.2f} | "
             f"{large['statement_ms'][name]:.0f} ms |"
             for name, count in large["by_statement"].most_common()]
    if lag:
        rows += [
            "",
            f"Breach detection lag at {large['active']:,} active: a Celery worker (`--queues "
            f"{WORKER_QUEUES} --concurrency 2`) and beat (`sla.tasks.tick` every "
            f"{os.environ.get('SLA_TICK_SECONDS', '2')} s) on this database and Redis. "
            f"{LAG_TIMERS} P1 timers (1-minute goal; thresholds 50, 75 notify the assignee, 90, "
            "100 mark escalated: level 2, its audit entry, an internal comment, the group's "
            "manager and the incident manager notified) written with their breaches starting "
            f"{LAG_LEAD} s later, so each fires all four thresholds on the way. *spread*: the "
            f"breaches evenly over {LAG_SPREAD} s (the issue's case); *burst*: all at the "
            "same instant (the timers started together, as the tickets of a mass outage). "
            "*Breach recorded*: `Firing(percent=100).fired_at − due_at` (the row's insert; it "
            "commits with its batch). *Escalation recorded*: `Incident.escalated_at − "
            "due_at`, the instant `incident_escalate` writes the level and its audit entry; "
            "both become visible when the tick's batch commits. *Escalation e-mailed*: the "
            "first `emailed_at` of the escalation's notifications − `due_at`: after that "
            "commit, the notify queue and the (dummy) mail backend, so an upper bound of when "
            "the escalation was visible. (`Firing.actions_done_at` is the tick's own `now`, "
            "taken when the tick starts, so it is not used.)", "",
            "| scenario | measure | p50 | p95 | p99 | max | target |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for run in lag["scenarios"]:
            ok = bool(run["escalation"]) and run["escalated"] == run["timers"] and \
                percentile(run["escalation"], 0.99) < TARGET_LAG_P99
            target = f"p99 < {TARGET_LAG_P99:.0f} s: {verdict(ok)}"
            rows += [f"| {run['label']} | breach recorded | {lag_summary(run['fired'])} | – |",
                     f"| {run['label']} | escalation recorded | "
                     f"{lag_summary(run['escalation'])} | "
                     + (target if run["label"] == "spread" else f"({target})") + " |",
                     f"| {run['label']} | escalation e-mailed ({len(run['emailed'])}) | "
                     f"{lag_summary(run['emailed'])} | – |"]
        rows.append("")
        for run in lag["scenarios"]:
            ticks = [seconds for seconds, _checked, _fired in run["ticks"]]
            busy = [seconds for seconds, checked, _fired in run["ticks"] if checked]
            rows.append(
                f"*{run['label']}*: breaches recorded {run['breached']} of {run['timers']} "
                f"({run['skipped_breach']} skipped), incidents escalated to level 2: "
                f"{run['escalated']}, with their audit entry: {run['audited']}; firings "
                f"{run['firings']:,} ({run['skipped']} skipped as late); SLA notifications "
                f"{run['notifications']['sent']} ({run['notifications']['emailed']} e-mailed). "
                f"Ticks run by the worker meanwhile: {len(ticks)}, median "
                f"{statistics.median(ticks) * 1000 if ticks else 0:.0f} ms, max "
                f"{max(ticks) * 1000 if ticks else 0:.0f} ms; those that found work: "
                f"{len(busy)}, median {statistics.median(busy) * 1000 if busy else 0:.0f} ms, "
                f"max {max(busy) * 1000 if busy else 0:.0f} ms."
                + (" Worker errors: " + "; ".join(run["errors"]) if run["errors"] else "")
                + "\n")
        rows.append(f"Worker {lag['stopped']['worker']}, beat {lag['stopped']['beat']} "
                    "(SIGTERM).")
    text = "\n".join(rows) + "\n"
    for result in (large, small):
        if result is None:
            continue
        text += (f"\n<details><summary>EXPLAIN ANALYZE: the claim query at "
                 f"{result['active']:,} active ({result['claim_rows']} rows)</summary>\n\n"
                 f"```\n{result['claim_sql']}\n\n{result['plan']}\n```\n</details>\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=ACTIVE,
                        help="active timers of the large run")
    parser.add_argument("--small", type=int, default=SMALL,
                        help="active timers of the small run")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help="timed ticks per table (after one warm-up each)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the seeded incidents if the database exists")
    parser.add_argument("--no-record", action="store_true",
                        help="print the results without appending them to docs/benchmarks.md")
    parser.add_argument("--skip-lag", action="store_true",
                        help="leave out the worker and beat run (implies --no-record)")
    args = parser.parse_args()
    fresh = setup_environment(args.reuse)

    import django

    django.setup()
    from django.core.management import call_command

    from incidents.models import Incident

    call_command("migrate", verbosity=0)
    seeded = {}
    if fresh or not Incident.objects.exists():
        print(f"seeding {args.active:,} incidents into {DATABASE}", flush=True)
        seed_reference_data()
        seeded["incidents"] = seed_incidents(args.active)
    active = Incident.objects.filter(priority__gt=1).count()
    if active < args.active:
        raise SystemExit(f"{DATABASE} has {active:,} P2–P4 incidents: run without --reuse")
    reset_lag_incidents(active)

    now = datetime.now(UTC).replace(microsecond=0)
    seeded[f"{args.active:,} timers"] = seed_timers(args.active, now)
    seeded[f"{args.small:,} timers"] = seed_small(args.small)
    print(f"timers: {args.active:,} and {args.small:,}", flush=True)
    sizes = {f"{args.active:,} active": PUBLIC, f"{args.small:,} active": SMALL_SCHEMA}
    results = measure_ticks(sizes, now, args.repeat)
    large, small = results[f"{args.active:,} active"], results[f"{args.small:,} active"]
    large["active"], small["active"] = args.active, args.small
    drop_small()
    fire_due(now)
    lag = None
    if not args.skip_lag:
        lag = measure_lag(active, Path(os.environ["ITSM_VAR_DIR"]))
        for run in lag["scenarios"]:
            print(f"  lag, {run['label']}: escalated {run['escalated']} of {run['timers']}, "
                  f"recorded {lag_summary(run['escalation'])}", flush=True)
    text = report(large, small, lag, seeded)
    print(text)
    if not args.no_record and not args.skip_lag:
        with (ROOT / "docs" / "benchmarks.md").open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
