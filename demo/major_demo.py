"""Demo major incidents, written through the services as they would have happened:

- an ongoing email outage on *Email & Collaboration*, declared major two hours ago, with a
  manager, three stakeholder updates, four child incidents from different callers and a
  few subscribers (the portal banner shows it to every requester);
- a payroll outage nine days ago, resolved (its children with it) and closed, with a
  completed post-incident review and three follow-up actions.

The audit log is append-only, so its times cannot be set afterwards: each step runs with
the clock set to the moment it happened (``_at``), so the review's timeline, the updates
and the notifications carry realistic times."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Team
from cmdb.models import ConfigurationItem
from incidents import major, services
from incidents.models import Category, Incident

User = get_user_model()

EMAIL_TITLE = "Email and Teams chat unavailable for all staff"
PAYROLL_TITLE = "Payroll system unavailable on pay day"

EMAIL_CHILDREN = (  # minutes after the outage began, caller, title
    (-4, "kwame.khan", "Outlook says “Disconnected” and will not send"),
    (9, "elena.ahmed", "Cannot get email on my phone"),
    (16, "lucy.obrien", "Customer quotes stuck in the outbox"),
    (31, "ravi.kowalski", "Teams chat history will not load"),
)
EMAIL_UPDATES = (  # minutes after the outage began, text
    (22, "Email (Outlook, mobile mail) and Teams chat are unavailable for all staff at "
         "every site. The messaging team is investigating. Calls and Teams meetings still "
         "work. Next update within 45 minutes."),
    (64, "Cause found: the security certificate on the mail gateways expired overnight, so "
         "apps can no longer connect. A new certificate has been issued and is being "
         "installed. Next update within 45 minutes."),
    (106, "The new certificate is live on the first gateway and mail is flowing again for "
          "some people. We are finishing the second gateway; if Outlook still shows "
          "“Disconnected”, restart it. Next update within 30 minutes."),
)
EMAIL_SUBSCRIBERS = ("cio", "ava.jensen", "oscar.murphy")

PAYROLL_CHILDREN = (
    (6, "noah.mensah", "Payroll screens time out"),
    (14, "samuel.fischer", "Cannot approve overtime before the payroll cut-off"),
    (25, "jonas.mensah", "Payslips page shows an error"),
)
PAYROLL_UPDATES = (
    (20, "Payroll is unavailable. The application team is investigating; the pay run is "
         "not affected yet. Next update within an hour."),
    (75, "The payroll database rejects new connections after last night's patch. We are "
         "restoring its connection limits. The pay run will start late but on the same day."),
    (190, "Payroll is available again and today's pay run has started. Overtime approvals "
          "are open until 18:00."),
)
PAYROLL_RESOLUTION = {
    "resolution_code": "solved_permanently",
    "resolution_notes": "The 02:00 database patch reset the connection pool limit to 20. "
                        "Restored the limit to 400 and restarted the payroll application.",
}
PAYROLL_REVIEW = {
    "summary": "Payroll was unavailable for about three hours on pay day. Around 180 staff "
               "could not approve overtime; the pay run started 3 hours late but finished "
               "the same day.",
    "root_cause": "The overnight database patch reset the connection pool limit to its "
                  "default (20). The payroll application needs about 300 connections at "
                  "the morning peak, so new sessions were refused.",
    "lessons": "Went well: cause found within an hour; regular updates kept HR informed.\n"
               "To improve: the patch was not tested against the production configuration, "
               "and no alert fired on refused connections.",
}
PAYROLL_ACTIONS = (  # description, owner, due in days from the review, done
    ("Keep the database connection settings under configuration management",
     "problem.manager", 14, True),
    ("Alert when the payroll database refuses connections", "resolver", 21, False),
    ("Test database patches against a copy of the production configuration",
     "change.manager", 30, False),
)


@contextmanager
def _at(moment: datetime.datetime) -> Iterator[None]:
    """Everything written inside happens at ``moment`` (services, audit, timestamps)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def _user(username: str) -> Any:
    return User.objects.get(username=username)


def _category(name: str) -> Category | None:
    return Category.objects.filter(name=name, parent__isnull=False).first()


def _incident(when: datetime.datetime, caller: Any, title: str, service: Any, *,
              impact: int, urgency: int, subcategory: str, agent: Any) -> Incident:
    sub = _category(subcategory)
    with _at(when):
        return services.incident_create(
            actor=agent, title=title, requester=caller, channel="phone", service=service,
            impact=impact, urgency=urgency, category=sub.parent if sub else None,
            subcategory=sub, description=f"{title}. Reported by phone to the service desk.")


def _work(incident: Incident, when: datetime.datetime, team: Team, person: Any,
          agent: Any) -> Incident:
    with _at(when):
        incident = services.incident_assign(actor=agent, incident=incident, group=team,
                                            assignee=person)
        return services.incident_transition(actor=person, incident=incident,
                                            to_state="in_progress")


