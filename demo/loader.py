"""The one demo loader: a realistic organisation using every feature that exists.

Each practice adds a ``load_<practice>`` step to ``STEPS``, and what it shows to
``tests/demo/test_demo.py`` (which loads the demo once for all of them). Every step is
idempotent (it looks up what it would create), so ``load_demo`` can run on every start.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from accounts import services as accounts
from accounts.models import Team, TeamMembership
from audit.context import acting_as_system
from demo.availability_demo import load_availability
from demo.changes_demo import load_changes
from demo.cmdb_estate import load_cmdb
from demo.desk_demo import load_saved_views
from demo.escalation_demo import load_escalations
from demo.fleet_demo import load_fleet
from demo.incident_history import load_incident_history
from demo.incidents_demo import load_incidents
from demo.kedb_demo import load_kedb
from demo.knowledge_demo import load_knowledge
from demo.major_demo import load_major_incidents
from demo.problems_demo import load_problems
from demo.remediation_demo import load_remediation
from demo.sla_demo import load_service_levels
from demo.trends_demo import load_trends

User = get_user_model()

DEMO_PASSWORD = "demo-Service-2026"
ORGANISATION = "Aldermoor Group"
DOMAIN = "aldermoor.example"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    first_name: str
    last_name: str
    roles: tuple[str, ...]
    job_title: str
    team: str | None


# The people a visitor signs in as, one per role.
LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "Alex", "Morgan", ("administrator",), "IT Platform Administrator",
              "Service Desk"),
    DemoLogin("agent", "Priya", "Shah", ("service_desk_agent",), "Service Desk Analyst",
              "Service Desk"),
    DemoLogin("resolver", "Tomás", "Ferreira", ("resolver",), "Systems Engineer",
              "Server & Cloud"),
    DemoLogin("incident.manager", "Grace", "Okafor",
              ("incident_manager", "service_level_manager", "resolver"),
              "Incident and Service Level Manager", "Service Desk"),
    DemoLogin("problem.manager", "Henrik", "Lund", ("problem_manager", "resolver"),
              "Problem Manager", "Application Support"),
    DemoLogin("change.manager", "Mei", "Tanaka", ("change_manager", "cab_member"),
              "Change Manager", "Change Advisory Board"),
    DemoLogin("cab", "Daniel", "Brooks", ("cab_member", "resolver"), "Network Architect",
              "Network Operations"),
    DemoLogin("asset.manager", "Fatima", "Haddad", ("asset_manager",), "IT Asset Manager",
              "End-User Computing"),
    DemoLogin("operator", "Lukas", "Weber", ("remediation_operator", "resolver"),
              "Endpoint Engineer", "End-User Computing"),
    DemoLogin("approver", "Sofia", "Romano", ("remediation_approver", "resolver"),
              "Security Engineer", "Security Operations"),
    DemoLogin("requester", "Oliver", "Bennett", ("requester",), "Accounts Payable Clerk", None),
    DemoLogin("knowledge.manager", "Aisha", "Okonkwo", ("knowledge_manager", "resolver"),
              "Knowledge Manager", "Service Desk"),
)

TEAMS: tuple[tuple[str, str, str], ...] = (
    ("Service Desk", "First line: every call, chat, email and portal ticket lands here.",
     "+44 20 7946 0100"),
    ("End-User Computing", "Laptops, desktops, mobile devices and endpoint software.", ""),
    ("Network Operations", "LAN, Wi-Fi, WAN, firewalls and remote access.", ""),
    ("Server & Cloud", "Windows and Linux servers, virtualisation and cloud accounts.", ""),
    ("Database Administration", "PostgreSQL, SQL Server and Oracle estates.", ""),
    ("Application Support", "Finance, HR and clinical line-of-business applications.", ""),
    ("Security Operations", "Identity, vulnerabilities, EDR and incident response.", ""),
    ("Change Advisory Board", "Reviews and authorises normal and emergency changes.", ""),
)

DEPARTMENTS = ("Finance", "Human Resources", "Sales", "Marketing", "Operations", "Legal",
               "Procurement", "Customer Service", "Research", "Logistics")
LOCATIONS = (("London HQ", "Europe/London"), ("Manchester", "Europe/London"),
             ("Amsterdam", "Europe/Amsterdam"), ("New York", "America/New_York"),
             ("Singapore", "Asia/Singapore"))
FIRST = ("Amelia", "Noah", "Isla", "Leo", "Ava", "Arjun", "Chloe", "Mateo", "Zara", "Ethan",
         "Hana", "Samuel", "Lucy", "Kwame", "Elena", "Ravi", "Nina", "Oscar", "Aisha", "Finn",
         "Ingrid", "Jonas", "Layla", "Marco", "Yuki", "Ben", "Clara", "Diego", "Emma", "Felix")
LAST = ("Clarke", "Patel", "Nguyen", "Schmidt", "O'Brien", "Kowalski", "Dubois", "Mensah",
        "Jensen", "Rossi", "Hughes", "Khan", "Silva", "Evans", "Novak", "Reyes", "Walsh",
        "Fischer", "Ahmed", "Murphy")
EMPLOYEES = 60


@functools.cache
def _demo_password_hash() -> str:
    # Hashing is deliberately slow (PBKDF2); the demo hashes its one password once.
    return make_password(DEMO_PASSWORD)


def _employee_username(index: int) -> str:
    return f"{FIRST[index % len(FIRST)]}.{LAST[(index * 7) % len(LAST)]}".lower().replace(
        "'", "")


class _People:
    """The demo's people who exist already, read once; ``person`` adds whoever is missing."""

    def __init__(self) -> None:
        usernames = {"cio", *(login.username for login in LOGINS),
                     *(_employee_username(index) for index in range(EMPLOYEES))}
        self.by_username = {user.username: user
                            for user in User.objects.filter(username__in=usernames)}
        self.created: list[int] = []

    def person(self, username: str, first: str, last: str, roles: tuple[str, ...],
               **profile) -> User:
        existing = self.by_username.get(username)
        if existing is not None:
            return existing
        user = accounts.user_create(
            actor=None, username=username, email=f"{username}@{DOMAIN}", first_name=first,
            last_name=last, roles=roles, **profile,
        )
        self.by_username[username] = user
        self.created.append(user.pk)
        return user

    def set_demo_password(self) -> None:
        # Seed data: each creation is validated and audited; the known demo password is
        # then stored as its precomputed hash, for everyone created, in one statement.
        User.objects.filter(pk__in=self.created).update(password=_demo_password_hash())


