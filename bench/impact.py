"""Benchmark: CMDB impact analysis (cmdb.selectors.ci_impact) on 100,000 CIs and 500,000
relationships.

    .venv/bin/python bench/impact.py                  # embedded SQLite in a temp dir
    .venv/bin/python bench/impact.py --postgres       # a fresh itsm_bench_impact database

It builds a layered estate in a fresh database (business and technical services →
applications → databases and VMs → hypervisor hosts → access switches → core switches →
firewalls, plus workstations on the access switches), with fan-in (VMs share hosts,
applications share databases and VMs), cycles (applications depending on each other,
core switches linked both ways) and non-propagating ``member of`` links mixed in. Rows are
written with COPY (PostgreSQL) or executemany (SQLite), not through the services.

Then, for a stratified sample of start CIs (a few per layer), it times ``ci_impact`` up
and down at depth 3 and 5 (median, p95 and max in ms, nodes reached) next to query shapes
measured here only, each checked to give the same nodes and distances: the selector's
recursive CTE alone, the same CTE with the type filter as a join, a breadth-first walk
(one query per level, each CI expanded once, stopping at MAX_IMPACT_NODES), and a lean
selector (that walk, then ``values()`` instead of model instances). The walks run again
with covering indexes. On PostgreSQL it prints EXPLAIN ANALYZE of the CTE for the slowest
start. It also times the expiry sweep over the same CIs. Results are appended to
docs/benchmarks.md with the machine and date (``--no-record`` only prints them).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATABASE = "itsm_bench_impact"
CIS = 100_000
RELATIONSHIPS = 500_000
STARTS_PER_LAYER = 4
REPEAT = 3
SEED = 42

# Layers: (label, class key, how many). They add up to CIS.
LAYERS: tuple[tuple[str, str, int], ...] = (
    ("business service", "business_service", 2_000),
    ("technical service", "technical_service", 1_000),
    ("application", "application", 8_000),
    ("database", "database", 6_000),
    ("virtual machine", "virtual_machine", 40_000),
    ("host", "server", 4_000),
    ("core switch", "network_device", 200),
    ("firewall", "network_device", 50),
    ("access switch", "network_device", 3_750),
    ("workstation", "workstation", 35_000),
)
# Links: (type, source layer, target layer, per source, pick). "cluster" picks targets
# near the source's position (VMs on the hosts of their cluster, workstations on the
# switches of their site); "random" anywhere in the layer. The last group is filled or
# cut so the total is RELATIONSHIPS.
LINKS: tuple[tuple[str, str, str, int, str], ...] = (
    ("depends_on", "business service", "application", 10, "random"),
    ("depends_on", "business service", "technical service", 2, "random"),
    ("runs_on", "technical service", "virtual machine", 4, "random"),
    ("depends_on", "application", "database", 3, "random"),
    ("runs_on", "application", "virtual machine", 4, "random"),
    ("depends_on", "application", "application", 2, "random"),  # cycles
    ("depends_on", "application", "technical service", 2, "random"),
    ("runs_on", "database", "virtual machine", 2, "random"),
    ("runs_on", "virtual machine", "host", 4, "cluster"),
    ("connected_to", "host", "access switch", 2, "cluster"),
    ("connected_to", "access switch", "core switch", 2, "cluster"),
    ("connected_to", "core switch", "firewall", 2, "cluster"),
    ("connected_to", "core switch", "core switch", 2, "cluster"),  # cycles
    ("connected_to", "workstation", "access switch", 3, "cluster"),
    ("member_of", "virtual machine", "business service", 1, "random"),  # not propagating
    ("member_of", "application", "business service", 1, "random"),
    ("member_of", "database", "business service", 1, "random"),
    ("member_of", "workstation", "technical service", 1, "random"),
)


def setup_environment(postgres: bool) -> str:
    os.environ["DJANGO_SETTINGS_MODULE"] = "itsm.settings"
    os.environ["ITSM_VAR_DIR"] = tempfile.mkdtemp(prefix="itsm-bench-")
    os.environ.pop("REDIS_URL", None)
    if postgres:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
            conn.execute(f"CREATE DATABASE {DATABASE}")
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
        return "PostgreSQL"
    os.environ.pop("DATABASE_URL", None)
    return "SQLite"


# --- Building the estate ------------------------------------------------------------------

def layer_ranges() -> dict[str, range]:
    ranges, start = {}, 1
    for label, _key, count in LAYERS:
        ranges[label] = range(start, start + count)
        start += count
    return ranges


def generate_links(ranges: dict[str, range], type_ids: dict[str, int]
                   ) -> list[tuple[int, int, int]]:
    rng = random.Random(SEED)
    links: list[tuple[int, int, int]] = []
    for index, (type_key, source_layer, target_layer, per_source, pick) in enumerate(LINKS):
        sources, targets = ranges[source_layer], ranges[target_layer]
        last = index == len(LINKS) - 1
        budget = RELATIONSHIPS - len(links) if last else None
        type_id = type_ids[type_key]
        for position, source in enumerate(sources):
            if budget is not None and budget <= 0:
                break
            if pick == "cluster":
                # The targets of this source's cluster: 8 consecutive targets.
                anchor = int(position * len(targets) / len(sources))
                window = list(dict.fromkeys(targets[(anchor + k) % len(targets)]
                                            for k in range(8)))
                chosen = rng.sample(window, min(per_source + 1, len(window)))
            else:
                chosen = rng.sample(targets, min(per_source + 1, len(targets)))
            chosen = [t for t in chosen if t != source][:per_source]
            for target in chosen:
                links.append((source, target, type_id))
            if budget is not None:
                budget -= len(chosen)
        if last and len(links) > RELATIONSHIPS:
            del links[RELATIONSHIPS:]
    if len(links) < RELATIONSHIPS:  # fill with more non-propagating links
        seen = set(links)
        member = type_ids["member_of"]
        workstations, services = ranges["workstation"], ranges["technical service"]
        while len(links) < RELATIONSHIPS:
            link = (rng.choice(workstations), rng.choice(services), member)
            if link not in seen:
                seen.add(link)
                links.append(link)
    return links


def insert_rows(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = ", ".join(columns)
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("%s" for _ in columns)
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                               rows)


def build_estate() -> tuple[dict[str, range], int]:
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType

    classes = {c.key: c.pk for c in CIClass.objects.all()}
    type_ids = {t.key: t.pk for t in RelationshipType.objects.all()}
    ranges = layer_ranges()
    now = datetime.now(UTC)
    today = datetime.now(UTC).date()
    rng = random.Random(SEED)
    asset_layers = {"host", "core switch", "firewall", "access switch", "workstation"}
    attributes = {"network_device": '{"device_type": "switch"}',
                  "server": '{"os": "RHEL 9"}', "virtual_machine": '{"os": "RHEL 9"}',
                  "workstation": '{"os": "Windows 11"}', "database": '{"engine": "Oracle"}'}
    ci_rows = []
    for label, key, _count in LAYERS:
        for ci_id in ranges[label]:
            warranty = (today + timedelta(days=rng.randint(-200, 1000))
                        if label in asset_layers else None)
            ci_rows.append((ci_id, f"{label} {ci_id}", classes[key], "operational", "", 3, "",
                            "prod", "", "", "", "", "", "", "", attributes.get(key, "{}"),
                            "", "", warranty, now, now))
    ci_columns = ("id", "name", "ci_class_id", "status", "description", "criticality",
                  "location", "environment", "serial_number", "asset_tag", "hostname",
                  "domain", "mac_address", "vendor", "product_model", "attributes",
                  "supplier", "stock_location", "warranty_end", "created_at", "updated_at")
    links = generate_links(ranges, type_ids)
    with transaction.atomic():
        insert_rows(ConfigurationItem._meta.db_table, ci_columns, ci_rows)
        insert_rows(Relationship._meta.db_table, ("source_id", "target_id", "type_id",
                                                  "created_at"),
                    [(s, t, k, now) for s, t, k in links])
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(),
                                                     [ConfigurationItem, Relationship]):
            cursor.execute(sql)
        cursor.execute("ANALYZE")
    return ranges, len(links)


# --- Measuring ----------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(action: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, Any]:
    """The median time (ms) of ``repeat`` runs, and the last result."""
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result



# The recursive CTE that ci_impact used before the level walk, kept here as the
# comparison (one row per CI and depth reached; the type filter joined).
CTE_SQL = """
WITH RECURSIVE walk(ci_id, depth) AS (
    SELECT CAST(%s AS BIGINT), 0
    UNION
    SELECT r.{next}, w.depth + 1
    FROM {relationship} r
    JOIN walk w ON r.{here} = w.ci_id
    JOIN {relationship_type} t ON t.id = r.type_id
    WHERE w.depth < %s AND t.propagates_impact
)
SELECT ci_id, MIN(depth) AS distance FROM walk GROUP BY ci_id ORDER BY distance, ci_id
LIMIT %s
"""

# The query shapes compared. Each returns [(ci_id, distance)] ordered by distance, id.

def _walk_sql(template: str, direction: str) -> str:
    from django.db import connection

    from cmdb.models import Relationship, RelationshipType

    type_ids = RelationshipType.objects.filter(propagates_impact=True).values_list("pk",
                                                                                   flat=True)
    return template.format(
        relationship=connection.ops.quote_name(Relationship._meta.db_table),
        relationship_type=connection.ops.quote_name(RelationshipType._meta.db_table),
        next="source_id" if direction == "up" else "target_id",
        here="target_id" if direction == "up" else "source_id",
        types=", ".join(str(int(t)) for t in type_ids))


def _run_walk(template: str, ci_id: int, direction: str, depth: int) -> list[tuple[int, int]]:
    from django.db import connection

    from cmdb import selectors

    with connection.cursor() as cursor:
        cursor.execute(_walk_sql(template, direction),
                       [ci_id, depth, selectors.MAX_IMPACT_NODES + 1])
        return [tuple(row) for row in cursor.fetchall()]


# cmdb.selectors' CTE with the type filter as a join on the relationship type table
# instead of a literal id list (SQLite then stops building a Bloom filter over the
# whole relationship table on every run).
TYPE_JOIN = (
    ("JOIN walk w ON r.{here} = w.ci_id\n    WHERE w.depth < %s AND r.type_id IN ({types})",
     "JOIN walk w ON r.{here} = w.ci_id\n"
     "    JOIN cmdb_relationshiptype t ON t.id = r.type_id\n"
     "    WHERE w.depth < %s AND t.propagates_impact"),
)


def type_join_sql() -> str:

    sql = CTE_SQL
    if "t.propagates_impact" in sql:  # the selector has adopted the join
        return sql
    for old, new in TYPE_JOIN:
        assert old in sql, "cmdb.CTE_SQL changed: update the bench"
        sql = sql.replace(old, new)
    return sql


def walk_cte(ci_id: int, direction: str, depth: int) -> list[tuple[int, int]]:
    """The recursive CTE ci_impact used before the level walk."""

    return _run_walk(CTE_SQL, ci_id, direction, depth)


def walk_cte_type_join(ci_id: int, direction: str, depth: int) -> list[tuple[int, int]]:
    return _run_walk(type_join_sql(), ci_id, direction, depth)


def walk_levels(ci_id: int, direction: str, depth: int) -> list[tuple[int, int]]:
    """Breadth first, one query per level, each CI expanded once, stopping at
    MAX_IMPACT_NODES + 1: the same answer as the CTE's ORDER BY distance, ci_id LIMIT."""
    from django.db import connection

    from cmdb import selectors
    from cmdb.models import Relationship

    here, nxt = ("target_id", "source_id") if direction == "up" else ("source_id", "target_id")
    table = connection.ops.quote_name(Relationship._meta.db_table)
    limit = selectors.MAX_IMPACT_NODES + 1
    reached = {ci_id: 0}
    frontier = [ci_id]
    with connection.cursor() as cursor:
        for level in range(1, depth + 1):
            if not frontier or len(reached) >= limit:
                break
            found: set[int] = set()
            for start in range(0, len(frontier), 500):
                chunk = frontier[start:start + 500]
                marks = ", ".join("%s" for _ in chunk)
                cursor.execute(f"SELECT DISTINCT r.{nxt} FROM {table} r "
                               "JOIN cmdb_relationshiptype t ON t.id = r.type_id "
                               f"WHERE r.{here} IN ({marks}) AND t.propagates_impact", chunk)
                found.update(row[0] for row in cursor.fetchall())
            frontier = sorted(found - reached.keys())[:limit - len(reached)]
            reached.update((i, level) for i in frontier)
    return sorted(reached.items(), key=lambda item: (item[1], item[0]))


