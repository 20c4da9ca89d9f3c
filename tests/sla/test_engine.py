"""The SLA engine, given / when / then: which agreement applies, start, pause, resume,
stop, reopen, cancel, reset, re-evaluation on a priority change, and first response."""

import datetime as dt

from incidents import services
from incidents.models import HoldReason, IncidentState, ResolutionCode
from sla.engine import progress, timers_of
from sla.models import AgreementKind, Metric, TimerState
from tests.factories import MembershipFactory, TeamFactory, UserFactory

from .conftest import MONDAY_9, make_agreement

MIN = dt.timedelta(minutes=1)


def timer(incident, metric, kind=AgreementKind.SLA, live=True):
    found = [t for t in timers_of(incident) if t.metric == metric and t.kind == kind]
    if live:
        found = [t for t in found if t.is_active] or found
    return found[0]


def hold(agent, incident, reason=HoldReason.AWAITING_CALLER):
    if incident.state == IncidentState.NEW:
        incident = services.incident_transition(actor=agent, incident=incident,
                                                to_state=IncidentState.IN_PROGRESS)
    return services.incident_transition(actor=agent, incident=incident,
                                        to_state=IncidentState.ON_HOLD, hold_reason=reason)


def resolve(agent, incident):
    return services.incident_transition(
        actor=agent, incident=incident, to_state=IncidentState.RESOLVED,
        resolution_code=ResolutionCode.choices[0][0], resolution_notes="Fixed.")


def test_a_new_incident_gets_a_timer_per_target_due_through_the_calendar(
        clock, always, desk, requester):
    make_agreement("Standard", always, first_response=60, resolution=480)
    incident = services.incident_create(actor=requester, title="Printer jam")
    first, fix = timer(incident, Metric.FIRST_RESPONSE), timer(incident, Metric.RESOLUTION)
    assert first.state == fix.state == TimerState.RUNNING
    assert first.started_at == MONDAY_9
    assert first.due_at == MONDAY_9 + 60 * MIN and fix.due_at == MONDAY_9 + 480 * MIN
    assert fix.next_check_at == MONDAY_9 + 240 * MIN and fix.next_percent == 50
    assert "Standard covers every incident" in fix.reason


def test_office_hours_carry_the_deadline_over_the_weekend(clock, office, desk, requester):
    make_agreement("Office", office, first_response=60, resolution=480)
    clock.move_to(dt.datetime(2026, 1, 9, 16, 30, tzinfo=dt.UTC))  # Friday 16:30 London
    incident = services.incident_create(actor=requester, title="VPN down")
    assert timer(incident, Metric.FIRST_RESPONSE).due_at == dt.datetime(
        2026, 1, 12, 9, 30, tzinfo=dt.UTC)  # Monday 09:30
    # 8 working hours: 30 minutes on Friday, 7½ on Monday.
    assert timer(incident, Metric.RESOLUTION).due_at == dt.datetime(
        2026, 1, 12, 16, 30, tzinfo=dt.UTC)


def test_no_agreement_means_no_timer_and_no_error(clock, desk, requester):
    incident = services.incident_create(actor=requester, title="Nothing applies")
    assert timers_of(incident) == []


def test_awaiting_the_caller_pauses_and_resuming_moves_the_deadline_exactly(
        clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=480)
    incident = services.incident_create(actor=requester, title="Slow laptop")
    clock.shift(30 * MIN)
    incident = hold(agent, incident)
    paused = timer(incident, Metric.RESOLUTION)
    assert paused.state == TimerState.PAUSED and paused.paused_since == MONDAY_9 + 30 * MIN
    assert paused.due_at is None and paused.next_check_at is None
    clock.shift(60 * MIN)
    services.incident_transition(actor=agent, incident=incident,
                                 to_state=IncidentState.IN_PROGRESS)
    running = timer(incident, Metric.RESOLUTION)
    assert running.state == TimerState.RUNNING
    assert running.due_at == MONDAY_9 + (480 + 60) * MIN
    assert running.pauses() == [(MONDAY_9 + 30 * MIN, MONDAY_9 + 90 * MIN)]
    assert [e.kind for e in running.events.all()] == ["started", "paused", "resumed"]
    assert progress(running, MONDAY_9 + 120 * MIN)["used_seconds"] == 60 * 60


def test_waiting_for_a_change_does_not_pause(clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=480)
    incident = services.incident_create(actor=requester, title="Needs a change")
    hold(agent, incident, HoldReason.AWAITING_CHANGE)
    assert timer(incident, Metric.RESOLUTION).state == TimerState.RUNNING


