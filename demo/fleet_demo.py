"""Demo endpoint fleet: the job-signing key, two enrolment groups with their secrets (one
in use, one revoked), agents on a slice of the demo's laptops and servers (enrolled with
the real enrolment service, so they land on their existing CMDB records), their
inventories (reconciled into the CMDB), live snapshots from the online ones, and a live
question the fleet has answered. In the embedded run the online devices are played by
the fleet simulator (the Procfile's ``fleet`` process, bench/fleet_sim.py --demo) with the
tokens written here, so "refresh now" and live questions are answered over the real
channel; the offline ones stay silent."""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Team
from cmdb.models import ConfigurationItem
from fleet import services
from fleet.inventory import inventory_record
from fleet.models import Agent, LiveQuery

User = get_user_model()

LAPTOPS = 12
SERVERS = ("shop-web-01", "shop-web-02", "order-api-01", "epr-app-01", "wms-app-01",
           "intranet-01")
OFFLINE_EVERY = 5  # every fifth device has not been heard from for a while
SOFTWARE = (("Microsoft 365 Apps for enterprise", "16.0.17928"), ("Zoom Workplace", "6.2.3"),
            ("Adobe Acrobat Pro", "25.001.20531"), ("Google Chrome", "131.0.6778.86"),
            ("7-Zip", "24.08"))
SERVER_SOFTWARE = (("nginx", "1.24.0"), ("openssl", "3.0.13"), ("postgresql-client-16",
                                                                  "16.4"),
                   ("python3", "3.12.3"))


def load_fleet() -> None:
    call_command("fleet_keygen", "--if-missing", verbosity=0)
    if Agent.objects.exists():  # seeded once
        return
    manager = User.objects.get(username="asset.manager")
    rng = random.Random(2026)
    now = timezone.now()
    laptops_group = services.enrolment_group_create(
        actor=manager, name="Head office laptops", owner_team=Team.objects.get(
            name="End-User Computing"),
        description="Staff laptops and desktops enrolled during the 2026 rollout.")
    servers_group = services.enrolment_group_create(
        actor=manager, name="Data centre servers", owner_team=Team.objects.get(
            name="Server & Cloud"), description="Linux servers in London DC1.")
    _row, laptop_secret = services.enrolment_secret_create(
        actor=manager, group=laptops_group, name="2026 rollout",
        expires_at=now + datetime.timedelta(days=60), max_uses=500)
    _row, server_secret = services.enrolment_secret_create(
        actor=manager, group=servers_group, name="DC1 build",
        expires_at=now + datetime.timedelta(days=30), max_uses=50)
    leaked, _raw = services.enrolment_secret_create(
        actor=manager, group=laptops_group, name="Pilot (posted in a chat by mistake)",
        expires_at=now + datetime.timedelta(days=10))
    services.enrolment_secret_revoke(actor=manager, secret=leaked)

    devices = list(ConfigurationItem.objects.filter(
        ci_class__key="workstation", status="operational").exclude(hostname="")
        .order_by("name")[:LAPTOPS])
    servers = list(ConfigurationItem.objects.filter(name__in=SERVERS).exclude(hostname=""))
    agents: list[tuple[Agent, bool]] = []
    tokens: list[str] = []
    for index, device in enumerate([*devices, *servers]):
        is_server = device in servers
        facts = _facts(device, is_server)
        enrolled = services.agent_enrol(secret=server_secret if is_server else laptop_secret,
                                        facts=facts)
        inventory_record(enrolled.agent.pk, {"full": _inventory(device, is_server, rng)})
        agents.append((enrolled.agent, index % OFFLINE_EVERY != OFFLINE_EVERY - 1))
        tokens.append(enrolled.token)
    _write_simulator_tokens([(enrolled_agent, token) for (enrolled_agent, up), token
                             in zip(agents, tokens, strict=True) if up],
                            servers={device.pk for device in servers})
    online = [agent.pk for agent, up in agents if up]
    offline = [agent.pk for agent, up in agents if not up]
    services.agents_seen(online, channel="websocket")
    Agent.objects.filter(pk__in=offline).update(
        online=False, last_seen_at=now - datetime.timedelta(days=3, hours=4))
    _snapshots([agent for agent, up in agents if up], rng)
    _question([agent for agent, up in agents if up], len(offline), manager)


def simulator_tokens_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-fleet" / "tokens.csv"