def impact_selector(ci_id: int, direction: str, depth: int) -> list[tuple[int, int]]:
    """The whole selector: the level walk, then the CIs (the fields a graph or table shows) and
    the edges between them."""
    from cmdb import selectors
    from cmdb.models import ConfigurationItem

    ci = ConfigurationItem.objects.get(pk=ci_id)
    impact = selectors.ci_impact(ci, direction=direction, depth=depth)
    return [(item.pk, distance) for item, distance in impact.nodes]


def impact_lean(ci_id: int, direction: str, depth: int) -> list[tuple[int, int]]:
    """What the selector could do: the level walk, then only the columns a graph or the
    API shows (values, no model instances, no tag prefetch), and the edges as ids."""
    from cmdb import selectors
    from cmdb.models import ConfigurationItem, Relationship

    rows = walk_levels(ci_id, direction, depth)[:selectors.MAX_IMPACT_NODES]
    ids = [ci for ci, _distance in rows]
    nodes = {n["id"]: n for n in ConfigurationItem.objects.filter(pk__in=ids).values(
        "id", "name", "status", "criticality", "ci_class__key", "ci_class__name",
        "owner_team__name")}
    edges = list(Relationship.objects.filter(source_id__in=ids, target_id__in=ids,
                                             type__propagates_impact=True)
                 .values_list("id", "source_id", "target_id", "type_id"))
    assert edges is not None
    return [(ci, distance) for ci, distance in rows if ci in nodes]


