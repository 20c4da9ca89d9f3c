"""Benchmark: incident queues, detail and API at 1,000,000 incidents on PostgreSQL, and
API incident creation through a real server.

    .venv/bin/python bench/incidents.py              # seed itsm_bench_incidents afresh, measure
    .venv/bin/python bench/incidents.py --reuse      # measure again on the seeded database
    .venv/bin/python bench/incidents.py --incidents 100000 --no-record   # a quick look

It creates (or, with ``--reuse``, keeps) the PostgreSQL database ``itsm_bench_incidents``
on 127.0.0.1:5432, migrates it and seeds it in a few minutes with INSERT … SELECT
generate_series: 40 assignment groups of 10 agents, 2,000 callers, 8 categories of 4
subcategories, 60 services and 3,000 CIs, routing rules, then INCIDENTS incidents opened
over two years (ids follow the opening time). Half of those opened in the last 30 days are
still open and 1% of older ones (a stale tail), 2% are cancelled, the rest resolved after a
time that depends on the priority and closed three days later (so "recently resolved" holds
those of the last three days). Priorities are P1 2%, P2 10%, P3 38%, P4 50%; 30% of
incidents go to the service desk, the rest spread over the other groups; assignees are
members of the group. The newest 10% have five timeline entries each. The INC number
sequence is set to the last number.

Then it measures, in this process through Django's test client (server time without the
network: middleware, views, queries, templates), as a desk agent who is a member of the
service desk and two other groups:

- the desk queue list (all open, my groups, unassigned, recently resolved): the first page,
  the page reached by following 60 "next" links, and a page 90% of the way through the
  queue (its keyset cursor built from that row);
- the API list (/api/v1/incidents/, unfiltered and queue=open): the first page, the page
  after following 60 cursors, and a cursor built 90% of the way through;
- the incident detail page (desk) and the API detail for 40 incidents with a timeline;
- the query count of each page, any COUNT over the table, and the EXPLAIN ANALYZE of the
  deep pages' list queries.

Each page is requested 30 times after 3 warm-up requests: median and p95 in ms. Targets:
queue and API pages p95 < 25 ms at any depth; detail p50 < 15 ms.

Last, API incident creation through a real server: ``uvicorn itsm.asgi:application
--workers 2`` (embedded profile on this PostgreSQL database, Redis db 10 for the cache and
the broker, no throttling), 8 clients on keep-alive connections posting incidents with a
Bearer token for 20 s (after 3 s of warm-up). Each create routes the incident (rules,
then owner teams), draws its number, writes the audit entries and the "Opened" activity.
Target: at least 300 creates/s. Afterwards it checks every created incident has its number,
audit entry and activity.

Results are appended to docs/benchmarks.md with the machine and date (``--no-record`` only
prints them). Database and Redis db 10 belong to this benchmark: never point it at a
database someone else uses.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from querylog import QueryLog  # bench/querylog.py (this folder is on the path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE = "itsm_bench_incidents"
SERVER_DSN = "postgresql://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/10"
INCIDENTS = 1_000_000
GROUPS = 40
AGENTS_PER_GROUP = 10
CALLERS = 2_000
CATEGORIES = 8
SUBCATEGORIES = 4
SERVICES = 60
CIS = 3_000
TIMELINE_SHARE = 0.10  # the newest incidents that get a timeline
TIMELINE_ENTRIES = 5
SEED_CHUNK = 100_000
REPEAT = 30
WARM_UP = 3
DEEP_FOLLOW = 60
DEEP_SHARE = 0.90
DETAIL_SAMPLE = 40
DETAIL_REPEAT = 10
CREATE_CLIENTS = 8
CREATE_SECONDS = 20
CREATE_WARM_UP = 3
REFERENCE_SECONDS = 10
QUEUES = ("open", "my_groups", "unassigned", "recently_resolved")
NEXT_LINK = re.compile(r'after=([A-Za-z0-9_-]+)" rel="next"')
TARGET_PAGE_P95_MS = 25
TARGET_DETAIL_P50_MS = 15
TARGET_CREATES_PER_S = 300
CONNECT_STAGGER = 0.05  # seconds between the load generator's connections


def setup_environment(reuse: bool) -> bool:
    """Environment for Django and the server; (re)create the database. True when the
    database must be seeded."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "itsm.settings"
    os.environ["ITSM_PROFILE"] = "embedded"
    os.environ["ITSM_VAR_DIR"] = tempfile.mkdtemp(prefix="itsm-bench-")
    os.environ["DATABASE_URL"] = f"{SERVER_DSN}/{DATABASE}"
    os.environ["REDIS_URL"] = REDIS_URL
    os.environ["API_THROTTLE_USER"] = "10000000/minute"
    os.environ["EMAIL_URL"] = "dummymail://"
    import psycopg

    with psycopg.connect(f"{SERVER_DSN}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (DATABASE,)).fetchone() is not None
        if exists and reuse:
            return False
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return True


# --- Seeding ------------------------------------------------------------------------------

PHRASES = (
    "Outlook keeps asking for a password", "VPN drops every few minutes",
    "Printer jams on every job", "Laptop will not boot", "Cannot open the payroll report",
    "Wi-Fi slow in the meeting rooms", "Excel crashes on large files",
    "Teams calls drop after ten minutes", "Access to the finance share denied",
    "Phone does not sync email", "Monitor flickers", "Checkout times out",
    "Password expired and locked out", "Docking station not detected",
    "Database connection errors in the ordering app",
)


def seed_reference_data() -> dict[str, Any]:
    """Teams, people, categories, CIs and routing rules, with the ORM (small tables)."""
    from django.contrib.auth import get_user_model

    from accounts.models import ApiToken, Team, TeamMembership, UserProfile
    from accounts.services import _set_roles, api_token_create
    from cmdb.models import CIClass, ConfigurationItem
    from incidents.models import Category, RoutingRule

    user_model = get_user_model()
    teams = Team.objects.bulk_create(
        [Team(name="Service Desk" if i == 0 else f"Group {i:02d}", is_service_desk=i == 0)
         for i in range(GROUPS)])
    agents = user_model.objects.bulk_create(
        [user_model(username=f"agent{i:04d}", first_name=f"Agent{i}", last_name="Bench")
         for i in range(GROUPS * AGENTS_PER_GROUP)], batch_size=1000)
    callers = user_model.objects.bulk_create(
        [user_model(username=f"caller{i:05d}", first_name=f"Caller{i}", last_name="Bench")
         for i in range(CALLERS)], batch_size=1000)
    UserProfile.objects.bulk_create(
        [UserProfile(user=u, display_name=f"{u.first_name} {u.last_name}", time_zone="UTC")
         for u in (*agents, *callers)], batch_size=1000)
    TeamMembership.objects.bulk_create(
        [TeamMembership(team=teams[i // AGENTS_PER_GROUP], user=agent)
         for i, agent in enumerate(agents)], batch_size=1000)
    # The person measuring: a desk agent in the service desk and two other groups.
    bench = user_model.objects.create(username="bench-agent", first_name="Bench",
                                      last_name="Agent")
    UserProfile.objects.create(user=bench, display_name="Bench Agent", time_zone="UTC")
    _set_roles(bench, ["service_desk_agent"])
    for team in (teams[0], teams[1], teams[2]):
        TeamMembership.objects.create(team=team, user=bench)
    ApiToken.objects.filter(user=bench).delete()
    _token, raw_token = api_token_create(actor=None, user=bench, name="bench")

    parents = [Category.objects.create(name=f"Category {c}", order=c)
               for c in range(CATEGORIES)]
    subs = [Category.objects.create(name=f"Sub {c}.{s}", parent=parent)
            for c, parent in enumerate(parents) for s in range(SUBCATEGORIES)]
    service_class = CIClass.objects.get(key="business_service")
    server_class = CIClass.objects.get(key="server")
    services = ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"Service {i}", ci_class=service_class,
                           owner_team=teams[1 + i % (GROUPS - 1)]) for i in range(SERVICES)])
    cis = ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"server-{i:05d}", ci_class=server_class,
                           owner_team=teams[1 + (i * 7) % (GROUPS - 1)] if i % 3 else None)
         for i in range(CIS)], batch_size=1000)
    # Routing rules as an organisation would have: by category, by keyword, by service.
    for i in range(20):
        RoutingRule.objects.create(
            name=f"Rule {i}", order=(i + 1) * 10,
            category=parents[i % CATEGORIES] if i % 3 == 0 else None,
            service=services[i] if i % 3 == 1 else None,
            keywords="vpn, wi-fi" if i == 2 else (f"keyword{i}" if i % 3 == 2 else ""),
            assignment_group=teams[1 + i % (GROUPS - 1)], priority_bump=1 if i == 5 else 0)
    return {
        "groups": [t.pk for t in teams], "agents": [a.pk for a in agents],
        "callers": [c.pk for c in callers], "categories": [c.pk for c in parents],
        "subcategories": [s.pk for s in subs], "services": [s.pk for s in services],
        "cis": [c.pk for c in cis], "bench": bench.pk, "token": raw_token,
    }


