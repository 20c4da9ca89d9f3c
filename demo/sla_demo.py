"""Demo service levels: the Aldermoor calendars (24×7, and London office hours with the
English bank holidays from the `holidays` package), an SLA per priority band and for VIP
callers, an OLA for Network Operations, an underpinning contract with the hosting vendor
of Online Ordering; then every incident measured against them (``timers_backfill``: the
demo's incidents were written before these agreements and moved back in time), the tick
run so warnings and breaches fire, and three incidents that show the rest: paused while
awaiting the caller, re-evaluated after a priority change, and waiting for the desk's
answer to the caller (next update)."""

from __future__ import annotations

import holidays
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Team
from cmdb.models import ConfigurationItem
from incidents import services
from incidents.models import HoldReason, Incident, IncidentState
from sla.engine import timers_backfill, timers_tick
from sla.models import (
    Agreement,
    AgreementKind,
    BusinessCalendar,
    Holiday,
    HolidaySource,
    Metric,
    Target,
    Threshold,
    ThresholdAction,
    WorkingInterval,
)

User = get_user_model()

PAUSED_TITLE = "SLA demo: laptop swap waits for the caller"
REEVALUATED_TITLE = "SLA demo: invoice run slower than usual, then failing"
NEXT_UPDATE_TITLE = "SLA demo: caller asks for news on a VPN certificate"

A = ThresholdAction
WARN = {50: [A.NOTIFY_ASSIGNEE], 75: [A.NOTIFY_ASSIGNEE, A.NOTIFY_TEAM_MANAGER],
        90: [A.NOTIFY_TEAM_MANAGER, A.MARK_ESCALATED],
        100: [A.NOTIFY_INCIDENT_MANAGER, A.MARK_ESCALATED]}
# name, kind, order, conditions, [(metric, minutes, calendar)], counterpart, description
AGREEMENTS = (
    ("Critical (P1)", AgreementKind.SLA, 10, {"priorities": [1]},
     [(Metric.FIRST_RESPONSE, 15, "24×7"), (Metric.RESOLUTION, 240, "24×7")],
     "All Aldermoor staff", "Anything that stops a business service, around the clock."),
    ("VIP callers", AgreementKind.SLA, 20, {"caller_vip": True},
     [(Metric.FIRST_RESPONSE, 30, "Office hours"), (Metric.RESOLUTION, 480, "Office hours")],
     "Executive board", "Board members and their assistants."),
    ("High (P2)", AgreementKind.SLA, 30, {"priorities": [2]},
     [(Metric.FIRST_RESPONSE, 60, "Office hours"), (Metric.RESOLUTION, 600, "Office hours")],
     "All Aldermoor staff", "Serious but with a workaround."),
    ("Standard", AgreementKind.SLA, 100, {},
     [(Metric.FIRST_RESPONSE, 240, "Office hours"), (Metric.RESOLUTION, 1800, "Office hours"),
      (Metric.NEXT_UPDATE, 480, "Office hours")],
     "All Aldermoor staff", "Everything else: answered within half a day, fixed in three."),
    ("Network Operations OLA", AgreementKind.OLA, 10, {"groups": ["Network Operations"]},
     [(Metric.RESOLUTION, 480, "Office hours")], "Network Operations",
     "What the network team promises the service desk, from the moment it has the ticket."),
    ("Contoso Hosting contract", AgreementKind.UC, 10, {"services": ["Online Ordering"]},
     [(Metric.RESOLUTION, 720, "24×7")], "Contoso Hosting Ltd",
     "The hosting vendor's fix time for the web shop platform."),
)


def _calendars() -> dict[str, BusinessCalendar]:
    always, made = BusinessCalendar.objects.get_or_create(
        name="24×7", defaults={"time_zone": "UTC",
                               "description": "Every minute counts: critical services."})
    if made:
        WorkingInterval.objects.bulk_create(
            WorkingInterval(calendar=always, weekday=day, start_minute=0, end_minute=1440)
            for day in range(7))
    office, made = BusinessCalendar.objects.get_or_create(
        name="Office hours", defaults={
            "time_zone": "Europe/London", "holiday_country": "GB", "holiday_subdivision": "ENG",
            "description": "The London service desk: Monday to Friday, 08:00–18:00."})
    if made:
        WorkingInterval.objects.bulk_create(
            WorkingInterval(calendar=office, weekday=day, start_minute=8 * 60,
                            end_minute=18 * 60) for day in range(5))
        year = timezone.now().year
        england = holidays.country_holidays("GB", subdiv="ENG", years=[year - 1, year, year + 1])
        Holiday.objects.bulk_create(
            Holiday(calendar=office, date=day, name=name, source=HolidaySource.GENERATED)
            for day, name in sorted(england.items()))
    return {"24×7": always, "Office hours": office}


def _agreements(calendars: dict[str, BusinessCalendar]) -> None:
    for name, kind, order, conditions, targets, counterpart, description in AGREEMENTS:
        agreement, made = Agreement.objects.get_or_create(name=name, defaults={
            "kind": kind, "order": order, "counterpart": counterpart,
            "description": description, "priorities": conditions.get("priorities", []),
            "caller_vip": conditions.get("caller_vip")})
        if not made:
            continue
        agreement.assignment_groups.set(Team.objects.filter(name__in=conditions.get("groups",
                                                                                    [])))
        agreement.services.set(ConfigurationItem.objects.filter(
            name__in=conditions.get("services", []), ci_class__is_service=True))
        for metric, minutes, calendar in targets:
            target = Target.objects.create(
                agreement=agreement, metric=metric, goal_minutes=minutes,
                calendar=calendars[calendar],
                reset_on=["assignment_group"] if kind == AgreementKind.OLA else [])
            Threshold.objects.bulk_create(
                Threshold(target=target, percent=percent,
                          actions=[str(a) for a in actions] if kind == AgreementKind.SLA else [])
                for percent, actions in WARN.items())


def _stories() -> None:
    agent = User.objects.get(username="agent")
    caller = User.objects.get(username="requester")
    desk = Team.objects.get(name="Service Desk")
    paused = services.incident_create(actor=agent, requester=caller, title=PAUSED_TITLE,
                                      assignment_group=desk,
                                      description="Replacement laptop ready for collection.")
    services.incident_assign(actor=agent, incident=paused, group=desk, assignee=agent)
    services.incident_respond(actor=agent, incident=paused,
                              body="Your new laptop is ready: when can you collect it?")
    services.incident_transition(actor=agent, incident=paused, to_state=IncidentState.ON_HOLD,
                                 hold_reason=HoldReason.AWAITING_CALLER)
    changed = services.incident_create(actor=agent, requester=caller, title=REEVALUATED_TITLE,
                                       assignment_group=desk, impact=3, urgency=2)
    services.incident_update(actor=agent, incident=changed, impact=1, urgency=1)
    waiting = services.incident_create(actor=agent, requester=caller, title=NEXT_UPDATE_TITLE,
                                       assignment_group=desk)
    services.incident_respond(actor=agent, incident=waiting,
                              body="We are renewing the certificate.")
    services.incident_respond(actor=caller, incident=waiting,
                              body="Any news? I cannot reach the VPN from home.")


def load_service_levels() -> None:
    if Agreement.objects.exists():  # seeded once; administrators' own edits stay
        return
    _agreements(_calendars())
    now = timezone.now()
    for incident in Incident.objects.order_by("pk"):
        timers_backfill(incident, now)
    timers_tick(now)
    _stories()
