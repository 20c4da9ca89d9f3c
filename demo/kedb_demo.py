"""Demo fix everywhere: the Outlook credentials known error stands on the head-office
laptops of the people who called about it, and a read-only check ran under the open
problem on every device behind it (a finished run, its summary on the problem's timeline).
The operator opens the problem and finds the "Fix everywhere" panel with the run; the
known errors themselves come from ``demo.problems_demo``."""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth import get_user_model

from fleet import services as fleet_services
from fleet.models import Agent, Job
from problems import services as problem_services
from problems.models import Problem
from remediation import runs
from remediation.authority import Authority
from remediation.models import ActionVersion

User = get_user_model()

PROBLEM_TITLE = "Outlook repeatedly prompts for credentials"  # demo/problems_demo.py
LAPTOPS = 8
DISK_LIMIT = 90


def load_kedb() -> None:
    problem = Problem.objects.filter(title=PROBLEM_TITLE).first()
    version = ActionVersion.objects.filter(action__name="disk-health",
                                           status="approved").first()
    if problem is None or version is None or problem.remediation_runs.exists():
        return  # seeded once, and only with the problems and remediation demos
    laptops = [agent.device for agent in Agent.objects.filter(
        group__name="Head office laptops", online=True).select_related("device")
        .order_by("hostname")[:LAPTOPS]]
    if not laptops:
        return
    manager = User.objects.get(username="problem.manager")
    problem_services.problem_update(actor=manager, problem=problem,
                                    cis=[*problem.cis.all(), *laptops])
    operator = User.objects.get(username="operator")
    run = runs.run_start(actor=operator, version=version,
                         params={"disk_percent": DISK_LIMIT, "service": "Outlook"},
                         targets={"ticket": "problem"},
                         authority=Authority("problem", problem=problem))
    rng = random.Random(11)
    full_disk = {laptops[-1].pk}  # one laptop answers with its disk too full
    for number in range(1, run.wave_count + 1):
        runs.wave_dispatch(run.pk, number)
        jobs = list(Job.objects.filter(pk__in=run.executions.filter(wave=number)
                                       .values("pk")).select_related("agent"))
        fleet_services.results_record([
            (job.agent_id, _check_result(job, job.agent.device_id in full_disk, rng))
            for job in jobs])
        runs.advance(run.pk)
    runs.run_summarise(run.pk)


def _check_result(job: Job, full: bool, rng: random.Random) -> dict[str, Any]:
    used = rng.randint(93, 97) if full else rng.randint(35, 80)
    return {"execution_id": str(job.pk), "status": "failed" if full else "succeeded",
            "exit_code": 1 if full else 0,
            "stdout": f"C:\\ {used}% used; Outlook running",
            "stderr": f"C:\\ is {used}% full (limit {DISK_LIMIT}%)." if full else "",
            "duration_ms": rng.randint(300, 900), "data": {"disk_percent": used}}
