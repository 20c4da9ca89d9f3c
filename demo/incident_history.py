"""Demo incident history, so the metrics page has something to say: about sixty incidents
worked and closed over the last three months, and the demo's current incidents given
believable ages (opened minutes to days ago, acknowledged and resolved later).

Everything is written through the incident services (routing, audit, activity are real)
and then moved back in time: the incident's timestamps and its activity timeline are set
with queryset ``update()``, each activity placed between the same milestones as when it
was written. The audit log keeps the real time of writing: it is append-only, and it
records when the loader wrote the demo, which is the truth.
"""

from __future__ import annotations

import datetime
import itertools
import math
import random
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from accounts.models import Team
from incidents import services
from incidents.models import Category, Incident
from tickets.models import Activity

from .incidents_demo import INCIDENTS, RESOLUTION

User = get_user_model()

HISTORY_MARK = "(Demo history.)"
HISTORY_SIZE = 60
HISTORY_DAYS = 90
SEED = 2026
MINUTE = datetime.timedelta(minutes=1)
# title, category, subcategory, impact, urgency
CATALOGUE = (
    ("Cannot print to the floor printer", "Hardware", "Printer", 3, 3),
    ("Laptop battery drains in an hour", "Hardware", "Laptop", 3, 3),
    ("Docking station not detecting monitors", "Hardware", "Desktop", 3, 2),
    ("Phone will not sync email", "Hardware", "Mobile device", 3, 2),
    ("Shared mailbox missing from Outlook", "Software", "Email", 3, 2),
    ("Email delivery delayed for the whole office", "Software", "Email", 1, 2),
    ("Excel add-in fails to load", "Software", "Office apps", 3, 3),
    ("Ordering system errors on checkout", "Software", "Line-of-business app", 1, 1),
    ("Payroll export stuck at 50%", "Software", "Line-of-business app", 2, 1),
    ("VPN disconnects every few minutes", "Network", "VPN", 2, 2),
    ("Wi-Fi slow in meeting rooms", "Network", "Wi-Fi", 2, 3),
    ("No internet access on the second floor", "Network", "Internet access", 2, 1),
    ("Password reset link expired", "Access", "Password reset", 3, 1),
    ("Need write access to the projects share", "Access", "Permissions", 3, 3),
    ("New starter has no account", "Access", "New account", 3, 2),
)
# Per priority: minutes to acknowledge and to resolve, (shortest, longest).
ACKNOWLEDGE_MINUTES = {1: (3, 15), 2: (5, 45), 3: (15, 180), 4: (30, 480)}
RESOLVE_MINUTES = {1: (45, 360), 2: (120, 1440), 3: (360, 4320), 4: (1440, 10080)}


def _between(rng: random.Random, low: float, high: float) -> datetime.timedelta:
    """Minutes spread evenly on a log scale: most are quick, a few take long."""
    return MINUTE * math.exp(rng.uniform(math.log(low), math.log(high)))


def _working_time(rng: random.Random, now: datetime.datetime, days_ago: int
                  ) -> datetime.datetime:
    day = (now - datetime.timedelta(days=days_ago)).date()
    while day.weekday() >= 5:  # incidents come in on working days
        day -= datetime.timedelta(days=1)
    start = datetime.datetime.combine(day, datetime.time(8, 0), tzinfo=datetime.UTC)
    return start + MINUTE * rng.randint(0, 9 * 60)


def _retime(incident: Incident, milestones: Iterable[tuple[str, datetime.datetime]]) -> None:
    """Set the incident's timestamps to ``milestones`` (field, demo time) and move each
    activity to the same place between them as it had between the real ones."""
    real = Incident.objects.values(*(name for name, _ in milestones)).get(pk=incident.pk)
    anchors = sorted((real[name], demo) for name, demo in milestones if real[name])
    changes = dict(milestones)
    Incident.objects.filter(pk=incident.pk).update(
        **changes, updated_at=max(demo for _, demo in anchors))
    entries = list(Activity.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), object_id=incident.pk))
    for entry in entries:
        entry.created_at = _mapped(entry.created_at, anchors)
    Activity.objects.bulk_update(entries, ["created_at"])


def _mapped(moment: datetime.datetime,
            anchors: list[tuple[datetime.datetime, datetime.datetime]]) -> datetime.datetime:
    if moment <= anchors[0][0]:
        return anchors[0][1]
    for (real_a, demo_a), (real_b, demo_b) in itertools.pairwise(anchors):
        if moment <= real_b:
            share = (moment - real_a) / (real_b - real_a) if real_b > real_a else 1
            return demo_a + (demo_b - demo_a) * share
    return anchors[-1][1] + (moment - anchors[-1][0])


