"""Demo remediation: the action library (approved, superseded and waiting versions, written
by the operator and approved by the approver), 2,000 store PCs behind the "Store point of
sale" service with their agents (played by the embedded run's fleet simulator), a P2
incident on that service waiting for a fix, the standard change template that authorises
flushing the DNS cache, and a finished run on an earlier incident with its summary on the
timeline. The operator takes the open incident, picks flush-dns and runs it in waves."""

from __future__ import annotations

import datetime
import json
import random
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Team
from changes import services as change_services
from changes.models import Change
from cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType
from cmdb.services import identity_of
from demo.fleet_demo import simulator_tokens_path
from fleet import services as fleet_services
from fleet import tokens
from fleet.models import Agent, EnrolmentGroup, Job
from incidents import services as incident_services
from incidents.models import Category, Incident
from remediation import runs, services
from remediation.authority import Authority
from remediation.models import Action

User = get_user_model()

STORE_PCS = 2000
STORES = 125
# What the fleet simulator reports as the devices' local policy (bench/fleet_sim.py).
SIM_POLICY = {"allow": ["snapshot", "query:*", "category:read-only", "category:risk:low",
                        "category:risk:medium"], "source": "/etc/itsm-agent/policy.json"}

ACTIONS: tuple[dict[str, Any], ...] = (
    {"name": "flush-dns", "title": "Flush the DNS cache",
     "description": "Clears the resolver cache so devices look names up again (after a "
                    "DNS record moved).",
     "resolves_incident": True,
     "version": {"kind": "builtin", "builtin": "flush_dns", "risk": "low",
                 "timeout_seconds": 60, "run_as": "root",
                 "expected_outcome": "The resolver cache is empty; the next lookup goes to "
                                     "the DNS server."}},
    {"name": "restart-service", "title": "Restart a service",
     "description": "Restarts one named service and checks it is running again.",
     "version": {"kind": "builtin", "builtin": "restart_service", "risk": "medium",
                 "timeout_seconds": 120, "platforms": ["linux", "windows"],
                 "parameters": [{"name": "name", "type": "string", "required": True,
                                 "pattern": r"[A-Za-z0-9@._-]{1,100}",
                                 "help": "The service's name (nginx, Spooler)."}],
                 "expected_outcome": "The service is active after the restart."}},
    {"name": "disk-health", "title": "Disk and service health check",
     "description": "Read-only: disk usage under a limit and a service running.",
     "version": {"kind": "builtin", "builtin": "health_check", "risk": "low",
                 "read_only": True, "timeout_seconds": 30,
                 "parameters": [{"name": "disk_percent", "type": "integer", "min": 50,
                                 "max": 99, "required": True},
                                {"name": "service", "type": "string"}],
                 "expected_outcome": "Every given check passes."}},
    {"name": "renew-certificate", "title": "Renew a certificate",
     "description": "certbot renew for one certificate name.",
     "version": {"kind": "builtin", "builtin": "renew_certificate", "risk": "medium",
                 "platforms": ["linux"], "timeout_seconds": 300,
                 "parameters": [{"name": "name", "type": "string", "required": True}],
                 "expected_outcome": "The certificate's expiry moved forward."}},
    {"name": "apply-os-updates", "title": "Apply OS security updates",
     "description": "Installs pending security updates (no reboot).",
     "version": {"kind": "script", "interpreter": "bash", "risk": "high",
                 "platforms": ["linux"], "timeout_seconds": 1800,
                 "script": "set -eu\nexport DEBIAN_FRONTEND=noninteractive\n"
                           "apt-get update -q\napt-get -y -q upgrade\n",
                 "expected_outcome": "No security updates pending."}},
    {"name": "clear-teams-cache", "title": "Clear the Microsoft Teams cache",
     "description": "Stops Teams and empties its cache folder for the signed-in user.",
     "version": {"kind": "script", "interpreter": "powershell", "risk": "low",
                 "platforms": ["windows"], "timeout_seconds": 120, "run_as": "user",
                 "script": "Get-Process ms-teams -ErrorAction SilentlyContinue | "
                           "Stop-Process -Force\nRemove-Item \"$env:LOCALAPPDATA\\Packages\\"
                           "MSTeams_8wekyb3d8bbwe\\LocalCache\\*\" -Recurse -Force\n",
                 "expected_outcome": "Teams starts with an empty cache."}},
)


