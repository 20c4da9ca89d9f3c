"""Demo problems for the Aldermoor Group: the underlying causes behind the demo's
incidents, across the lifecycle. Three are published known errors whose workaround went to
the callers of their open incidents; one waits for its fix with an open incident the
visitor can resolve together with it; one was closed with its cause not found (and why);
two carry a permanent fix change. Everything is written through the problem services
(audit and activity are real); only the problems' opening times are moved back to just
after their first incident. Idempotent: a problem whose title exists is left alone."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth import get_user_model

from accounts.models import Team
from changes.models import Change
from cmdb.models import ConfigurationItem
from incidents.models import Category, Incident
from problems import services
from problems.models import Problem

User = get_user_model()
HOUR = datetime.timedelta(hours=1)

WHYS_VPN = [
    {"why": "Why do home workers lose the VPN?",
     "answer": "The tunnel is torn down when it renegotiates, about every 60 minutes."},
    {"why": "Why does the renegotiation fail?",
     "answer": "The gateway and the new client disagree on the IKE rekey lifetime."},
    {"why": "Why do they disagree?",
     "answer": "The new VPN client shipped with a 3,600 s default; the gateways use 28,800 s."},
    {"why": "Why was the default not aligned before the roll-out?",
     "answer": "The client roll-out change tested connecting, not sessions over an hour."},
    {"why": "Why was a long session not in the test plan?",
     "answer": "The end-user change template has no soak test step."},
]
WHYS_OUTLOOK = [
    {"why": "Why does Outlook keep asking for a password?",
     "answer": "Its modern-auth token is refused and it falls back to a basic prompt."},
    {"why": "Why is the token refused?",
     "answer": "The hybrid server still advertises the old autodiscover endpoint."},
    {"why": "Why the old endpoint?",
     "answer": "Under investigation with the supplier."},
]

# title, description, category, priority, services, cis, incident titles (open ones and
# history), fields, known error, state path, resolve (resolution, with incidents)
PROBLEMS: tuple[dict[str, Any], ...] = (
    {"title": "Outlook repeatedly prompts for credentials",
     "description": "Several users a week are asked for their password again and again "
                    "by Outlook, on the office network and at home.",
     "category": "Software", "priority": 3, "services": ("Email & Collaboration",),
     "cis": ("exch-hyb-01",),
     "incidents": ("Outlook keeps asking for my password",
                   "Outlook asks for my password again and again",
                   "Shared mailbox missing from Outlook"),
     "fields": {"cause_category": "software_defect", "five_whys": WHYS_OUTLOOK,
                "workaround": "In Windows Credential Manager remove every entry named "
                              "MicrosoftOffice16_Data, then restart Outlook and sign in "
                              "once with the company account."},
     "known_error": True, "path": ("assess", "rca")},
    {"title": "VPN sessions drop after about an hour for home workers",
     "description": "Since the new VPN client went out, remote users are disconnected "
                    "roughly every hour and must reconnect.",
     "category": "Network", "priority": 2, "services": (), "cis": ("fw-ldn-edge-01",),
     "incidents": ("Cannot connect to VPN from home", "VPN disconnects every few minutes"),
     "fields": {"root_cause": "The new VPN client's IKE rekey lifetime (3,600 s) does not "
                              "match the gateways' (28,800 s); the rekey fails and the "
                              "tunnel drops.",
                "cause_category": "change", "cause_ci": "fw-ldn-edge-01",
                "five_whys": WHYS_VPN,
                "workaround": "Switch the VPN client to the “Aldermoor TCP 443” profile: "
                              "it keeps the session through the rekey."},
     "known_error": True, "path": ("assess", "rca", "fix_in_progress")},
    {"title": "Floor printers jam on double-sided jobs",
     "description": "The floor 3 printer (and others of the same model) jam on most "
                    "double-sided jobs.",
     "category": "Hardware", "priority": 4, "services": (), "cis": (),
     "incidents": ("Printer on floor 3 jams on every job", "Cannot print to the floor printer"),
     "fields": {"cause_category": "hardware",
                "workaround": "Print single-sided, or feed paper from tray 2 (the duplex "
                              "path from tray 1 is the one that jams)."},
     "known_error": True, "path": ("assess",)},
    {"title": "Wi-Fi drops in the Manchester office meeting rooms",
     "description": "Laptops lose the Wi-Fi in the Manchester meeting rooms, mostly in "
                    "the afternoon.",
     "category": "Network", "priority": 2, "services": ("Warehouse Management",),
     "cis": ("core-sw-man-01",),
     "incidents": ("Wi-Fi drops in the Manchester office", "Wi-Fi slow in meeting rooms"),
     "fields": {"cause_category": "capacity",
                "five_whys": [{"why": "Why does the Wi-Fi drop?",
                               "answer": "Clients are pushed off an access point that has "
                                         "too many associations."}]},
     "path": ("assess", "rca")},
    {"title": "Email delivery delayed for whole offices",
     "description": "Outbound and inbound mail queued for up to an hour, several times.",
     "category": "Software", "priority": 2, "services": ("Email & Collaboration",),
     "cis": ("exch-hyb-01",), "incidents": ("Email delivery delayed for the whole office",),
     "fields": {"root_cause": "A transport throttling defect in the hybrid server's CU13 "
                              "held the send queue when the connector certificate was "
                              "re-read.",
                "cause_category": "software_defect", "cause_ci": "exch-hyb-01",
                "fix_change": "Exchange Hybrid CU14"},
     "path": ("assess", "rca", "fix_in_progress"),
     "resolve": "Exchange Hybrid CU14 installed; no delays since.", "close": True},
    {"title": "Laptops overheat and throttle under load",
     "description": "Laptops of the 2024 fleet get hot and loud, and slow down.",
     "category": "Hardware", "priority": 3, "services": (), "cis": (),
     "incidents": ("Laptop battery drains in an hour",),
     "fields": {"root_cause": "The factory BIOS fan curve starts the fan too late.",
                "cause_category": "hardware", "fix_change": "Laptop BIOS update wave 1"},
     "path": ("assess", "rca", "fix_in_progress"),
     "resolve": "BIOS 1.14 (new fan curve) rolled out in wave 1."},
    {"title": "Payroll export stalls at 50%",
     "description": "The monthly payroll export stopped half way, three times in a quarter.",
     "category": "Software", "priority": 2, "services": ("Payroll",), "cis": ("pay-app-01",),
     "incidents": ("Payroll export stuck at 50%",),
     "fields": {"cause_category": "unknown", "cause_not_found": True,
                "cause_not_found_reason": "Not seen again since the Payroll 2025.2 "
                                          "roll-back; the supplier found nothing in the "
                                          "logs we kept, and debug logging stays on."},
     "path": ("assess",), "close": True},
    {"title": "Teams calls drop after ten minutes",
     "description": "Calls on Teams are cut after about ten minutes, from the office.",
     "category": "Software", "priority": 3, "services": ("Email & Collaboration",),
     "cis": (), "incidents": ("Teams calls drop after 10 minutes",), "fields": {},
     "path": ()},
)


def _incidents(titles: tuple[str, ...], per_title: int = 3) -> list[Incident]:
    found: list[Incident] = []
    for title in titles:
        found += list(Incident.objects.filter(title=title).order_by("-created_at")[:per_title])
    return found


def _ci(name: str, *, service: bool = False) -> ConfigurationItem | None:
    return ConfigurationItem.objects.filter(name=name, ci_class__is_service=service).order_by(
        "pk").first()


def _service(name: str) -> ConfigurationItem | None:
    return _ci(name, service=True)


def _load(manager: Any, group: Team | None, spec: dict[str, Any]) -> None:
    incidents = _incidents(spec["incidents"])
    fields = dict(spec["fields"])
    if "cause_ci" in fields:
        fields["cause_ci"] = _ci(fields["cause_ci"])
    if "fix_change" in fields:
        fields["fix_change"] = Change.objects.filter(title=fields["fix_change"]).first()
    problem = services.problem_create(
        actor=manager, title=spec["title"], description=spec["description"],
        category=Category.objects.filter(name=spec["category"], parent=None).first(),
        priority=spec["priority"],
        services=[ci for ci in map(_service, spec["services"]) if ci is not None],
        cis=[ci for ci in map(_ci, spec["cis"]) if ci is not None], incidents=incidents,
        assignment_group=group, assignee=manager if group is not None else None)
    if fields:
        problem = services.problem_update(actor=manager, problem=problem, **fields)
    if spec.get("known_error"):
        problem = services.problem_set_known_error(actor=manager, problem=problem,
                                                   known_error=True)
    for state in spec["path"]:
        problem = services.problem_transition(actor=manager, problem=problem, to_state=state)
    if spec.get("resolve"):
        problem = services.problem_resolve(actor=manager, problem=problem,
                                           resolution=spec["resolve"]).problem
    if spec.get("close"):
        problem = services.problem_close(actor=manager, problem=problem)
    first = min((i.created_at for i in incidents), default=None)
    if first is not None:
        Problem.objects.filter(pk=problem.pk).update(created_at=first + 2 * HOUR)


def load_problems() -> None:
    manager = User.objects.get(username="problem.manager")
    group = Team.objects.filter(name="Application Support").first()
    if group is not None and not group.members.filter(pk=manager.pk).exists():
        group = None
    for spec in PROBLEMS:
        if Problem.objects.filter(title=spec["title"]).exists():
            continue
        _load(manager, group, spec)

