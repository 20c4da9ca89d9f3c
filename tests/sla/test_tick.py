"""The tick: thresholds fire once, at the right time, never while paused, never twice
under a second worker or a redelivered task; after an outage only the highest reached
acts; actions run through the incident services; working-hours-only actions wait."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from incidents.models import HoldReason, IncidentState
from notifications.models import Notification
from sla.engine import _check, timers_of, timers_tick
from sla.models import Firing, Metric, ThresholdAction, Timer, TimerState
from tests.factories import TeamFactory, UserFactory

from .conftest import MONDAY_9, make_agreement

MIN = dt.timedelta(minutes=1)


def resolution_timer(incident):
    return next(t for t in timers_of(incident) if t.metric == Metric.RESOLUTION
                and t.is_active)


def fired(incident):
    return [(f.percent, f.skipped) for f in Firing.objects.filter(
        timer__object_id=incident.pk).order_by("percent")]


def test_each_threshold_fires_once_when_reached(clock, always, desk, requester):
    make_agreement("Standard", always, first_response=None, resolution=100)
    incident = services.incident_create(actor=requester, title="Disk full")
    clock.shift(49 * MIN)
    assert timers_tick()["fired"] == 0
    clock.shift(1 * MIN)
    assert timers_tick()["fired"] == 1
    assert timers_tick()["fired"] == 0  # a second tick, or a redelivered task
    assert fired(incident) == [(50, False)]
    timer = resolution_timer(incident)
    assert timer.warned_percent == 50 and timer.next_percent == 75
    assert timer.next_check_at == MONDAY_9 + 75 * MIN


def test_after_an_outage_only_the_breach_acts(clock, always, desk, requester):
    make_agreement("Standard", always, first_response=None, resolution=100)
    incident = services.incident_create(actor=requester, title="Beat was down")
    clock.shift(3 * 60 * MIN)
    counts = timers_tick()
    assert counts["fired"] == 1 and counts["skipped"] == 3
    assert fired(incident) == [(50, True), (75, True), (90, True), (100, False)]
    timer = resolution_timer(incident)
    assert timer.breached_at == MONDAY_9 + 100 * MIN  # the due time, not the late check
    assert timer.next_check_at is None
    clock.shift(60 * MIN)
    assert timers_tick() == {"checked": 0, "fired": 0, "skipped": 0, "actions": 0}


def test_a_paused_timer_does_not_fire_and_its_thresholds_move(
        clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=100)
    incident = services.incident_create(actor=requester, title="Waiting for the caller")
    clock.shift(10 * MIN)
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.IN_PROGRESS)
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.ON_HOLD,
                                            hold_reason=HoldReason.AWAITING_CALLER)
    clock.shift(5 * 60 * MIN)
    assert timers_tick()["fired"] == 0
    services.incident_transition(actor=agent, incident=incident,
                                 to_state=IncidentState.IN_PROGRESS)
    timer = resolution_timer(incident)
    assert timer.next_check_at == MONDAY_9 + (5 * 60 + 10 + 40) * MIN  # 50 % of 100
    clock.shift(39 * MIN)
    assert timers_tick()["fired"] == 0
    clock.shift(1 * MIN)
    assert timers_tick()["fired"] == 1


def test_a_second_worker_with_a_stale_copy_fires_nothing(clock, always, desk, requester):
    make_agreement("Standard", always, first_response=None, resolution=100,
                   actions={50: [ThresholdAction.NOTIFY_TEAM_MANAGER]})
    manager = UserFactory(username="boss", roles=["service_desk_agent"])
    desk.manager = manager
    desk.save()
    incident = services.incident_create(actor=requester, title="Twice?")
    stale = Timer.objects.get(pk=resolution_timer(incident).pk)
    clock.shift(50 * MIN)
    timers_tick()
    counts = {"checked": 0, "fired": 0, "skipped": 0, "actions": 0}
    _check(stale, MONDAY_9 + 50 * MIN, counts)  # as a redelivered task would
    assert counts["fired"] == 0
    assert Notification.objects.filter(recipient=manager, kind="sla.warning").count() == 1


def test_actions_go_through_the_incident_services(clock, always, desk, requester):
    network = TeamFactory(name="Network")
    make_agreement("Standard", always, first_response=None, resolution=100, actions={
        75: [ThresholdAction.MARK_ESCALATED, ThresholdAction.RAISE_PRIORITY],
        100: [ThresholdAction.MARK_ESCALATED, ThresholdAction.REASSIGN,
              ThresholdAction.NOTIFY_INCIDENT_MANAGER]})
    from sla.models import Threshold

    Threshold.objects.filter(percent=100).update(reassign_to=network)
    im = UserFactory(username="im", roles=["incident_manager"])
    desk.manager = UserFactory(username="gm", roles=["service_desk_agent"])
    desk.save()  # level 1 tells the group's manager (a group without one goes to level 2)
    incident = services.incident_create(actor=requester, title="Getting worse")
    before = incident.priority
    clock.shift(75 * MIN)
    timers_tick()
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.priority == before - 1
    clock.shift(25 * MIN)
    timers_tick()
    incident.refresh_from_db()
    assert incident.escalation_level == 2 and incident.assignment_group == network
    breach = Firing.objects.get(percent=100)
    assert [o["action"] for o in breach.outcome] == [
        "mark_escalated", "reassign", "notify_incident_manager"]
    assert Notification.objects.filter(recipient=im, kind="sla.breached").exists()


def test_working_hours_only_actions_wait_for_the_next_working_period(
        clock, office, desk, requester):
    from sla.models import Threshold

    manager = UserFactory(username="boss", roles=["service_desk_agent"])
    desk.manager = manager
    desk.save()
    make_agreement("Office", office, first_response=None, resolution=60,
                   actions={100: [ThresholdAction.NOTIFY_TEAM_MANAGER]})
    Threshold.objects.filter(percent=100).update(working_hours_only=True)
    clock.move_to(dt.datetime(2026, 1, 9, 16, 0, tzinfo=dt.UTC))  # Friday 16:00
    services.incident_create(actor=requester, title="Friday afternoon")
    clock.move_to(dt.datetime(2026, 1, 9, 17, 0, tzinfo=dt.UTC))  # breached at 17:00
    timers_tick()
    firing = Firing.objects.get(percent=100)
    assert firing.actions_due_at == dt.datetime(2026, 1, 12, 9, 0, tzinfo=dt.UTC)
    assert not Notification.objects.filter(recipient=manager).exists()
    clock.move_to(dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC))  # Saturday: still waits
    timers_tick()
    assert not Notification.objects.filter(recipient=manager).exists()
    clock.move_to(dt.datetime(2026, 1, 12, 9, 0, 5, tzinfo=dt.UTC))
    assert timers_tick()["actions"] == 1
    assert Notification.objects.filter(recipient=manager, kind="sla.breached").count() == 1


def test_the_tick_reads_only_timers_that_are_due(clock, always, desk, requester):
    make_agreement("Standard", always, first_response=None, resolution=100)
    for n in range(30):
        services.incident_create(actor=requester, title=f"Quiet {n}")
    with CaptureQueriesContext(connection) as quiet:
        timers_tick()
    assert all("next_check_at" in q["sql"] or "actions_due_at" in q["sql"]
               for q in quiet.captured_queries if q["sql"].startswith("SELECT"))
    selects = [q for q in quiet.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 2
    assert Timer.objects.filter(state=TimerState.RUNNING).count() == 30