def load_remediation() -> None:
    if Action.objects.exists():  # seeded once
        return
    operator = User.objects.get(username="operator")
    approver = User.objects.get(username="approver")
    for spec in ACTIONS:
        version = services.action_create(actor=operator, name=spec["name"],
                                          title=spec["title"],
                                          description=spec["description"], **spec["version"])
        if spec.get("resolves_incident"):
            Action.objects.filter(pk=version.action_id).update(resolves_incident=True)
        if spec["name"] != "clear-teams-cache":  # waits for the approver (four eyes)
            services.version_approve(actor=approver, version=version)
    # restart-service was reworked: v1 superseded, v2 approved.
    restart = Action.objects.get(name="restart-service")
    v2 = services.version_new(actor=operator, action=restart)
    services.version_update(actor=operator, version=v2, timeout_seconds=180)
    services.version_approve(actor=approver, version=v2)
    Agent.objects.filter(policy={}).update(policy=SIM_POLICY)
    stores = _store_fleet()
    _flush_template()
    _open_incident(stores)
    _finished_run(operator)


def _store_fleet() -> ConfigurationItem:
    """2,000 store PCs depending on the point-of-sale service, each with an agent the
    simulator plays (written in bulk: enrolling one by one would take minutes)."""
    team = Team.objects.get(name="End-User Computing")
    service = ConfigurationItem.objects.create(
        name="Store point of sale", ci_class=CIClass.objects.get(key="business_service"),
        status="operational", owner_team=team, criticality=1,
        description="Tills and card payments in the 125 stores.")
    workstation = CIClass.objects.get(key="workstation")
    pcs = []
    for index in range(STORE_PCS):
        hostname = f"ald-st-{index + 1:04d}"
        serial = f"ST{2027000 + index:07d}"
        identity, _field = identity_of(serial_number=serial)
        pcs.append(ConfigurationItem(
            name=f"ALD-ST-{index + 1:04d}", ci_class=workstation, status="operational",
            owner_team=team, hostname=hostname, domain="stores.aldermoor.example",
            serial_number=serial, vendor="Dell", product_model="OptiPlex 7020 Micro",
            identity=identity or "", criticality=3,
            location=f"Store {index % STORES + 1:03d}",
            attributes={"os": "Windows 11 IoT Enterprise", "form_factor": "desktop"}))
    pcs = ConfigurationItem.objects.bulk_create(pcs, batch_size=500)
    depends = RelationshipType.objects.get(key="depends_on")
    Relationship.objects.bulk_create([Relationship(source=pc, target=service, type=depends)
                                      for pc in pcs], batch_size=1000)
    group, _created = EnrolmentGroup.objects.get_or_create(
        name="Store PCs", defaults={"owner_team": team,
                                    "description": "Tills and back-office PCs in stores."})
    now = timezone.now()
    agents, lines = [], []
    for pc in pcs:
        raw = tokens.new_secret(tokens.TOKEN_PREFIX)
        # Tills are on in store hours: all online (the offline demo devices are the
        # head-office ones).
        agent = Agent(device=pc, group=group, token_prefix=raw[:tokens.PREFIX_LENGTH],
                      token_hash=tokens.digest(raw), hostname=pc.hostname,
                      os_name="Windows 11 IoT Enterprise", agent_version="1.0.0",
                      online=True, channel="websocket", last_seen_at=now, policy=SIM_POLICY)
        agents.append(agent)
        lines.append(f"{agent.pk},{raw},workstation,{pc.hostname}")
    Agent.objects.bulk_create(agents, batch_size=500)
    path = simulator_tokens_path()
    if path.exists():  # the fleet demo wrote its header and devices first
        with path.open("a") as handle:
            handle.write("\n".join(lines) + "\n")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(fleet_services.signing_keys()) + "\n"
                        + "\n".join(lines) + "\n")
        path.chmod(0o600)
    return service