METHODS: dict[str, Callable[[int, str, int], list[tuple[int, int]]]] = {
    "ci_impact": impact_selector,
    "CTE alone": walk_cte,
    "CTE, type joined": walk_cte_type_join,
    "level walk": walk_levels,
    "lean selector": impact_lean,
}
WALKS = ("CTE alone", "CTE, type joined", "level walk")


def choose_starts(ranges: dict[str, range]) -> list[tuple[str, int]]:
    rng = random.Random(SEED + 1)
    return [(label, rng.choice(ranges[label])) for label, _key, _count in LAYERS
            for _ in range(STARTS_PER_LAYER)]


def measure(starts: list[tuple[str, int]], methods: tuple[str, ...]) -> list[dict[str, Any]]:
    from cmdb import selectors

    records = []
    for label, ci_id in starts:
        for direction in ("up", "down"):
            for depth in (3, 5):
                record: dict[str, Any] = {"layer": label, "ci": ci_id,
                                          "direction": direction, "depth": depth}
                answers = {}
                for name in methods:
                    record[name], answers[name] = timed(
                        lambda f=METHODS[name], i=ci_id, d=direction, k=depth: f(i, d, k))
                first = next(iter(answers.values()))[:selectors.MAX_IMPACT_NODES]
                for name, answer in answers.items():
                    assert answer[:selectors.MAX_IMPACT_NODES] == first, (
                        f"{name} differs for CI {ci_id} {direction} {depth}")
                record["nodes"] = len(first)
                record["truncated"] = len(_run_walk(CTE_SQL, ci_id, direction,
                                                    depth)) > selectors.MAX_IMPACT_NODES
                records.append(record)
    return records


