"""Remediation in the browser: an operator opens an incident, clicks "Run an action",
previews a read-only action on the incident's devices (one left out: another platform),
starts it in waves, and watches the run's page count the results as the devices report
them, without reloading, until it completes.

The devices are played from the test's side: their results are recorded on the server's
database with ``fleet.services.results_record`` (``manage.py shell``), as the fleet
channel records an agent's answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.browser.conftest import ROOT, LiveServer, expect, sign_in

pytestmark = pytest.mark.browser

SETUP = """
import json
from cmdb.models import Relationship
from django.contrib.auth import get_user_model
from incidents.models import Incident
from remediation import services
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.remediation.conftest import make_device
from tickets.services import ticket_create

users = get_user_model().objects
service = CIFactory(name="Branch printing", ci_class=ci_class("business_service"))
devices = [make_device(f"pos-{n:02d}") for n in range(6)]
devices.append(make_device("pos-win", os_name="Windows 11"))
for agent in devices:
    Relationship.objects.create(source=agent.device, target=service,
                                type=rel_type("depends_on"))
draft = services.action_create(
    actor=users.get(username="operator"), name="spooler-check", title="Check the spooler",
    kind="builtin", builtin="health_check", read_only=True, platforms=["linux"],
    timeout_seconds=60, parameters=[{"name": "depth", "type": "integer", "min": 1,
                                     "max": 3, "required": True}])
services.version_approve(actor=users.get(username="approver"), version=draft)
incident = ticket_create(model=Incident, actor=users.get(username="agent"),
                         title="Receipts do not print in the branches", service=service)
print(json.dumps({"number": incident.number}))
"""

ANSWER = """
import json, sys
from fleet import services
from fleet.models import Job
from remediation.models import Execution

run_id, wave, failed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
executions = list(Execution.objects.filter(run_id=run_id, wave=wave).order_by("device__name"))
results = []
for index, execution in enumerate(executions):
    bad = index < failed
    results.append((execution.agent_id, {
        "execution_id": str(execution.pk), "status": "failed" if bad else "succeeded",
        "exit_code": 2 if bad else 0, "stdout": "spooler: " + ("stuck" if bad else "ok"),
        "stderr": "queue not draining" if bad else "", "duration_ms": 840, "data": {}}))
print(json.dumps(services.results_record(results)))
"""


def manage_python(server: LiveServer, code: str, *args: str) -> str:
    """Run Python on the server's database (with its settings and signing key)."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code, *args], cwd=ROOT,
        env={**server.env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_an_operator_runs_an_action_from_an_incident_and_watches_it_live(
        page, app_server, screenshot):
    # Given an incident on a service with seven devices, one of them on Windows
    number = json.loads(manage_python(app_server, SETUP))["number"]
    sign_in(page, "operator")
    page.goto(f"/desk/incidents/{number}/")

    # When the operator runs the read-only check from the incident, in waves
    page.locator("#remediation-runs").get_by_role("link", name="Run an action").click()
    expect(page.get_by_label("Incident", exact=True)).to_have_value(number)
    expect(page.get_by_label("All devices of the ticket")).to_be_checked()
    page.get_by_role("combobox", name="Action").select_option(
        label="spooler-check v1 · Check the spooler (read-only)")
    depth = page.get_by_label("depth")
    expect(depth).to_be_visible()
    depth.fill("2")
    page.get_by_label("Open incident (read-only actions)").check()
    page.get_by_label("Waves: a canary, then batches").check()
    page.get_by_label("Canary: devices").fill("2")
    page.get_by_label("Batch size after the canary").fill("2")
    page.get_by_label("Stop when a wave fails on more than (%)").fill("50")
    page.get_by_role("button", name="Preview").click()

    # Then the preview says who receives it and who is left out, and why
    preview = page.locator("#preview")
    expect(preview).to_contain_text("6 devices receive it")
    expect(preview).to_contain_text("Another platform: 1")
    expect(preview).to_contain_text("pos-win")
    expect(preview).to_contain_text("canary 2 → 2 → 2")
    screenshot(page, "remediation-preview")
    page.get_by_role("button", name="Start run on 6 devices").click()
    expect(page).to_have_url(re.compile(r"/desk/remediation/runs/\d+/$"))
    run_id = re.search(r"/runs/(\d+)/", page.url).group(1)
    expect(page.locator("#run-state")).to_contain_text("Running")
    expect(page.locator("#run-done")).to_have_text("0 / 6")
    page.evaluate("window.notReloaded = true")

    # As the devices answer, the page counts them without a reload
    manage_python(app_server, ANSWER, run_id, "1", "0")
    expect(page.locator("#run-done")).to_have_text("2 / 6", timeout=8000)
    manage_python(app_server, ANSWER, run_id, "2", "1")
    expect(page.locator("#run-done")).to_have_text("4 / 6", timeout=8000)
    failed_row = page.locator("#executions tr", has_text="queue not draining")
    expect(failed_row).to_contain_text("Failed")
    expect(page.locator("li[data-state=failed] strong")).to_have_text("1")
    screenshot(page, "remediation-run-live")
    manage_python(app_server, ANSWER, run_id, "3", "0")
    expect(page.locator("#run-done")).to_have_text("6 / 6", timeout=8000)
    expect(page.locator("#run-state")).to_contain_text("Completed", timeout=8000)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.get_by_text("Cancel the run…")).to_have_count(0)

    # and the failed device's output is one click away
    failed_row.get_by_role("link", name="Output").click()
    expect(page.locator("#stderr")).to_contain_text("queue not draining")
    page.goto(f"/desk/incidents/{number}/")
    expect(page.locator("#remediation-runs")).to_contain_text("5 succeeded · 1 failed")