# The incident columns written from the generated rows; every other column gets its
# model default (so fields added later do not break the seed).
INCIDENT_SELECT = """
SELECT 'INC' || lpad(g::text, 7, '0'), title, description, priority, requester_id,
       NULL::bigint, assignment_group_id, assignee_id, created_at,
       greatest(created_at, acknowledged_at, resolved_at, closed_at), resolved_at, closed_at,
       state, channel, category_id, subcategory_id, service_id, ci_id, impact, urgency,
       CASE WHEN state = 'on_hold' THEN 'awaiting_caller' ELSE '' END,
       CASE WHEN resolved_at IS NOT NULL THEN 'solved_permanently' ELSE '' END,
       CASE WHEN resolved_at IS NOT NULL THEN 'Fixed and confirmed with the caller.'
            ELSE '' END,
       is_major, acknowledged_at + interval '4 minutes', acknowledged_at
FROM (
  SELECT s.*,
         CASE WHEN state IN ('new', 'cancelled') THEN NULL
              ELSE (%(agents)s::bigint[])[group_index * {per_group} + 1
                                          + floor(r_member * {per_group})::int] END
           AS assignee_id,
         CASE WHEN state IN ('new', 'cancelled') THEN NULL
              ELSE created_at + ack_minutes * interval '1 minute' END AS acknowledged_at,
         CASE WHEN state IN ('resolved', 'closed') THEN resolve_at END AS resolved_at,
         CASE WHEN state = 'closed' THEN resolve_at + interval '3 days'
              WHEN state = 'cancelled' THEN created_at + interval '30 minutes' END
           AS closed_at,
         state IN ('new', 'assigned', 'in_progress') AND priority = 1 AND r_member < 0.05
           AS is_major
  FROM (
    SELECT r.*,
           CASE
             WHEN (created_at > now() - interval '30 days' AND r_state < 0.5)
                  OR (created_at <= now() - interval '30 days' AND r_state < 0.01)
                  OR resolve_at > now() THEN
               CASE WHEN r_open < 0.30 THEN 'new' WHEN r_open < 0.55 THEN 'assigned'
                    WHEN r_open < 0.88 THEN 'in_progress' ELSE 'on_hold' END
             WHEN r_state > 0.98 THEN 'cancelled'
             WHEN resolve_at > now() - interval '3 days' THEN 'resolved'
             ELSE 'closed'
           END AS state
    FROM (
      SELECT q.*,
             created_at + exp(ln(CASE priority WHEN 1 THEN 30 WHEN 2 THEN 120 WHEN 3 THEN 240
                                  ELSE 720 END)
                              + r_res * ln(CASE priority WHEN 1 THEN 16 WHEN 2 THEN 24
                                           WHEN 3 THEN 30 ELSE 28 END))
                          * interval '1 minute' AS resolve_at,
             exp(ln(CASE priority WHEN 1 THEN 2 WHEN 2 THEN 5 WHEN 3 THEN 15 ELSE 30 END)
                 + r_ack * ln(10)) AS ack_minutes,
             CASE priority WHEN 1 THEN 1 WHEN 2 THEN 1 WHEN 3 THEN 2 ELSE 3 END AS impact,
             CASE priority WHEN 1 THEN 1 WHEN 2 THEN 2 WHEN 3 THEN 2 ELSE 3 END AS urgency,
             (%(groups)s::bigint[])[group_index + 1] AS assignment_group_id,
             (%(callers)s::bigint[])[1 + floor(r_caller * %(caller_count)s)::int]
               AS requester_id,
             (%(categories)s::bigint[])[category_index + 1] AS category_id,
             (%(subcategories)s::bigint[])[category_index * {per_category} + 1
                                           + floor(r_sub * {per_category})::int]
               AS subcategory_id,
             CASE WHEN r_service < 0.7 THEN (%(services)s::bigint[])[
               1 + floor(r_service / 0.7 * %(service_count)s)::int] END AS service_id,
             CASE WHEN r_ci < 0.5 THEN (%(cis)s::bigint[])[
               1 + floor(r_ci / 0.5 * %(ci_count)s)::int] END AS ci_id,
             (ARRAY['phone', 'portal', 'email', 'api', 'monitoring', 'walk_in'])[
               1 + floor(r_channel * 6)::int] AS channel,
             'Incident ' || g || ': ' || (%(phrases)s::text[])[1 + g %% {phrase_count}]
               AS title,
             (%(phrases)s::text[])[1 + g %% {phrase_count}]
               || '. Reported by the caller, who has tried restarting and signing out '
               || 'and in again; colleagues on the same floor see the same.' AS description
      FROM (
        SELECT g, %(start)s::timestamptz
                  + (g::float8 / %(total)s) * (%(end)s::timestamptz - %(start)s::timestamptz)
                  - random() * interval '30 minutes' AS created_at,
               CASE WHEN random() < 0.02 THEN 1 WHEN random() < 0.11 THEN 2
                    WHEN random() < 0.43 THEN 3 ELSE 4 END AS priority,
               CASE WHEN random() < 0.3 THEN 0
                    ELSE 1 + floor(random() * ({groups} - 1))::int END AS group_index,
               floor(random() * {categories})::int AS category_index,
               random() AS r_state, random() AS r_open, random() AS r_member,
               random() AS r_caller, random() AS r_sub, random() AS r_service,
               random() AS r_ci, random() AS r_channel, random() AS r_ack, random() AS r_res
        FROM generate_series(%(first)s, %(last)s) g
      ) q
    ) r
  ) s
) t
"""
INCIDENT_COLUMNS = (
    "number", "title", "description", "priority", "requester_id", "opened_by_id",
    "assignment_group_id", "assignee_id", "created_at", "updated_at", "resolved_at",
    "closed_at", "state", "channel", "category_id", "subcategory_id", "service_id", "ci_id",
    "impact", "urgency", "hold_reason", "resolution_code", "resolution_notes", "is_major",
    "first_response_at", "acknowledged_at",
)