def summary_rows(records: list[dict[str, Any]], methods: tuple[str, ...]) -> list[str]:
    rows = ["| direction, depth | " + " | ".join(f"{m}: median / p95 / max" for m in methods)
            + " | nodes: median / max | truncated at 2,000 |",
            "| --- | " + " | ".join("---" for _ in methods) + " | --- | --- |"]
    for direction in ("up", "down"):
        for depth in (3, 5):
            group = [r for r in records if r["direction"] == direction and r["depth"] == depth]
            cells = []
            for method in methods:
                ms = [r[method] for r in group]
                cells.append(f"{statistics.median(ms):.1f} / {percentile(ms, 0.95):.1f} / "
                             f"{max(ms):.0f} ms")
            nodes = [r["nodes"] for r in group]
            rows.append(f"| {direction}, {depth} | " + " | ".join(cells)
                        + f" | {statistics.median(nodes):.0f} / {max(nodes)} | "
                        f"{sum(r['truncated'] for r in group)} of {len(group)} |")
    return rows


def layer_rows(records: list[dict[str, Any]], methods: tuple[str, ...]) -> list[str]:
    rows = [f"| start layer | up ({' / '.join(methods)}) | down |", "| --- | --- | --- |"]
    for label, _key, _count in LAYERS:
        cells = []
        for direction in ("up", "down"):
            group = [r for r in records if r["layer"] == label and r["direction"] == direction
                     and r["depth"] == 5]
            cells.append(" / ".join(f"{statistics.median(r[m] for r in group):.0f}"
                                    for m in methods)
                         + f" ms ({statistics.median(r['nodes'] for r in group):.0f} nodes)")
        rows.append(f"| {label} | {cells[0]} | {cells[1]} |")
    return rows


def explain(template: str, ci_id: int, direction: str) -> str:
    from django.db import connection

    from cmdb import selectors

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + _walk_sql(template, direction),
                       [ci_id, 5, selectors.MAX_IMPACT_NODES + 1])
        return "\n".join(row[0] for row in cursor.fetchall())