def load_people() -> None:
    teams = {team.name: team
             for team in Team.objects.filter(name__in=[name for name, *_ in TEAMS])}
    for name, description, phone in TEAMS:
        if name not in teams:
            teams[name] = accounts.team_create(
                actor=None, name=name, description=description, phone=phone,
                email=f"{name.lower().replace(' & ', '-').replace(' ', '-')}@{DOMAIN}",
                is_service_desk=name == "Service Desk",
            )
    people = _People()
    members = set(TeamMembership.objects.values_list("team_id", "user_id"))
    cio = people.person("cio", "Catherine", "Ashford", ("requester",),
                        job_title="Chief Information Officer", department="IT",
                        location="London HQ", time_zone="Europe/London", vip=True)
    for login in LOGINS:
        location, zone = ("London HQ", "Europe/London")
        user = people.person(login.username, login.first_name, login.last_name, login.roles,
                             job_title=login.job_title,
                             department="IT" if login.team else "Finance",
                             location=location, time_zone=zone, phone="+44 20 7946 0" + str(
                                 200 + LOGINS.index(login)), manager=cio)
        if login.team and (teams[login.team].pk, user.pk) not in members:
            accounts.team_add_member(actor=None, team=teams[login.team], user=user)
    # Team managers
    for team_name, manager in (("Service Desk", "incident.manager"),
                               ("Change Advisory Board", "change.manager"),
                               ("End-User Computing", "asset.manager")):
        team = teams[team_name]
        if team.manager_id is None:
            accounts.team_update(actor=None, team=team, manager=people.by_username[manager])
    # The rest of the organisation: requesters spread over departments and sites.
    rng = random.Random(2026)
    managers: dict[str, User] = {}
    for index in range(EMPLOYEES):
        first, last = FIRST[index % len(FIRST)], LAST[(index * 7) % len(LAST)]
        department = DEPARTMENTS[index % len(DEPARTMENTS)]
        location, zone = LOCATIONS[rng.randrange(len(LOCATIONS))]
        username = _employee_username(index)
        user = people.person(
            username, first, last, ("requester",),
            job_title="Head of " + department if department not in managers else rng.choice(
                ("Analyst", "Coordinator", "Specialist", "Associate", "Officer")),
            department=department, location=location, time_zone=zone,
            phone=f"+44 20 7946 {1000 + index}", vip=department not in managers and index < 3,
            manager=managers.get(department, cio),
        )
        managers.setdefault(department, user)
    people.set_demo_password()


STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("people and teams", load_people),
    ("CMDB estate", load_cmdb),
    ("incidents", load_incidents),
    ("incident history", load_incident_history),
    ("major incidents", load_major_incidents),
    ("saved views", load_saved_views),
    ("escalations and notifications", load_escalations),
    ("service levels", load_service_levels),
    ("service availability", load_availability),
    ("change enablement", load_changes),
    # After the incident history and the changes: problems link both.
    ("problems", load_problems),
    ("endpoint fleet", load_fleet),
    ("remediation", load_remediation),
    # After problems and remediation: a read-only check run under a known error.
    ("fix everywhere", load_kedb),
    ("knowledge base", load_knowledge),
    # After the problems: incidents on a problem are left out of clusters.
    ("trend detection", load_trends),
)


def load_demo(log: Callable[[str], None] = print) -> None:
    with acting_as_system("demo loader"):
        for label, step in STEPS:
            with transaction.atomic():
                step()
            log(f"demo: {label} ready")
