"""Benchmark: the people API list (keyset pagination) and ticket number allocation.

    .venv/bin/python bench/people_api.py                  # embedded SQLite in a temp dir
    .venv/bin/python bench/people_api.py --postgres       # a fresh itsm_bench database

It builds a directory of PEOPLE people in teams, then measures (medians of repeated runs,
in one process, so ratios are comparable): the first page of /api/v1/users/, a page deep
into the list by following cursors, the same with a filter, and ticket numbers drawn per
second. Results are appended to docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEOPLE = 5000
REPEAT = 15


def setup_environment(postgres: bool) -> str:
    os.environ["DJANGO_SETTINGS_MODULE"] = "itsm.settings"
    os.environ["ITSM_VAR_DIR"] = tempfile.mkdtemp(prefix="itsm-bench-")
    os.environ.pop("REDIS_URL", None)
    if postgres:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS itsm_bench")
            conn.execute("CREATE DATABASE itsm_bench")
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/itsm_bench"
        return "PostgreSQL"
    os.environ.pop("DATABASE_URL", None)
    return "SQLite"


def median_ms(action, repeat: int = REPEAT) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="run on local PostgreSQL")
    args = parser.parse_args()
    database = setup_environment(args.postgres)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import Team, TeamMembership, UserProfile
    from accounts.services import _set_roles
    from tickets.services import ticket_number_next

    call_command("migrate", verbosity=0)
    user_model = get_user_model()
    teams = Team.objects.bulk_create([Team(name=f"Team {i}") for i in range(50)])
    users = user_model.objects.bulk_create(
        [user_model(username=f"user{i:05d}", first_name=f"First{i}", last_name="Last",
                    email=f"user{i}@example.com") for i in range(PEOPLE)], batch_size=1000)
    UserProfile.objects.bulk_create([UserProfile(user=u, time_zone="UTC") for u in users],
                                    batch_size=1000)
    TeamMembership.objects.bulk_create(
        [TeamMembership(team=teams[i % 50], user=u) for i, u in enumerate(users)],
        batch_size=1000)
    agent = user_model.objects.create(username="bench-agent")
    UserProfile.objects.create(user=agent)
    _set_roles(agent, ["service_desk_agent"])

    client = Client()
    client.force_login(agent)

    def first_page() -> None:
        assert client.get("/api/v1/users/", {"page_size": 50}).status_code == 200

    cursor_url = "/api/v1/users/?page_size=50"
    for _ in range(60):  # walk 60 pages (3,000 people) deep
        cursor_url = client.get(cursor_url).json()["next"]

    def deep_page() -> None:
        assert client.get(cursor_url).status_code == 200

    def filtered() -> None:
        response = client.get("/api/v1/users/", {"team": teams[7].pk, "page_size": 50})
        assert response.status_code == 200

    first = median_ms(first_page)
    deep = median_ms(deep_page)
    by_team = median_ms(filtered)

    started = time.perf_counter()
    draws = 500
    for _ in range(draws):
        ticket_number_next("BEN")
    per_second = draws / (time.perf_counter() - started)

    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        f"\n### people API on {database}, {when}\n",
        f"Machine: {machine}. {PEOPLE} people in 50 teams; medians of {REPEAT} requests "
        "through the Django test client (no network).\n",
        "| measure | result |", "| --- | --- |",
        f"| first page of /api/v1/users/ (50 rows) | {first:.1f} ms |",
        f"| page 61 via cursor (rows 3,001–3,050) | {deep:.1f} ms |",
        f"| deep page / first page | {deep / first:.2f}× |",
        f"| first page filtered by team | {by_team:.1f} ms |",
        f"| ticket numbers drawn, one at a time | {per_second:,.0f} per second |",
    ]
    text = "\n".join(rows) + "\n"
    print(text)
    results = ROOT / "docs" / "benchmarks.md"
    if not results.exists():
        results.write_text("# Benchmarks\n\nEach section is one run of a script in `bench/`; "
                           "compare ratios within a run, not absolute times across runs "
                           "(the machines are shared and noisy).\n")
    with results.open("a") as handle:
        handle.write(text)


if __name__ == "__main__":
    main()