TIMELINE_SQL = """
INSERT INTO tickets_activity (content_type_id, object_id, kind, public, author_id,
                              author_label, body, changes, created_at)
SELECT %(content_type)s, i.id,
       (ARRAY['system', 'field_change', 'comment', 'work_note', 'field_change'])[k],
       k IN (1, 3, 5), coalesce(i.assignee_id, i.requester_id), 'Bench Agent',
       (ARRAY['Opened', '', 'Thanks, I''m looking into this now.',
              'Checked the logs: the service restarted at 09:12.', ''])[k],
       (ARRAY['{{}}', '{{"assignee": [null, {{"id": 1, "repr": "Agent"}}]}}', '{{}}', '{{}}',
              '{{"state": ["new", "in_progress"]}}'])[k]::jsonb,
       i.created_at + (k - 1) * interval '7 minutes'
FROM incidents_incident i CROSS JOIN generate_series(1, {entries}) k
WHERE i.id > %(after)s
"""


def seed_incidents(reference: dict[str, Any], total: int) -> float:
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from incidents.models import Incident
    from tickets.models import Activity, TicketNumberSequence

    started = time.perf_counter()
    now = datetime.now(UTC)
    written = set(INCIDENT_COLUMNS)
    defaults = []  # (column, value) for the columns the generator leaves to the model
    for field in Incident._meta.concrete_fields:
        if field.primary_key or field.column in written:
            continue
        value = None if field.null else field.get_db_prep_save(field.get_default(),
                                                              connection)
        defaults.append((field.column, value))
    columns = (*INCIDENT_COLUMNS, *(column for column, _value in defaults))
    select = INCIDENT_SELECT.format(
        per_group=AGENTS_PER_GROUP, per_category=SUBCATEGORIES, phrase_count=len(PHRASES),
        groups=GROUPS, categories=CATEGORIES)
    extra = "".join(f", %(default_{i})s" for i in range(len(defaults)))
    select = select.replace("acknowledged_at\nFROM (", f"acknowledged_at{extra}\nFROM (", 1)
    sql = f"INSERT INTO incidents_incident ({', '.join(columns)}) {select}"
    params = {
        "agents": reference["agents"], "groups": reference["groups"],
        "callers": reference["callers"], "caller_count": len(reference["callers"]),
        "categories": reference["categories"], "subcategories": reference["subcategories"],
        "services": reference["services"], "service_count": len(reference["services"]),
        "cis": reference["cis"], "ci_count": len(reference["cis"]), "phrases": list(PHRASES),
        "start": now - timedelta(days=730), "end": now - timedelta(minutes=5), "total": total,
        **{f"default_{i}": value for i, (_column, value) in enumerate(defaults)},
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        # Foreign keys are right by construction; skipping their triggers makes the seed
        # minutes faster (bench only, superuser).
        cursor.execute("SET session_replication_role = replica")
        for first in range(1, total + 1, SEED_CHUNK):
            last = min(total, first + SEED_CHUNK - 1)
            with transaction.atomic():
                cursor.execute(sql, {**params, "first": first, "last": last})
            print(f"  incidents {last:,} of {total:,} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        after = round(total * (1 - TIMELINE_SHARE))
        with transaction.atomic():
            cursor.execute(TIMELINE_SQL.format(entries=TIMELINE_ENTRIES), {
                "content_type": ContentType.objects.get_for_model(Incident).pk,
                "after": after})
        cursor.execute("SET session_replication_role = DEFAULT")
        for statement in connection.ops.sequence_reset_sql(no_style(), [Incident, Activity]):
            cursor.execute(statement)
    TicketNumberSequence.objects.update_or_create(prefix="INC",
                                                  defaults={"last_value": total})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def reference_from_database() -> dict[str, Any]:
    """What the seed made, read back (for --reuse)."""
    from django.contrib.auth import get_user_model

    from accounts.models import Team
    from accounts.services import api_token_create
    from cmdb.models import ConfigurationItem
    from incidents.models import Category

    bench = get_user_model().objects.get(username="bench-agent")
    _token, raw_token = api_token_create(actor=None, user=bench, name="bench again")
    return {
        "groups": list(Team.objects.order_by("pk").values_list("pk", flat=True)),
        "categories": list(Category.objects.filter(parent=None).values_list("pk", flat=True)),
        "subcategories": list(Category.objects.exclude(parent=None).order_by("pk")
                              .values_list("pk", flat=True)),
        "services": list(ConfigurationItem.objects.filter(ci_class__is_service=True)
                         .values_list("pk", flat=True)),
        "bench": bench.pk, "token": raw_token,
    }


def describe_data() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT state, count(*) FROM incidents_incident GROUP BY state")
        states = dict(cursor.fetchall())
        cursor.execute("SELECT count(*) FROM tickets_activity")
        states["activities"] = cursor.fetchone()[0]
    return states


# --- Measuring ----------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(action: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, float]:
    for _ in range(WARM_UP):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.95)


class Page:
    """One URL measured: timings, queries, the slowest query."""

    def __init__(self, client: Any, label: str, url: str, repeat: int = REPEAT,
                 **headers: str) -> None:
        self.client, self.label, self.url, self.headers = client, label, url, headers
        self.repeat = repeat

    def get(self) -> Any:
        response = self.client.get(self.url, headers=self.headers)
        assert response.status_code == 200, (self.url, response.status_code,
                                             response.content[:500])
        return response

    def measure(self) -> dict[str, Any]:
        self.get()
        with QueryLog() as log:
            self.get()
        queries = log.queries
        median, p95 = timed(self.get, self.repeat)
        slowest = max(queries, key=lambda q: q["ms"])
        return {"label": self.label, "url": self.url, "median": median, "p95": p95,
                "queries": len(queries),
                "counts": sum(counts_the_list(q["sql"]) for q in queries),
                "slowest_ms": slowest["ms"], "slowest_sql": slowest["sql"]}


def counts_the_list(sql: str) -> bool:
    """A count of the list (``.count()``, a counting paginator), as the tests' no_count
    checks; a correlated count per returned row (children, by the parent index) is not."""
    return 'AS "__COUNT"' in sql.upper()


def desk_cursor(row: Any) -> str:
    from incidents.views import QUEUE_ORDER, _encode_cursor

    return _encode_cursor(SimpleNamespace(priority=row[0], created_at=row[1], id=row[2]),
                          QUEUE_ORDER)


def api_cursor(position: int) -> str:
    """DRF's cursor for "after id ``position``" (its own format: base64 of p=<id>)."""
    return base64.b64encode(f"p={position}".encode()).decode()


def queue_pages(client: Any, bench_user: Any) -> list[Page]:
    from django.test import RequestFactory

    from incidents import selectors
    from incidents.filtersets import IncidentFilterSet

    pages = []
    request = RequestFactory().get("/")
    request.user = bench_user
    for queue in QUEUES:
        base = f"/desk/incidents/?queue={queue}"
        pages.append(Page(client, f"desk queue {queue}: first page", base))
        url = base
        followed = 0
        for _ in range(DEEP_FOLLOW):
            found = NEXT_LINK.search(client.get(url).content.decode())
            if not found:
                break
            cursor = found.group(1)
            url = f"{base}&after={cursor}"
            followed += 1
        pages.append(Page(client, f"desk queue {queue}: page {followed + 1} (followed)", url))
        ordered = IncidentFilterSet({"queue": queue}, queryset=selectors.incidents(),
                                    request=request).qs.order_by("priority", "created_at", "id")
        size = ordered.count()  # setup only, not measured
        row = ordered.values_list("priority", "created_at", "id")[int(size * DEEP_SHARE)]
        pages.append(Page(client, f"desk queue {queue}: 90% deep ({size:,} in queue)",
                          f"{base}&after={desk_cursor(row)}"))
    return pages


def api_pages(client: Any, token: str) -> list[Page]:
    from django.db import connection

    auth = {"authorization": f"Bearer {token}"}
    pages = []
    for label, query in (("all", ""), ("queue=open", "queue=open")):
        base = f"/api/v1/incidents/?{query}"
        pages.append(Page(client, f"API list {label}: first page", base, **auth))
        url = base
        followed = 0
        for _ in range(DEEP_FOLLOW):
            following = client.get(url, headers=auth).json()["next"]
            if not following:
                break
            url = following.replace("http://testserver", "")
            followed += 1
        pages.append(Page(client, f"API list {label}: page {followed + 1} (followed)", url,
                          **auth))
        where = "WHERE state IN ('new', 'assigned', 'in_progress', 'on_hold')" if query else ""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM incidents_incident {where} ORDER BY id "
                           f"OFFSET (SELECT count(*) * {DEEP_SHARE} FROM incidents_incident "
                           f"{where})::bigint LIMIT 1")
            position = cursor.fetchone()[0]
        separator = "&" if query else ""
        pages.append(Page(client, f"API list {label}: 90% deep", f"{base}{separator}"
                          f"cursor={api_cursor(position)}", **auth))
    return pages