def expiry_sweep() -> tuple[int, float, dict[str, int], float]:
    """The expiry sweep on the same 100k CIs (~40k with warranties over three years)."""
    from django.db import connection

    from accounts.models import Team
    from cmdb.expiry import expiry_warnings_send
    from cmdb.models import ConfigurationItem

    team = Team.objects.create(name="Bench owners", email="owners@example.com")
    ConfigurationItem.objects.update(owner_team=team)
    dated = ConfigurationItem.objects.filter(warranty_end__isnull=False).count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    first = expiry_warnings_send()
    first_ms = (time.perf_counter() - started) * 1000
    again_ms, _result = timed(expiry_warnings_send)
    return dated, first_ms, first, again_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="run on local PostgreSQL")
    parser.add_argument("--no-record", action="store_true",
                        help="print the results without appending them to docs/benchmarks.md")
    args = parser.parse_args()
    database = setup_environment(args.postgres)
    os.environ["EMAIL_URL"] = "dummymail://"  # the expiry sweep's mails go nowhere
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from cmdb import selectors

    call_command("migrate", verbosity=0)

    started = time.perf_counter()
    ranges, links = build_estate()
    build_s = time.perf_counter() - started
    print(f"built {CIS:,} CIs and {links:,} relationships in {build_s:.1f} s")

    starts = choose_starts(ranges)
    methods = tuple(METHODS)
    records = measure(starts, methods)
    worst = max((r for r in records if r["depth"] == 5), key=lambda r: r["CTE alone"])
    plans = []
    if connection.vendor == "postgresql":
        plans = [("the recursive CTE", explain(CTE_SQL, worst["ci"],
                                                  worst["direction"])),
                 ("type joined", explain(type_join_sql(), worst["ci"], worst["direction"]))]

    # The walks again with covering indexes (index-only scans, no heap visit per link).
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX bench_rel_up ON cmdb_relationship "
                       "(target_id, type_id, source_id)")
        cursor.execute("CREATE INDEX bench_rel_down ON cmdb_relationship "
                       "(source_id, type_id, target_id)")
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE cmdb_relationship")
        else:
            cursor.execute("ANALYZE")
    covering = measure(starts, WALKS)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX bench_rel_up")
        cursor.execute("DROP INDEX bench_rel_down")

    dated, sweep_first_ms, sweep_first, sweep_again_ms = expiry_sweep()

    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            machine += f", PostgreSQL {cursor.fetchone()[0]}"
    else:
        import sqlite3

        machine += f", SQLite {sqlite3.sqlite_version}"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        f"\n### CMDB impact analysis on {database}, {when}\n",
        f"Machine: {machine}. {CIS:,} CIs and {links:,} relationships in layers (services → "
        "applications → databases/VMs → hosts → access → core switches → firewalls, "
        "workstations on access switches; fan-in, cycles, non-propagating links mixed in), "
        f"built in {build_s:.0f} s. {len(starts)} start CIs, {STARTS_PER_LAYER} per layer; "
        f"each figure is the median of {REPEAT} runs per start, then the median / p95 / max "
        "over the starts. *ci_impact* is the whole selector (its level walk, then the CIs' "
        "displayed fields and the edges); *CTE alone* is the recursive CTE it used before; "
        "the others are measured here only: *CTE, type joined* is that CTE filtering on "
        "`JOIN cmdb_relationshiptype t … WHERE t.propagates_impact` instead of "
        "`r.type_id IN (1, 2, 3)`; *level walk* is breadth first, one query per level, each "
        f"CI expanded once, stopping at {selectors.MAX_IMPACT_NODES:,} nodes; *lean "
        "selector* is the level walk, then the CIs' displayed columns with `values()` "
        "and the edges as ids. All give the same nodes and distances (checked).\n",
    ]
    rows += summary_rows(records, methods)
    rows += ["", "Depth 5, median per start layer (ms):", "", *layer_rows(records, methods)]
    rows += ["", "The walks again with covering indexes `(target_id, type_id, source_id)` and "
             "`(source_id, type_id, target_id)` on cmdb_relationship:", ""]
    rows += summary_rows(covering, WALKS)
    rows += ["", f"Expiry sweep over the same CIs ({dated:,} with warranties ending between "
             f"200 days ago and 1,000 days ahead): first run {sweep_first_ms:.0f} ms "
             f"({sweep_first['warranty']:,} warnings recorded, {sweep_first['mails']} mails), "
             f"run again with nothing to send {sweep_again_ms:.1f} ms.", ""]
    text = "\n".join(rows) + "\n"
    print(text)
    for label, plan in plans:
        print(f"EXPLAIN ANALYZE ({label}), depth 5 {worst['direction']} from CI {worst['ci']} "
              f"({worst['layer']}):\n{plan}\n")
        text += (f"\n<details><summary>EXPLAIN ANALYZE of the CTE ({label}), depth 5 "
                 f"{worst['direction']} from a {worst['layer']} (the slowest start)</summary>"
                 f"\n\n```\n{plan}\n```\n</details>\n")
    if not args.no_record:
        with (ROOT / "docs" / "benchmarks.md").open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