def test_resolving_stops_and_reopening_resumes_with_the_resolved_time_paused(
        clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=480)
    incident = services.incident_create(actor=requester, title="Mail bounce")
    clock.shift(100 * MIN)
    incident = resolve(agent, incident)
    stopped = timer(incident, Metric.RESOLUTION)
    assert stopped.state == TimerState.MET and stopped.stopped_at == MONDAY_9 + 100 * MIN
    clock.shift(50 * MIN)
    services.incident_transition(actor=requester, incident=incident,
                                 to_state=IncidentState.IN_PROGRESS)
    reopened = timer(incident, Metric.RESOLUTION)
    assert reopened.pk == stopped.pk and reopened.state == TimerState.RUNNING
    assert reopened.due_at == MONDAY_9 + (480 + 50) * MIN


def test_resolving_late_is_missed_and_breached_at_the_due_time(
        clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=60)
    incident = services.incident_create(actor=requester, title="Late")
    clock.shift(90 * MIN)
    resolve(agent, incident)
    late = timer(incident, Metric.RESOLUTION)
    assert late.state == TimerState.MISSED and late.breached_at == MONDAY_9 + 60 * MIN


def test_cancelling_the_incident_cancels_its_timers(clock, always, desk, requester, agent):
    make_agreement("Standard", always)
    incident = services.incident_create(actor=requester, title="Duplicate")
    services.incident_transition(actor=agent, incident=incident,
                                 to_state=IncidentState.CANCELLED)
    assert {t.state for t in timers_of(incident)} == {TimerState.CANCELLED}


def test_a_priority_change_measures_the_new_agreement_from_the_original_start(
        clock, always, desk, requester, agent):
    make_agreement("Critical", always, order=1, priorities=[1], first_response=15,
                   resolution=240)
    make_agreement("Standard", always, order=2, first_response=60, resolution=480)
    incident = services.incident_create(actor=requester, title="Payroll down")
    clock.shift(10 * MIN)
    incident = hold(agent, incident)
    clock.shift(20 * MIN)
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.IN_PROGRESS)
    clock.shift(5 * MIN)
    services.incident_update(actor=agent, incident=incident, impact=1, urgency=1)
    timers = [t for t in timers_of(incident) if t.metric == Metric.RESOLUTION]
    old = next(t for t in timers if t.state == TimerState.CANCELLED)
    new = next(t for t in timers if t.is_active)
    assert old.agreement.name == "Standard" and "Critical" in old.cancelled_reason
    assert new.agreement.name == "Critical" and new.started_at == MONDAY_9
    assert new.pauses() == old.pauses() == [(MONDAY_9 + 10 * MIN, MONDAY_9 + 30 * MIN)]
    assert new.due_at == MONDAY_9 + (240 + 20) * MIN
    assert "priority P1" in new.reason


def test_the_first_public_reply_of_the_assigned_team_meets_first_response(
        clock, always, desk, requester, resolver, outsider):
    make_agreement("Standard", always, first_response=60, resolution=480)
    incident = services.incident_create(actor=requester, title="Screen flickers")
    services.incident_respond(actor=resolver, incident=incident, body="Looking", internal=True)
    services.incident_respond(actor=outsider, incident=incident, body="Not my team")
    services.incident_respond(actor=requester, incident=incident, body="Any news?")
    assert timer(incident, Metric.FIRST_RESPONSE).state == TimerState.RUNNING
    clock.shift(20 * MIN)
    services.incident_respond(actor=resolver, incident=incident, body="On it")
    met = timer(incident, Metric.FIRST_RESPONSE)
    assert met.state == TimerState.MET and met.stopped_at == MONDAY_9 + 20 * MIN
    assert timer(incident, Metric.RESOLUTION).state == TimerState.RUNNING


def test_taking_the_assignment_is_a_response_but_automatic_routing_is_not(
        clock, always, desk, requester, resolver):
    make_agreement("Standard", always, first_response=60, resolution=480)
    incident = services.incident_create(actor=None, requester=requester, title="By email",
                                        assignment_group=desk)
    assert timer(incident, Metric.FIRST_RESPONSE).state == TimerState.RUNNING
    services.incident_assign(actor=resolver, incident=incident, group=desk, assignee=resolver)
    assert timer(incident, Metric.FIRST_RESPONSE).state == TimerState.MET


def test_an_ola_resets_when_the_group_changes(clock, always, desk, requester, agent):
    network = TeamFactory(name="Network")
    make_agreement("Desk OLA", always, kind=AgreementKind.OLA, first_response=None,
                   resolution=120, reset_on=["assignment_group"])
    incident = services.incident_create(actor=requester, title="Switch down")
    clock.shift(30 * MIN)
    services.incident_assign(actor=agent, incident=incident, group=network)
    timers = [t for t in timers_of(incident) if t.kind == AgreementKind.OLA]
    assert {t.state for t in timers} == {TimerState.CANCELLED, TimerState.RUNNING}
    fresh = next(t for t in timers if t.is_active)
    assert fresh.started_at == MONDAY_9 + 30 * MIN
    assert fresh.due_at == MONDAY_9 + 150 * MIN