def _flush_template() -> Any:
    manager = User.objects.get(username="change.manager")
    version = change_services.template_create(
        actor=manager, name="Flush the DNS cache on store PCs",
        template_description="When a DNS record the stores use moves (payment gateway, "
                             "stock service), store PCs may keep the old address cached.",
        title="Flush the DNS cache on store PCs",
        implementation_plan="Run the remediation action flush-dns on the affected store "
                            "PCs in waves (canary 20, then 500 at a time).",
        backout_plan="Nothing to undo: the cache refills from DNS.",
        test_plan="A test card payment succeeds at a canary store.", risk="low",
        expected_minutes=15,
        allowed_ci_classes=[CIClass.objects.get(key="workstation")],
        remediation_action="flush-dns")
    return change_services.template_version_approve(actor=manager, version=version)


def _open_incident(service: ConfigurationItem) -> Incident:
    desk = User.objects.get(username="agent")
    return incident_services.incident_create(
        actor=desk, title="Card payments time out at store tills",
        requester=User.objects.get(username="requester"), channel="phone",
        category=Category.objects.filter(parent__isnull=True).order_by("pk").first(),
        service=service, impact=1, urgency=2,
        description="Since 09:10 tills in many stores time out on card payments. The "
                    "payment provider moved its gateway to a new address last night; store "
                    "PCs still resolve the old one (a cached DNS record with a long TTL).")


def _finished_run(operator: Any) -> None:
    """A run on the online head-office laptops: the print spooler restarted under
    a normal change, one laptop failed; the summary is on the change's timeline."""
    manager = User.objects.get(username="change.manager")
    rng = random.Random(7)
    laptops = list(Agent.objects.filter(group__name="Head office laptops", online=True)
                   .select_related("device").order_by("hostname")[:12])
    if not laptops:
        return
    now = timezone.now()
    change = change_services.change_create(
        actor=manager, type="normal", title="Restart the print spooler on head-office PCs",
        justification="Print jobs stuck in the queue since the driver update.",
        implementation_plan="Run restart-service (Spooler) on the finance laptops.",
        backout_plan="Nothing to undo.", cis=[agent.device for agent in laptops],
        planned_start=now - datetime.timedelta(minutes=30),
        planned_end=now + datetime.timedelta(minutes=30))
    Change.objects.filter(pk=change.pk).update(state="implement", authorized_at=now)
    change.refresh_from_db()
    version = Action.objects.get(name="restart-service").versions.get(status="approved")
    run = runs.run_start(actor=operator, version=version, params={"name": "Spooler"},
                         targets={"ticket": True}, authority=Authority("change", change=change),
                         rollout="waves", canary_size=2, batch_size=5, failure_threshold=20)
    failing = laptops[min(3, len(laptops) - 1)].pk
    for number in range(1, run.wave_count + 1):
        runs.wave_dispatch(run.pk, number)
        jobs = list(Job.objects.filter(pk__in=run.executions.filter(wave=number)
                                       .values("pk")).select_related("agent"))
        fleet_services.results_record([
            (job.agent_id, _spooler_result(job, job.agent_id == failing, rng))
            for job in jobs])
        runs.advance(run.pk)
    runs.run_summarise(run.pk)
    Change.objects.filter(pk=change.pk).update(
        state="review", actual_start=now - datetime.timedelta(minutes=25),
        actual_end=now - datetime.timedelta(minutes=20))


def _spooler_result(job: Job, fails: bool, rng: random.Random) -> dict[str, Any]:
    return {"execution_id": str(job.pk), "status": "failed" if fails else "succeeded",
            "exit_code": 1 if fails else 0,
            "stdout": "" if fails else "Spooler restarted; state RUNNING",
            "stderr": "The service did not respond in time (error 1053)." if fails else "",
            "duration_ms": rng.randint(1500, 2700), "data": {}}