def detail_samples(count: int) -> list[tuple[int, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, number FROM incidents_incident WHERE id > "
                       "(SELECT max(id) FROM incidents_incident) * %s ORDER BY id LIMIT 2000",
                       [1 - TIMELINE_SHARE])
        rows = cursor.fetchall()
    return random.Random(7).sample(rows, min(count, len(rows)))


def measure_details(client: Any, api_client: Any, token: str) -> list[dict[str, Any]]:
    samples = detail_samples(DETAIL_SAMPLE)
    results = []
    auth = {"authorization": f"Bearer {token}"}
    for label, make_url, page_client, headers in (
        ("desk incident detail", lambda pk, number: f"/desk/incidents/{number}/", client, {}),
        ("API incident detail", lambda pk, number: f"/api/v1/incidents/{pk}/", api_client,
         auth),
    ):
        per_page = [Page(page_client, label, make_url(pk, number), DETAIL_REPEAT,
                         **headers).measure()
                    for pk, number in samples]
        results.append({
            "label": f"{label} ({len(samples)} incidents, {TIMELINE_ENTRIES} timeline entries)",
            "median": statistics.median(p["median"] for p in per_page),
            "p95": percentile([p["p95"] for p in per_page], 0.95),
            "queries": max(p["queries"] for p in per_page),
            "counts": sum(p["counts"] for p in per_page),
            "slowest_ms": max(p["slowest_ms"] for p in per_page),
            "slowest_sql": max(per_page, key=lambda p: p["slowest_ms"])["slowest_sql"],
            "url": per_page[0]["url"],
        })
    return results


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


# --- Creating through a real server -------------------------------------------------------

def create_payloads(reference: dict[str, Any], count: int) -> list[bytes]:
    rng = random.Random(11)
    subcategories = reference["subcategories"]
    payloads = []
    for index in range(count):
        category_index = rng.randrange(len(reference["categories"]))
        body = {
            "title": f"{rng.choice(PHRASES)} (bench {index})",
            "description": "Created by the benchmark." + (" VPN" if index % 7 == 0 else ""),
            "impact": rng.randint(1, 3), "urgency": rng.randint(1, 3),
            "category": reference["categories"][category_index],
            "subcategory": subcategories[category_index * SUBCATEGORIES
                                         + rng.randrange(SUBCATEGORIES)],
        }
        if rng.random() < 0.6:
            body["service"] = rng.choice(reference["services"])
        payloads.append(json.dumps(body).encode())
    return payloads


def create_request(token: str, payloads: list[bytes]) -> Callable[[int], bytes]:
    def request(index: int) -> bytes:
        body = payloads[index % len(payloads)]
        return (b"POST /api/v1/incidents/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n"
                b"Content-Type: application/json\r\nAccept: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return request


def get_request(path: str, token: str | None = None) -> Callable[[int], bytes]:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    message = (head + "\r\n").encode()
    return lambda _index: message


async def _client(port: int, request: Callable[[int], bytes], expected: bytes, offset: int,
                  deadline: float, measure_from: float, latencies: list[float],
                  failures: list[str]) -> None:
    # Connect one after another, as clients do, not all in the same instant: a burst of
    # connections is accepted whole by whichever worker wakes first (asyncio accepts in a
    # loop), leaving the other idle, which measures one core (docs/benchmarks.md).
    await asyncio.sleep(offset * CONNECT_STAGGER)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = offset
    try:
        while time.perf_counter() < deadline:
            writer.write(request(index))
            index += CREATE_CLIENTS
            started = time.perf_counter()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _sep, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            content = await reader.readexactly(length)
            if started >= measure_from:
                latencies.append((time.perf_counter() - started) * 1000)
                if not status_line.startswith(b"HTTP/1.1 " + expected):
                    failures.append(status_line.decode().strip() + " " + content[:200].decode(
                        errors="replace"))
    finally:
        writer.close()


async def _load(port: int, request: Callable[[int], bytes], expected: bytes,
                seconds: float, server_pid: int) -> dict[str, Any]:
    """``CREATE_CLIENTS`` clients sending ``request`` for ``seconds`` after the warm-up;
    with the CPU time the server's processes and PostgreSQL's spent meanwhile."""
    latencies: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    measure_from = start + CREATE_WARM_UP
    deadline = measure_from + seconds
    split: list[int] = []
    cpu: dict[str, float] = {}

    async def look_at_the_split_and_the_clock() -> None:
        await asyncio.sleep(CREATE_WARM_UP)
        split.extend(connections_per_worker(port))
        server, postgres = cpu_seconds(server_pid)
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        server_after, postgres_after = cpu_seconds(server_pid)
        cpu.update(server=server_after - server, postgres=postgres_after - postgres)

    await asyncio.gather(look_at_the_split_and_the_clock(), *(
        _client(port, request, expected, offset, deadline, measure_from, latencies, failures)
        for offset in range(CREATE_CLIENTS)))
    done = max(len(latencies), 1)
    return {"latencies": latencies, "failures": failures, "split": split,
            "per_second": len(latencies) / seconds,
            "server_cpu_ms": 1000 * cpu.get("server", 0) / done,
            "postgres_cpu_ms": 1000 * cpu.get("postgres", 0) / done}


def cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the server process and its workers, and
    by PostgreSQL's processes, read from /proc (0, 0 where there is no /proc)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    postgres = 0.0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
        if name.startswith("postgres"):
            postgres += used[pid]
    family = {server_pid}
    for _ in range(3):  # the server, its workers, their children
        family |= {pid for pid, parent in parents.items() if parent in family}
    return sum(used.get(pid, 0.0) for pid in family), postgres


def connections_per_worker(port: int) -> list[int]:
    """How the server's processes share the load generator's connections, e.g. [4, 4]
    (empty when ``ss`` is not available)."""
    try:
        listing = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", listing):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def measure_creates(reference: dict[str, Any], workers: int, db_pool: bool = False,
                    references: bool = False) -> dict[str, Any]:
    """Creates through uvicorn; with ``references``, first two cheaper requests under the
    same load on the same server, to show what the framework costs per request here."""
    from django.db import connection

    from incidents.models import Incident
    from tickets.numbering import ticket_number_last

    port = free_port()
    log = Path(os.environ["ITSM_VAR_DIR"]) / "uvicorn.log"
    before_id = Incident.objects.order_by("-id").values_list("id", flat=True).first() or 0
    env = dict(os.environ)
    env["DB_POOL"] = "true" if db_pool else "false"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "itsm.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--no-access-log",
             "--log-level", "warning", "--lifespan", "off"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    reference_runs = []
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", server)
        if references:
            for label, request in (
                ("GET /healthz (Django and its middleware, no database)",
                 get_request("/healthz")),
                ("GET /api/v1/incidents/{id}/ (token, one incident)",
                 get_request(f"/api/v1/incidents/{before_id}/", reference["token"])),
            ):
                run = asyncio.run(_load(port, request, b"200", REFERENCE_SECONDS, server.pid))
                run["label"] = label
                run.pop("latencies")
                reference_runs.append(run)
        payloads = create_payloads(reference, 5_000)
        result = asyncio.run(_load(port, create_request(reference["token"], payloads), b"201",
                                   CREATE_SECONDS, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = result["latencies"]
    created = Incident.objects.filter(id__gt=before_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT i.number), "
            "count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM audit_auditentry a WHERE "
            "a.object_id = i.id::text AND a.action = 'create' AND a.content_type_id = "
            "%s)), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM tickets_activity t "
            "WHERE t.object_id = i.id AND t.content_type_id = %s AND t.kind = 'system'))"
            " FROM incidents_incident i WHERE i.id > %s",
            [content_type_id(), content_type_id(), before_id])
        total, distinct_numbers, without_audit, without_activity = cursor.fetchone()
    sequence = ticket_number_last("INC")
    highest = created.order_by("-number").values_list("number", flat=True).first()
    return {
        "workers": workers, "db_pool": db_pool,
        "measured": len(latencies), "per_second": result["per_second"],
        "median": statistics.median(latencies) if latencies else 0,
        "p95": percentile(latencies, 0.95) if latencies else 0,
        "server_cpu_ms": result["server_cpu_ms"], "postgres_cpu_ms": result["postgres_cpu_ms"],
        "failures": result["failures"][:5], "failure_count": len(result["failures"]),
        "split": result["split"], "references": reference_runs,
        "created": total, "distinct_numbers": distinct_numbers,
        "without_audit": without_audit, "without_activity": without_activity,
        "sequence_consistent": highest == f"INC{sequence:07d}",
        "server_log": log.read_text()[-2000:],
    }


def content_type_id() -> int:
    from django.contrib.contenttypes.models import ContentType

    from incidents.models import Incident

    return ContentType.objects.get_for_model(Incident).pk


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_in_process(client: Any, reference: dict[str, Any]) -> dict[str, Any]:
    """One create at a time in this process: its server time and its queries."""
    payloads = iter(create_payloads(reference, 200))
    headers = {"authorization": f"Bearer {reference['token']}"}

    def create() -> None:
        response = client.post("/api/v1/incidents/", next(payloads),
                               content_type="application/json", headers=headers)
        assert response.status_code == 201, response.content[:300]

    create()
    with QueryLog() as log:
        create()
    median, p95 = timed(create, repeat=100)
    return {"median": median, "p95": p95, "queries": len(log.queries),
            "sql": [q["sql"][:160] for q in log.queries]}


# --- Report -------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=INCIDENTS)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the seeded database if it exists")
    parser.add_argument("--no-record", action="store_true",
                        help="print the results without appending them to docs/benchmarks.md")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--skip-create", action="store_true",
                        help="leave out the creation throughput run")
    parser.add_argument("--default-only", action="store_true",
                        help="creation through the server with the project's defaults only "
                             "(no runs without the pool or with more processes)")
    parser.add_argument("--only-create", action="store_true",
                        help="only the creation throughput run (implies --no-record)")
    args = parser.parse_args()
    fresh = setup_environment(args.reuse)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    seed_seconds = None
    if fresh:
        print(f"seeding {args.incidents:,} incidents into {DATABASE}", flush=True)
        reference = seed_reference_data()
        seed_seconds = seed_incidents(reference, args.incidents)
    else:
        reference = reference_from_database()
    data = describe_data()
    total = sum(v for k, v in data.items() if k != "activities")
    print(f"data: {data}", flush=True)

    # The project's default (the web process pools its connections), the same without the
    # pool for comparison, and more processes than cores.
    configurations = [(args.workers, True), (args.workers, False), (CREATE_CLIENTS, True)]
    if args.default_only:
        configurations = configurations[:1]
    if args.only_create:
        for number, (workers, db_pool) in enumerate(configurations):
            creates = measure_creates(reference, workers, db_pool, references=number == 0)
            creates.pop("server_log")
            print(json.dumps(creates, indent=1), flush=True)
        return
    bench_user = get_user_model().objects.get(pk=reference["bench"])
    client = Client()
    client.force_login(bench_user)
    api_client = Client()  # token only, no session: as an integration calls the API
    pages = queue_pages(client, bench_user) + api_pages(api_client, reference["token"])
    results = []
    for page in pages:
        result = page.measure()
        results.append(result)
        print(f"  {result['label']}: median {result['median']:.1f} ms, p95 "
              f"{result['p95']:.1f} ms, {result['queries']} queries", flush=True)
    details = measure_details(client, api_client, reference["token"])
    for result in details:
        print(f"  {result['label']}: median {result['median']:.1f} ms, p95 "
              f"{result['p95']:.1f} ms, {result['queries']} queries", flush=True)
    deep_plans = [(r["label"], explain(r["slowest_sql"])) for r in results
                  if "90% deep" in r["label"] and r["label"].startswith(("desk queue open",
                                                                        "API list queue"))]
    in_process = create_in_process(client, reference)
    print(f"  create, one at a time in process: median {in_process['median']:.1f} ms, "
          f"{in_process['queries']} queries", flush=True)
    create_runs = [] if args.skip_create else [
        measure_creates(reference, workers, db_pool, references=number == 0)
        for number, (workers, db_pool) in enumerate(configurations)]
    for creates in create_runs:
        print(f"  creates through uvicorn, {creates['workers']} workers"
              f"{'' if creates['db_pool'] else ', no pool'}: {creates['per_second']:.0f}/s, "
              f"failures {creates['failure_count']}, connections per process "
              f"{creates['split']}, CPU per create {creates['server_cpu_ms']:.1f} ms server, "
              f"{creates['postgres_cpu_ms']:.1f} ms PostgreSQL", flush=True)
        for run in creates["references"]:
            print(f"    {run['label']}: {run['per_second']:.0f}/s, CPU per request "
                  f"{run['server_cpu_ms']:.1f} ms server, {run['postgres_cpu_ms']:.1f} ms "
                  "PostgreSQL", flush=True)

    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        machine += f", PostgreSQL {cursor.fetchone()[0]})"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    open_count = sum(data.get(s, 0) for s in ("new", "assigned", "in_progress", "on_hold"))
    rows = [
        f"\n### Incidents at {total:,} on PostgreSQL, {when}\n",
        f"Machine: {machine}, shared with other work. `bench/incidents.py`: {total:,} "
        f"incidents over two years ({open_count:,} open, {data.get('resolved', 0):,} "
        f"resolved in the last three days, {data.get('closed', 0):,} closed, "
        f"{data.get('cancelled', 0):,} cancelled), {data['activities']:,} timeline entries"
        + (f", seeded in {seed_seconds:.0f} s" if seed_seconds else "") + ". Server time "
        "in process through Django's test client (no network), as a desk agent in 3 of "
        f"{GROUPS} groups; {REPEAT} requests per page after {WARM_UP} warm-up. Targets: "
        f"lists p95 < {TARGET_PAGE_P95_MS} ms at any depth, detail p50 < "
        f"{TARGET_DETAIL_P50_MS} ms, creation ≥ {TARGET_CREATES_PER_S}/s.\n",
        "| page | median | p95 | queries | COUNT | slowest query | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        rows.append(f"| {result['label']} | {result['median']:.1f} ms | {result['p95']:.1f} ms "
                    f"| {result['queries']} | {result['counts']} | "
                    f"{result['slowest_ms']:.1f} ms | "
                    f"{verdict(result['p95'] < TARGET_PAGE_P95_MS)} |")
    for result in details:
        rows.append(f"| {result['label']} | {result['median']:.1f} ms | {result['p95']:.1f} ms "
                    f"| {result['queries']} | {result['counts']} | "
                    f"{result['slowest_ms']:.1f} ms | "
                    f"{verdict(result['median'] < TARGET_DETAIL_P50_MS)} |")
    rows.append(f"| API create, one at a time in process | {in_process['median']:.1f} ms | "
                f"{in_process['p95']:.1f} ms | {in_process['queries']} | – | – | – |")
    rows.append("")
    if create_runs:
        rows += [
            f"API creation through a real server (the load generator on the same cores): "
            f"{CREATE_CLIENTS} clients on keep-alive connections for {CREATE_SECONDS} s "
            f"after {CREATE_WARM_UP} s of warm-up. *no pool*: `DB_POOL=false` (by "
            "default the web process pools its PostgreSQL connections).", "",
            "| server | creates/s | latency median | p95 | CPU per create: server, PostgreSQL "
            "| failures | connections per process | checked afterwards | target |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for creates in create_runs:
            server = (f"`uvicorn itsm.asgi:application --workers {creates['workers']}`"
                      + ("" if creates["db_pool"] else ", no pool"))
            checked = (f"{creates['created']:,} created, {creates['distinct_numbers']:,} "
                       f"distinct numbers, {creates['without_audit']} without audit entry, "
                       f"{creates['without_activity']} without activity, sequence "
                       + ("consistent" if creates["sequence_consistent"] else "INCONSISTENT"))
            rows.append(f"| {server} | **{creates['per_second']:.0f}** | "
                        f"{creates['median']:.0f} ms | {creates['p95']:.0f} ms | "
                        f"{creates['server_cpu_ms']:.1f} ms, {creates['postgres_cpu_ms']:.1f} ms | "
                        f"{creates['failure_count']} | "
                        f"{' + '.join(map(str, creates['split'])) or '–'} | {checked} | "
                        f"{verdict(creates['per_second'] >= TARGET_CREATES_PER_S)} |")
        rows.append("")
        for creates in create_runs:
            if creates["references"]:
                rows += [
                    f"For scale, cheaper requests on the same server (`--workers "
                    f"{creates['workers']}`), same clients, {REFERENCE_SECONDS} s each, "
                    "before the creates; CPU per request from /proc:", "",
                    "| request | per second | CPU per request: server, PostgreSQL |",
                    "| --- | --- | --- |"]
                rows += [f"| {run['label']} | {run['per_second']:.0f} | "
                         f"{run['server_cpu_ms']:.1f} ms, {run['postgres_cpu_ms']:.1f} ms |"
                         for run in creates["references"]]
                rows += [f"| POST /api/v1/incidents/ (create) | {creates['per_second']:.0f} | "
                         f"{creates['server_cpu_ms']:.1f} ms, "
                         f"{creates['postgres_cpu_ms']:.1f} ms |", ""]
        for creates in create_runs:
            if creates["failures"]:
                rows += [f"Failures with {creates['workers']} workers"
                         f"{'' if creates['db_pool'] else ', no pool'} (first five): "
                         + "; ".join(creates["failures"]), ""]
    text = "\n".join(rows) + "\n"
    for label, plan in deep_plans:
        text += (f"\n<details><summary>EXPLAIN ANALYZE: {label}</summary>\n\n```\n{plan}\n```"
                 "\n</details>\n")
    print(text)
    print("queries of one create:\n  " + "\n  ".join(in_process["sql"]))
    for creates in create_runs:
        if creates["server_log"].strip():
            print("server log (tail):\n" + creates["server_log"])
    if not args.no_record:
        with (ROOT / "docs" / "benchmarks.md").open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
