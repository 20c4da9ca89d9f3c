"""Demo incidents: categories, routing rules and incidents in every state, all written
through the incident services (so routing, priorities, audit and activity are real)."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from accounts.models import Team
from cmdb.models import ConfigurationItem
from incidents import services
from incidents.models import Category, Incident, RoutingRule

User = get_user_model()

CATEGORIES = {
    "Hardware": ["Laptop", "Desktop", "Printer", "Mobile device"],
    "Software": ["Email", "Office apps", "Line-of-business app"],
    "Network": ["VPN", "Wi-Fi", "Internet access"],
    "Access": ["Password reset", "Permissions", "New account"],
}
RULES = [  # name, keywords, category, team, bump
    ("VPN and remote access", "vpn, remote access, anyconnect", "Network",
     "Network Operations", 0),
    ("Payroll", "payroll, payslip", None, "Application Support", 1),
    ("Printers", "", "Hardware", "End-User Computing", 0),
]
# title, caller, category, subcategory, service name, impact, urgency, final state
INCIDENTS = [
    ("Outlook keeps asking for my password", "amelia.clarke", "Software", "Email",
     "Email & Collaboration", 3, 2, "new"),
    # Alike on purpose: the desk's "Possible duplicates" and the portal's "Is this
    # already known?" (the demo requester's own) have something to find.
    ("Outlook asks for my password again and again", "requester", "Software", "Email",
     "Email & Collaboration", 3, 2, "new"),
    ("Cannot connect to VPN from home", "noah.patel", "Network", "VPN", None, 3, 1, "new"),
    ("Payroll report shows last month's figures", "isla.novak", "Software",
     "Line-of-business app", "Payroll", 2, 2, "assigned"),
    ("Printer on floor 3 jams on every job", "leo.schmidt", "Hardware", "Printer", None, 3,
     3, "assigned"),
    ("Online ordering checkout times out", "ava.jensen", "Software", "Line-of-business app",
     "Online Ordering", 1, 1, "in_progress"),
    ("Laptop fan very loud and hot", "arjun.reyes", "Hardware", "Laptop", None, 3, 3,
     "in_progress"),
    ("Wi-Fi drops in the Manchester office", "chloe.nguyen", "Network", "Wi-Fi", None, 2, 2,
     "on_hold"),
    ("Need access to the finance share", "mateo.dubois", "Access", "Permissions", None, 3, 3,
     "on_hold"),
    ("Password expired and locked out", "zara.mensah", "Access", "Password reset", None, 3,
     1, "resolved"),
    ("Excel crashes when opening large files", "ethan.kowalski", "Software", "Office apps",
     None, 3, 2, "resolved"),
    ("Teams calls drop after 10 minutes", "hana.hughes", "Software", "Email",
     "Email & Collaboration", 2, 2, "closed"),
    ("Monitor flickers", "samuel.khan", "Hardware", "Desktop", None, 3, 3, "closed"),
    ("Duplicate: VPN not working", "noah.patel", "Network", "VPN", None, 3, 3, "cancelled"),
]
RESOLUTION = {"resolution_code": "solved_permanently",
              "resolution_notes": "Fixed and confirmed with the caller."}


def load_incidents() -> None:
    if Incident.objects.exists():  # seeded once; the desk's own work is never touched
        return
    categories: dict[str, Category] = {}
    for order, (name, children) in enumerate(CATEGORIES.items()):
        parent = Category.objects.get_or_create(name=name, parent=None,
                                                defaults={"order": order})[0]
        categories[name] = parent
        for child in children:
            categories[child] = Category.objects.get_or_create(name=child, parent=parent)[0]
    for order, (name, keywords, category, team, bump) in enumerate(RULES):
        RoutingRule.objects.get_or_create(name=name, defaults={
            "order": (order + 1) * 10, "keywords": keywords,
            "category": categories.get(category) if category else None,
            "assignment_group": Team.objects.get(name=team), "priority_bump": bump})
    agent = User.objects.get(username="agent")
    desk = Team.objects.get(name="Service Desk")
    # Read once: the callers (the demo requester stands in for anyone missing) and the
    # services the incidents are about (the first CI of each name).
    people = {user.username: user for user in User.objects.filter(
        username__in={"requester", *(row[1] for row in INCIDENTS)})}
    services_named: dict[str, ConfigurationItem] = {}
    for ci in ConfigurationItem.objects.filter(
            name__in={row[4] for row in INCIDENTS if row[4]}).order_by("pk"):
        services_named.setdefault(ci.name, ci)
    for title, caller, category, sub, service, impact, urgency, state in INCIDENTS:
        incident = services.incident_create(
            actor=agent, title=title, requester=people.get(caller) or people["requester"],
            channel="phone", category=categories[category], subcategory=categories[sub],
            service=services_named.get(service) if service else None, impact=impact,
            urgency=urgency, description=f"{title}. Reported by phone to the service desk.")
        if state == "new":
            continue
        if state == "cancelled":
            services.incident_transition(actor=agent, incident=incident, to_state="cancelled",
                                         note="Duplicate of an open incident.")
            continue
        group = incident.assignment_group or desk
        person = services.suggest_assignee(group)
        if person is None:  # nobody active in the group: the desk's agent takes it
            group, person = desk, agent
        incident = services.incident_assign(actor=agent, incident=incident, group=group,
                                            assignee=person)
        if state == "assigned":
            continue
        services.incident_respond(actor=person, incident=incident,
                                  body="I'm looking into this now.")
        incident = services.incident_transition(actor=person, incident=incident,
                                                to_state="in_progress")
        if state == "in_progress":
            continue
        if state == "on_hold":
            services.incident_transition(actor=person, incident=incident, to_state="on_hold",
                                         hold_reason="awaiting_caller",
                                         note="Waiting for the caller to try again.")
            continue
        incident = services.incident_transition(actor=person, incident=incident,
                                                to_state="resolved", **RESOLUTION)
        if state == "closed":
            services.incident_transition(actor=person, incident=incident, to_state="closed")