def _outage(*, title: str, began: datetime.datetime, service_name: str, caller: str,
            team_name: str, children: tuple, updates: tuple, subcategory: str) -> Incident:
    """A major incident with its child incidents and stakeholder updates, as it unfolded."""
    agent, manager = _user("agent"), _user("incident.manager")
    team = Team.objects.get(name=team_name)
    service = ConfigurationItem.objects.get(name=service_name, ci_class__key="business_service")
    person = services.suggest_assignee(team)
    if person is None:  # nobody in that team: the service desk takes it
        team, person = Team.objects.get(is_service_desk=True), agent
    incident = _incident(began, _user(caller), title, service, impact=1, urgency=1,
                         subcategory=subcategory, agent=agent)
    incident = _work(incident, began + datetime.timedelta(minutes=5), team, person, agent)
    with _at(began + datetime.timedelta(minutes=12)):
        incident = major.incident_declare_major(
            actor=manager, incident=incident, manager=manager,
            reason=f"{service_name} unavailable for everyone: business-wide impact.")
    events: list[tuple[int, str, Any]] = [(m, "child", (u, t)) for m, u, t in children]
    events += [(m, "update", text) for m, text in updates]
    for minutes, kind, value in sorted(events, key=lambda event: event[0]):
        when = began + datetime.timedelta(minutes=minutes)
        if kind == "update":
            with _at(when):
                major.stakeholder_update_post(actor=manager, incident=incident, body=value)
            continue
        username, child_title = value
        child = _incident(when, _user(username), child_title, service, impact=3, urgency=2,
                          subcategory=subcategory, agent=agent)
        with _at(max(when, began + datetime.timedelta(minutes=12))
                 + datetime.timedelta(minutes=2)):
            services.incident_link_parent(actor=agent, incident=child, parent=incident)
    return incident


def _load_email_outage(now: datetime.datetime) -> None:
    began = now - datetime.timedelta(hours=2, minutes=10)
    incident = _outage(title=EMAIL_TITLE, began=began, service_name="Email & Collaboration",
                       caller="amelia.clarke", team_name="Server & Cloud",
                       children=EMAIL_CHILDREN, updates=EMAIL_UPDATES, subcategory="Email")
    for offset, username in enumerate(EMAIL_SUBSCRIBERS):
        with _at(began + datetime.timedelta(minutes=30 + 7 * offset)):
            major.incident_subscribe(actor=_user(username), incident=incident)


def _load_payroll_outage(now: datetime.datetime) -> None:
    day = (now - datetime.timedelta(days=9)).replace(hour=8, minute=5, second=0,
                                                     microsecond=0)
    incident = _outage(title=PAYROLL_TITLE, began=day, service_name="Payroll",
                       caller="hana.hughes", team_name="Application Support",
                       children=PAYROLL_CHILDREN, updates=PAYROLL_UPDATES,
                       subcategory="Line-of-business app")
    manager, caller = _user("incident.manager"), _user("hana.hughes")
    with _at(day + datetime.timedelta(minutes=185)):
        incident = services.incident_transition(actor=manager, incident=incident,
                                                to_state="resolved", **PAYROLL_RESOLUTION)
    with _at(day + datetime.timedelta(hours=6)):
        incident = services.incident_transition(actor=caller, incident=incident,
                                                to_state="closed",
                                                note="Confirmed: payroll works again.")
    review_day = day + datetime.timedelta(days=2, hours=2)
    with _at(review_day):
        review = major.review_start(actor=manager, incident=incident)
        review = major.review_update(actor=manager, review=review, **PAYROLL_REVIEW)
    finished = []
    for index, (description, owner, due_days, done) in enumerate(PAYROLL_ACTIONS):
        with _at(review_day + datetime.timedelta(minutes=10 + index)):
            action = major.review_action_add(
                actor=manager, review=review, description=description, owner=_user(owner),
                due_on=(review_day + datetime.timedelta(days=due_days)).date())
        if done:
            finished.append(action)
    with _at(review_day + datetime.timedelta(minutes=30)):
        major.review_complete(actor=manager, review=review)
    for action in finished:  # follow-up goes on after the review is signed off
        with _at(review_day + datetime.timedelta(days=5)):
            major.review_action_update(actor=action.owner, action=action, done=True)


def load_major_incidents() -> None:
    """Idempotent: each scenario is written once, found again by its title."""
    now = timezone.now()
    if not Incident.objects.filter(title=PAYROLL_TITLE).exists():
        _load_payroll_outage(now)
    if not Incident.objects.filter(title=EMAIL_TITLE).exists():
        _load_email_outage(now)