def test_conditions_on_service_group_and_vip_caller(clock, always, desk, requester, agent):
    vip = UserFactory(username="boss")
    vip.profile.vip = True
    vip.profile.save()
    make_agreement("VIP", always, order=1, caller_vip=True, first_response=10,
                   resolution=120)
    make_agreement("Standard", always, order=2)
    ordinary = services.incident_create(actor=requester, title="Ordinary")
    special = services.incident_create(actor=agent, requester=vip, title="Boss printer")
    assert timer(ordinary, Metric.RESOLUTION).agreement.name == "Standard"
    assert timer(special, Metric.RESOLUTION).agreement.name == "VIP"
    assert "the caller is a VIP" in timer(special, Metric.RESOLUTION).reason


def test_next_update_runs_from_a_caller_reply_to_the_desk_reply(
        clock, always, desk, requester, resolver):
    from sla.models import Target

    agreement = make_agreement("Standard", always, first_response=None, resolution=480)
    Target.objects.create(agreement=agreement, metric=Metric.NEXT_UPDATE, goal_minutes=30,
                          calendar=always)
    incident = services.incident_create(actor=requester, title="Waiting on desk")
    assert not [t for t in timers_of(incident) if t.metric == Metric.NEXT_UPDATE]
    clock.shift(5 * MIN)
    services.incident_respond(actor=requester, incident=incident, body="Still broken")
    running = timer(incident, Metric.NEXT_UPDATE)
    assert running.due_at == MONDAY_9 + 35 * MIN
    clock.shift(10 * MIN)
    services.incident_respond(actor=resolver, incident=incident, body="Trying a fix")
    assert timer(incident, Metric.NEXT_UPDATE).state == TimerState.MET
    services.incident_respond(actor=requester, incident=incident, body="Again")
    again = timer(incident, Metric.NEXT_UPDATE)
    assert again.state == TimerState.RUNNING and again.started_at == MONDAY_9 + 15 * MIN


def test_the_same_team_member_in_another_group_does_not_count(
        clock, always, desk, requester):
    network = TeamFactory(name="Network")
    member = UserFactory(username="netty", roles=["service_desk_agent"])
    MembershipFactory(team=network, user=member)
    make_agreement("Standard", always)
    incident = services.incident_create(actor=requester, title="Desk's ticket")
    services.incident_respond(actor=member, incident=incident, body="Hello")
    assert timer(incident, Metric.FIRST_RESPONSE).state == TimerState.RUNNING


def test_backfill_measures_existing_incidents_once(clock, always, desk, requester, agent):
    import io

    from django.core.management import call_command

    open_one = services.incident_create(actor=requester, title="Before the SLA")
    done = services.incident_create(actor=requester, title="Fixed before the SLA")
    clock.shift(90 * MIN)
    resolve(agent, done)
    make_agreement("Standard", always, first_response=60, resolution=60)
    out = io.StringIO()
    call_command("sla_backfill", stdout=out)
    assert "2 timers started" in out.getvalue()  # the open one's two targets
    assert timer(open_one, Metric.RESOLUTION).breached_at == MONDAY_9 + 60 * MIN
    assert timers_of(done) == []
    call_command("sla_backfill", "--all", stdout=out)
    assert timer(done, Metric.RESOLUTION).state == TimerState.MISSED
    call_command("sla_backfill", "--all", stdout=io.StringIO())  # nothing twice
    assert len(timers_of(open_one)) == 2


def test_a_start_condition_starts_the_clock_when_the_ticket_reaches_it(
        clock, always, desk, requester, agent):
    from sla.models import Target

    agreement = make_agreement("Network OLA", always, kind=AgreementKind.OLA,
                               first_response=None, resolution=120)
    Target.objects.filter(agreement=agreement).update(start_on=["in_progress"])
    incident = services.incident_create(actor=requester, title="Waits in the queue")
    assert [t for t in timers_of(incident) if t.kind == AgreementKind.OLA] == []
    clock.shift(45 * MIN)
    services.incident_transition(actor=agent, incident=incident,
                                 to_state=IncidentState.IN_PROGRESS)
    started = timer(incident, Metric.RESOLUTION, kind=AgreementKind.OLA)
    assert started.started_at == MONDAY_9 + 45 * MIN
    assert started.due_at == MONDAY_9 + (45 + 120) * MIN