def _assignee(incident: Incident, desk: Team, agent: User) -> tuple[Team, User]:
    group = incident.assignment_group or desk
    person = services.suggest_assignee(group)
    if person is None:  # nobody active in the group: the desk's agent takes it
        return desk, agent
    return group, person


def _past_incident(rng: random.Random, now: datetime.datetime, callers: list[User],
                   categories: dict[str, Category], desk: Team, agent: User) -> None:
    title, category, subcategory, impact, urgency = rng.choice(CATALOGUE)
    incident = services.incident_create(
        actor=agent, title=title, requester=rng.choice(callers), channel=rng.choice(
            ("phone", "phone", "portal", "email")), category=categories[category],
        subcategory=categories[subcategory], impact=impact, urgency=urgency,
        description=f"{title}. {HISTORY_MARK}")
    opened = _working_time(rng, now, rng.randint(8, HISTORY_DAYS))
    if rng.random() < 0.05:  # logged twice by mistake
        services.incident_transition(actor=agent, incident=incident, to_state="cancelled",
                                     note="Duplicate.")
        _retime(incident, [("created_at", opened), ("closed_at", opened + 20 * MINUTE)])
        return
    group, person = _assignee(incident, desk, agent)
    incident = services.incident_assign(actor=agent, incident=incident, group=group,
                                        assignee=person)
    services.incident_respond(actor=person, incident=incident,
                              body="Thanks, I'm on it.")
    incident = services.incident_transition(actor=person, incident=incident,
                                            to_state="in_progress")
    incident = services.incident_transition(actor=person, incident=incident,
                                            to_state="resolved", **RESOLUTION)
    services.incident_transition(actor=person, incident=incident, to_state="closed",
                                 note="Confirmed fixed.")
    priority = incident.priority
    acknowledged = opened + _between(rng, *ACKNOWLEDGE_MINUTES[priority])
    responded = acknowledged + _between(rng, 1, 20)
    resolved = max(responded + MINUTE, opened + _between(rng, *RESOLVE_MINUTES[priority]))
    closed = min(resolved + _between(rng, 120, 3 * 1440), now - MINUTE)
    _retime(incident, [("created_at", opened), ("acknowledged_at", acknowledged),
                       ("first_response_at", responded), ("resolved_at", resolved),
                       ("closed_at", closed)])


# The demo's current incidents (demo/incidents_demo.py), by final state: (opened, minutes
# ago, shortest and longest); acknowledged, responded, resolved, closed: minutes after
# opening.
CURRENT_AGES = {
    "new": ((20, 90), None, None, None, None),
    "assigned": ((120, 360), 25, None, None, None),
    "in_progress": ((900, 1500), 15, 40, None, None),
    "on_hold": ((2 * 1440, 3 * 1440), 30, 55, None, None),
    "resolved": ((1440, 2 * 1440), 20, 35, 600, None),
    "closed": ((8 * 1440, 10 * 1440), 12, 30, 420, 1440 + 420),
    "cancelled": ((3 * 1440, 4 * 1440), None, None, None, 30),
}


def _age_current_incidents(rng: random.Random, now: datetime.datetime) -> None:
    """Give the just-loaded current incidents believable ages (never the desk's own:
    only the demo's titles, written in the last hour)."""
    titles = {row[0]: row[-1] for row in INCIDENTS}
    recent = Incident.objects.filter(title__in=titles,
                                     created_at__gte=now - datetime.timedelta(hours=1))
    for incident in recent:
        ages = CURRENT_AGES.get(incident.state)
        if ages is None:
            continue
        (low, high), *after = ages
        opened = now - MINUTE * rng.randint(low, high)
        milestones = [("created_at", opened)]
        for name, minutes in zip(("acknowledged_at", "first_response_at", "resolved_at",
                                  "closed_at"), after, strict=True):
            if minutes is not None and getattr(incident, name) is not None:
                milestones.append((name, opened + MINUTE * minutes))
        _retime(incident, milestones)


def load_incident_history() -> None:
    if Incident.objects.filter(description__endswith=HISTORY_MARK).exists():
        return  # loaded once
    rng = random.Random(SEED)
    now = timezone.now()
    _age_current_incidents(rng, now)
    callers = list(User.objects.filter(username__in={row[1] for row in INCIDENTS}))
    if not callers:
        callers = [User.objects.get(username="requester")]
    categories = {c.name: c for c in Category.objects.all()}
    desk = Team.objects.get(name="Service Desk")
    agent = User.objects.get(username="agent")
    for _ in range(HISTORY_SIZE):
        _past_incident(rng, now, callers, categories, desk, agent)