def _write_simulator_tokens(agents: list[tuple[Agent, str]], *, servers: set[int]) -> None:
    """The embedded run starts bench/fleet_sim.py with these (the Procfile's ``fleet``):
    the online demo devices then answer "refresh now" and live questions for real, over
    the real channel, with simulated contents."""
    path = simulator_tokens_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(services.signing_keys()),
             *(f"{agent.pk},{token},{'server' if agent.device_id in servers else 'workstation'}"
               f",{agent.hostname}" for agent, token in agents)]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def _facts(device: ConfigurationItem, is_server: bool) -> dict[str, Any]:
    os_label = device.attributes.get("os") or ("Ubuntu 24.04" if is_server else "Windows 11")
    name, _sep, version = os_label.rpartition(" ")
    return {"hostname": device.hostname, "domain": device.domain,
            "serial_number": device.serial_number, "os_name": name or os_label,
            "os_version": version, "mac_addresses": [device.mac_address]
            if device.mac_address else [], "ip_addresses": [device.ip_address]
            if device.ip_address else [], "agent_version": "1.0.0"}


def _inventory(device: ConfigurationItem, is_server: bool, rng: random.Random
               ) -> dict[str, Any]:
    os_label = device.attributes.get("os") or ("Ubuntu 24.04" if is_server else "Windows 11")
    name, _sep, version = os_label.rpartition(" ")
    software = SERVER_SOFTWARE if is_server else SOFTWARE[:rng.randint(3, len(SOFTWARE))]
    return {
        "os": {"name": name or os_label, "version": version, "kernel": "6.8.0-49-generic"
               if is_server else "10.0.26100"},
        "hostname": device.hostname, "domain": device.domain,
        "serial_number": device.serial_number,
        "ip_addresses": [device.ip_address] if device.ip_address else [],
        "mac_addresses": [device.mac_address] if device.mac_address else [],
        "cpu": {"model": "Intel Xeon Gold 6338" if is_server else "Intel Core i7-1365U",
                "cores": 8 if is_server else 12},
        "memory_mb": 32768 if is_server else 16384,
        "disks": [{"mount": "/" if is_server else "C:\\", "total_gb": 200 if is_server
                   else 512, "used_percent": rng.choice((41, 57, 63, 78, 88, 93))}],
        "uptime_seconds": rng.randint(3600, 40 * 86400),
        "software": [{"name": n, "version": v, "vendor": ""} for n, v in software],
        "processes": [], "services": [], "sessions": [],
    }


def _snapshots(agents: list[Agent], rng: random.Random) -> None:
    jobs = services.jobs_create(agents=agents, kind="snapshot", action="snapshot")
    results = []
    for job in jobs:
        server = "dc1" in (job.agent.hostname or "") or job.agent.os_name == "Ubuntu"
        processes = ([("nginx", "www-data"), ("python3", "app"), ("sshd", "root"),
                      ("systemd-journald", "root")] if server else
                     [("explorer.exe", "user"), ("OUTLOOK.EXE", "user"), ("Teams.exe", "user"),
                      ("MsMpEng.exe", "SYSTEM"), ("chrome.exe", "user")])
        results.append((job.agent_id, {
            "execution_id": str(job.pk), "status": "succeeded", "duration_ms": 180,
            "data": {
                "processes": [{"pid": 400 + i, "name": p, "user": u,
                               "cpu_percent": round(rng.uniform(0, 18), 1),
                               "memory_mb": rng.randint(20, 900)}
                              for i, (p, u) in enumerate(processes)],
                "services": [{"name": s, "state": "running" if s != "cups.service" or
                              rng.random() < .5 else "stopped"}
                             for s in (("nginx.service", "ssh.service", "cron.service")
                                       if server else ("Spooler", "WinDefend", "wuauserv"))],
                "sessions": [] if server else [{"user": "corp\\user", "terminal": "console",
                                                "host": "", "started": "08:47"}]}}))
    services.results_record(results)


def _question(agents: list[Agent], offline: int, asker: Any) -> None:
    """"Which devices have a disk above 85 % full?", answered by the online ones."""
    query = LiveQuery.objects.create(
        kind="disk_above", params={"percent": 85}, asked_by=asker,
        expires_at=timezone.now() + datetime.timedelta(minutes=10),
        targeted=len(agents) + offline, offline=offline)
    jobs = services.jobs_create(agents=agents, kind="query", action="disk_above",
                                params={"percent": 85}, live_query=query)
    results = []
    for job in jobs:
        disks = job.agent.inventory.data.get("disks", [])
        full = [d for d in disks if d.get("used_percent", 0) > 85]
        results.append((job.agent_id, {"execution_id": str(job.pk), "status": "succeeded",
                                       "data": {"matched": bool(full),
                                                "detail": {"disks": full}}}))
    services.results_record(results)
