"""SLA reports: % met per agreement, team and priority over a period, the breach list and
its facts, the CSV downloads, the API, and their refusals of a bad period. Timers come
from incidents driven through the services with the clock and the tick."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services
from incidents.metrics import Period
from incidents.models import HoldReason, IncidentState, ResolutionCode
from sla import reports
from sla.engine import timers_tick
from sla.models import AgreementKind, Metric, Timer, TimerState
from tests.factories import MembershipFactory, TeamFactory, UserFactory

from .conftest import MONDAY_9, make_agreement

MIN = dt.timedelta(minutes=1)
UTC = dt.UTC
MONDAY = Period(dt.date(2026, 1, 5), dt.date(2026, 1, 5))
PAGE = reverse("sla_reports:index")
SUMMARY_CSV = reverse("sla_reports:summary_csv")
BREACHES_CSV = reverse("sla_reports:breaches_csv")
SUMMARY_API = "/api/v1/sla/reports/summary/"
BREACHES_API = "/api/v1/sla/reports/breaches/"
MONDAY_QUERY = {"from": "2026-01-05", "to": "2026-01-05"}
INJECTED = "=HYPERLINK(\"http://evil\")"


def at(hour, minute=0):
    return MONDAY_9.replace(hour=hour, minute=minute)


def resolve(agent, incident):
    return services.incident_transition(
        actor=agent, incident=incident, to_state=IncidentState.RESOLVED,
        resolution_code=ResolutionCode.choices[0][0], resolution_notes="Fixed.")


@pytest.fixture
def network(db):
    return TeamFactory(name="Network")


@pytest.fixture
def scenario(clock, always, desk, network, requester, agent):
    """Monday, every incident opened at 09:00, routed to the service desk.

    Agreements (24×7): Critical (SLA, P1): first response 10 min, resolution 30 min;
    Standard (SLA, any priority): resolution 60 min; Desk OLA (OLA): resolution 240 min.

    - met: resolved 09:30 (Standard met, OLA met);
    - missed: resolved 10:30 (Standard missed, breach 10:00; OLA met);
    - open: never resolved, breached 10:00 and moved to Network at 10:30 (Standard
      breached and open; OLA running, not breached: not counted);
    - cancelled: cancelled at 09:05 (every timer cancelled: not counted);
    - paused: on hold for the caller 09:10–09:40, resolved 11:00 (Standard missed,
      breach 10:30, 30 min paused; OLA met);
    - p1: raised to P1 at 09:10 (Standard cancelled, Critical from 09:00), moved to
      Network 09:20, first reply from Network 09:50 (Critical first response missed,
      breach 09:10; resolution breached 09:30 and open; OLA running: not counted).

    Ticks at 09:35, 09:50 and 11:00; the report is read at 11:00."""
    make_agreement("Critical", always, order=1, priorities=[1], first_response=10,
                   resolution=30)
    make_agreement("Standard", always, order=2, first_response=None, resolution=60)
    make_agreement("Desk OLA", always, kind=AgreementKind.OLA, first_response=None,
                   resolution=240)
    responder = UserFactory(username="net1", roles=["service_desk_agent"])
    MembershipFactory(team=network, user=responder)
    made = {name: services.incident_create(actor=requester, title=title)
            for name, title in (("met", "Printer"), ("missed", "Mail"), ("open", INJECTED),
                                ("cancelled", "Duplicate"), ("paused", "Laptop"),
                                ("p1", "Payroll down"))}
    clock.move_to(at(9, 5))
    services.incident_transition(actor=agent, incident=made["cancelled"],
                                 to_state=IncidentState.CANCELLED)
    clock.move_to(at(9, 10))
    paused = services.incident_transition(actor=agent, incident=made["paused"],
                                          to_state=IncidentState.IN_PROGRESS)
    paused = services.incident_transition(actor=agent, incident=paused,
                                          to_state=IncidentState.ON_HOLD,
                                          hold_reason=HoldReason.AWAITING_CALLER)
    p1 = services.incident_update(actor=agent, incident=made["p1"], impact=1, urgency=1)
    clock.move_to(at(9, 20))
    p1 = services.incident_assign(actor=agent, incident=p1, group=network)
    clock.move_to(at(9, 30))
    resolve(agent, made["met"])
    clock.move_to(at(9, 35))
    timers_tick()
    clock.move_to(at(9, 40))
    paused = services.incident_transition(actor=agent, incident=paused,
                                          to_state=IncidentState.IN_PROGRESS)
    clock.move_to(at(9, 50))
    timers_tick()
    services.incident_respond(actor=responder, incident=p1, body="Looking")
    clock.move_to(at(10, 30))
    resolve(agent, made["missed"])
    services.incident_assign(actor=agent, incident=made["open"], group=network)
    clock.move_to(at(11, 0))
    timers_tick()
    resolve(agent, paused)
    return made


def counts(row):
    return (row.counts.met, row.counts.missed, row.counts.breached_open,
            row.counts.percent_met)


def by_label(rows):
    return {row.label: row for row in rows}


# --- The summary ------------------------------------------------------------------------

def test_the_summary_counts_each_outcome_once_and_leaves_out_cancelled_and_running(
        scenario):
    summary = reports.sla_summary(period=MONDAY, tz=UTC)
    assert counts(summary.overall) == (4, 3, 2, 44.4)
    agreements = by_label(summary.by_agreement)
    assert [row.label for row in summary.by_agreement] == ["Critical", "Standard",
                                                           "Desk OLA"]  # SLAs, then OLAs
    assert counts(agreements["Standard"]) == (1, 2, 1, 25.0)
    assert counts(agreements["Critical"]) == (0, 1, 1, 0.0)
    assert counts(agreements["Desk OLA"]) == (3, 0, 0, 100.0)
    assert agreements["Desk OLA"].kind == AgreementKind.OLA
    critical = {metric: (c.met, c.missed, c.breached_open)
                for metric, _label, c in agreements["Critical"].metric_rows()}
    assert critical == {Metric.FIRST_RESPONSE: (0, 1, 0), Metric.RESOLUTION: (0, 0, 1)}
    # Cancelled timers exist (the cancelled incident's, Standard's replaced one).
    assert Timer.objects.filter(state=TimerState.CANCELLED).count() == 3


def test_the_summary_groups_by_the_tickets_team_and_priority_now(scenario):
    summary = reports.sla_summary(period=MONDAY, tz=UTC)
    teams = by_label(summary.by_team)
    assert [row.label for row in summary.by_team] == ["Network", "Service Desk"]
    assert counts(teams["Service Desk"]) == (4, 2, 0, 66.7)
    assert counts(teams["Network"]) == (0, 1, 2, 0.0)
    assert [row.key for row in summary.by_priority] == [1, 4]
    p1, p4 = summary.by_priority
    assert counts(p1) == (0, 1, 1, 0.0)
    assert counts(p4) == (4, 2, 1, 57.1)


def test_a_period_counts_met_when_stopped_and_not_met_when_breached(scenario, clock):
    """Tuesday holds nothing of Monday's, and Sunday neither: the period is days."""
    tuesday = Period(dt.date(2026, 1, 6), dt.date(2026, 1, 6))
    sunday = Period(dt.date(2026, 1, 4), dt.date(2026, 1, 4))
    assert reports.sla_summary(period=tuesday, tz=UTC).overall.counts.total == 0
    assert reports.sla_summary(period=sunday, tz=UTC).overall.counts.total == 0
    # The open breach resolved on Tuesday stays a Monday breach, now missed; so does its
    # OLA timer, due Monday 13:00 (no tick ran since: the stop records the breach).
    clock.move_to(dt.datetime(2026, 1, 6, 9, tzinfo=UTC))
    agent = UserFactory(username="agent1")
    resolve(agent, scenario["open"])
    monday = reports.sla_summary(period=MONDAY, tz=UTC)
    assert counts(monday.overall) == (4, 5, 1, 40.0)
    assert counts(by_label(monday.by_agreement)["Standard"]) == (1, 3, 0, 25.0)
    assert reports.sla_summary(period=tuesday, tz=UTC).overall.counts.total == 0


def test_days_are_counted_in_the_time_zone_asked_for(scenario):
    """In Tokyo (UTC+9) Monday 09:00–11:00 UTC is Monday 18:00–20:00: the same day."""
    import zoneinfo

    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    assert reports.sla_summary(period=MONDAY, tz=tokyo).overall.counts.total == 9
    # In Honolulu (UTC-10) Sunday ends at 10:00 UTC: what was known before it.
    hawaii = zoneinfo.ZoneInfo("Pacific/Honolulu")
    sunday = Period(dt.date(2026, 1, 4), dt.date(2026, 1, 4))
    assert counts(reports.sla_summary(period=sunday, tz=hawaii).overall) == (2, 1, 1, 50.0)
    assert counts(reports.sla_summary(period=MONDAY, tz=hawaii).overall) == (2, 2, 1, 40.0)


def _make_timers(count, requester, agent, clock):
    """``count`` incidents: a third met, a third missed, a third breached and open."""
    for n in range(count):
        clock.move_to(at(9))
        incident = services.incident_create(actor=requester, title=f"Bulk {n}")
        if n % 3 == 0:
            clock.move_to(at(9, 30))
            resolve(agent, incident)
        elif n % 3 == 1:
            clock.move_to(at(10, 30))
            resolve(agent, incident)
    clock.move_to(at(11))
    timers_tick()


@pytest.mark.parametrize("count", [5, 30])
def test_the_summary_is_one_query_whatever_the_number_of_timers(
        count, clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=60)
    _make_timers(count, requester, agent, clock)
    reports.ticket_content_type()  # the content type cache, warm as in any process
    with CaptureQueriesContext(connection) as queries:
        summary = reports.sla_summary(period=MONDAY, tz=UTC)
    assert summary.overall.counts.total == count
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        rows = reports.breach_rows(reports.breaches(period=MONDAY, tz=UTC))
    assert len(rows) == count - (count + 2) // 3
    assert len(queries) == 4  # timers, incidents, group changes, warnings


# --- The breach list --------------------------------------------------------------------

def test_the_breach_list_gives_the_facts_of_each_breach(scenario):
    rows = reports.breach_rows(reports.breaches(period=MONDAY, tz=UTC), now=at(11))
    found = {(row.number, row.agreement, row.metric): row for row in rows}
    p1, open_, missed, paused = (scenario[name].number
                                 for name in ("p1", "open", "missed", "paused"))
    assert [(row.number, row.metric) for row in rows] == [
        (p1, Metric.FIRST_RESPONSE), (p1, Metric.RESOLUTION), (missed, Metric.RESOLUTION),
        (open_, Metric.RESOLUTION), (paused, Metric.RESOLUTION)]  # by breach, then id

    first = found[(p1, "Critical", Metric.FIRST_RESPONSE)]
    assert first.outcome == "missed" and first.due_at == at(9, 10)
    assert first.stopped_at == at(9, 50) and first.late == 40 * MIN
    assert first.re_evaluations == 0  # Standard had no first response target
    assert first.reassignments == 1 and first.team_at_breach == "Service Desk"
    assert first.team_now == "Network" and first.priority == 1

    fix = found[(p1, "Critical", Metric.RESOLUTION)]
    assert fix.outcome == "open" and fix.stopped_at is None
    assert fix.due_at == at(9, 30) and fix.late == 90 * MIN
    assert fix.re_evaluations == 1 and "Critical" in fix.last_re_evaluation
    assert fix.team_at_breach == "Network"
    assert fix.warnings == []  # 09:35: every threshold at once, only the breach acts

    still_open = found[(open_, "Standard", Metric.RESOLUTION)]
    assert still_open.outcome == "open" and still_open.late == 60 * MIN
    assert still_open.team_at_breach == "Service Desk" and still_open.team_now == "Network"
    assert still_open.reassignments == 1 and still_open.warnings == [50, 75]
    assert still_open.title == INJECTED

    late = found[(paused, "Standard", Metric.RESOLUTION)]
    assert late.outcome == "missed" and late.due_at == at(10, 30)
    assert late.stopped_at == at(11) and late.late == 30 * MIN
    assert late.paused == 30 * MIN and late.pauses == 1 and late.reassignments == 0
    assert late.warnings == []  # paused at 09:35 and 09:50; all reached by 11:00
    assert late.cause == ("With Service Desk at the breach; Paused once, 30 min; "
                          "No warning acted before the breach")

    assert found[(missed, "Standard", Metric.RESOLUTION)].cause == (
        "With Service Desk at the breach; Warned at 50 %, 75 %")
    assert fix.cause == ("With Network at the breach; Reassigned once; Target changed once "
                         "(Now covered by Critical); No warning acted before the breach")


def test_an_escalated_ticket_says_so(scenario, agent):
    from incidents.escalation import incident_escalate

    incident_escalate(actor=agent, incident=scenario["open"], reason="Customer chased")
    row = next(row for row in reports.breach_rows(reports.breaches(period=MONDAY, tz=UTC))
               if row.number == scenario["open"].number)
    assert row.escalation_level == 2  # Network has no manager: the incident manager
    assert "; Escalation: Incident manager told;" in row.cause


# --- The desk page and the CSV ----------------------------------------------------------

def test_the_page_shows_the_tables_and_the_breaches(scenario, client, agent):
    client.force_login(agent)
    response = client.get(PAGE, MONDAY_QUERY)
    assert response.status_code == 200
    page = response.content.decode()
    assert "44.4 %" in page and "25.0 %" in page and "57.1 %" in page
    assert 'data-grouping="agreement"' in page and 'data-grouping="team"' in page
    assert "4 of 9 timers" in page
    assert response.context["page"].paginator.count == 5
    assert [b.number for b in response.context["breaches"]][:1] == [scenario["p1"].number]
    assert "=HYPERLINK(&quot;http://evil&quot;)" in page  # escaped, as text
    assert "Now covered by Critical" in page
    assert f'href="{SUMMARY_CSV}?from=2026-01-05&amp;to=2026-01-05"' in page


def test_the_page_defaults_to_the_last_30_days_and_offers_quick_ranges(clock, client, agent):
    client.force_login(agent)
    response = client.get(PAGE)
    assert response.status_code == 200
    period = response.context["period"]
    assert (period.start, period.end) == (dt.date(2025, 12, 7), dt.date(2026, 1, 5))
    assert "No SLA outcome in this period" in response.content.decode()
    assert [q["days"] for q in response.context["quick_ranges"]] == [7, 30, 90]
    assert [q["current"] for q in response.context["quick_ranges"]] == [False, True, False]


def test_the_breach_list_is_paginated(clock, always, desk, requester, agent, client,
                                      monkeypatch):
    from sla import report_views

    monkeypatch.setattr(report_views, "BREACHES_PER_PAGE", 2)
    make_agreement("Standard", always, first_response=None, resolution=60)
    _make_timers(9, requester, agent, clock)  # 6 breaches
    client.force_login(agent)
    second = client.get(PAGE, {**MONDAY_QUERY, "page": 2})
    assert second.context["page"].paginator.num_pages == 3
    assert len(second.context["breaches"]) == 2
    assert "page=3" in second.content.decode() and "from=2026-01-05" in second.content.decode()


def test_a_bad_period_on_the_page_is_refused_at_the_field(client, agent):
    client.force_login(agent)
    response = client.get(PAGE, {"from": "2026-02-01", "to": "2026-01-01"})
    assert response.status_code == 400
    assert response.context["form"].errors["from"] == ["Must be on or before “to”."]
    too_long = client.get(SUMMARY_CSV, {"from": "2024-01-01", "to": "2026-01-01"})
    assert too_long.status_code == 400
    assert "at most 366 days" in too_long.content.decode().lower()


def test_only_the_desk_sees_the_reports(client, requester, api):
    assert client.get(PAGE).status_code == 302  # to sign in
    client.force_login(requester)
    assert client.get(PAGE).status_code == 403
    assert client.get(BREACHES_CSV).status_code == 403
    api.force_authenticate(requester)
    assert api.get(SUMMARY_API).status_code == 403


def read_csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_summary_csv_has_a_row_per_group_and_metric(scenario, client, agent):
    client.force_login(agent)
    response = client.get(SUMMARY_CSV, MONDAY_QUERY)
    assert response["Content-Disposition"] == (
        'attachment; filename="sla-summary-2026-01-05-to-2026-01-05.csv"')
    rows = read_csv(response)
    overall = rows[0]
    assert (overall["grouping"], overall["metric"], overall["met"], overall["missed"],
            overall["breached_open"], overall["total"], overall["percent_met"]) == (
        "overall", "all", "4", "3", "2", "9", "44.4")
    critical = [(r["metric"], r["met"], r["missed"], r["breached_open"]) for r in rows
                if r["grouping"] == "agreement" and r["label"] == "Critical"]
    assert critical == [("all", "0", "1", "1"), ("first_response", "0", "1", "0"),
                        ("resolution", "0", "0", "1")]
    assert {r["label"] for r in rows if r["grouping"] == "team"} == {"Network",
                                                                     "Service Desk"}
    assert [r["key"] for r in rows if r["grouping"] == "priority" and r["metric"] == "all"
            ] == ["1", "4"]


def test_the_breach_csv_lists_every_breach_with_text_cells_defused(scenario, client,
                                                                      agent):
    client.force_login(agent)
    rows = read_csv(client.get(BREACHES_CSV, MONDAY_QUERY))
    assert len(rows) == 5
    still_open = next(r for r in rows if r["ticket"] == scenario["open"].number)
    assert still_open["title"] == "'" + INJECTED  # a spreadsheet shows it, never runs it
    assert (still_open["outcome"], still_open["due"], still_open["stopped"],
            still_open["late_minutes"], still_open["team_at_breach"],
            still_open["team_now"], still_open["warnings"]) == (
        "open", "2026-01-05T10:00:00+00:00", "", "60", "Service Desk", "Network", "50 75")
    paused = next(r for r in rows if r["ticket"] == scenario["paused"].number)
    assert (paused["paused_minutes"], paused["pauses"], paused["stopped"]) == (
        "30", "1", "2026-01-05T11:00:00+00:00")
    assert paused["cause"].startswith("With Service Desk at the breach; Paused once")


def test_the_breach_csv_reads_in_batches(clock, always, desk, requester, agent, client,
                                         monkeypatch):
    from sla import report_csv

    monkeypatch.setattr(report_csv, "CSV_BATCH_SIZE", 2)
    make_agreement("Standard", always, first_response=None, resolution=60)
    _make_timers(9, requester, agent, clock)
    client.force_login(agent)
    rows = read_csv(client.get(BREACHES_CSV, MONDAY_QUERY))
    expected = [t.pk for t in reports.breaches(period=MONDAY, tz=UTC)]
    assert len(rows) == len(expected) == 6
    assert len({r["ticket"] for r in rows}) == 6


def test_text_cells_starting_a_formula_are_defused():
    from sla.report_csv import text

    assert [text(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "Fine", "", None)] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "Fine", "", ""]


# --- The API ----------------------------------------------------------------------------

def test_the_api_summary_has_the_numbers_of_the_page(scenario, client, agent, api):
    client.force_login(agent)
    page = client.get(PAGE, MONDAY_QUERY).context["summary"]
    api.force_authenticate(agent)
    response = api.get(SUMMARY_API, MONDAY_QUERY)
    assert response.status_code == 200
    data = response.json()
    assert (data["from"], data["to"], data["time_zone"]) == ("2026-01-05", "2026-01-05",
                                                              "UTC")

    def figures(row):
        return (row["label"], row["met"], row["missed"], row["breached_open"],
                row["total"], row["percent_met"])

    assert figures(data["overall"]) == ("All agreements", 4, 3, 2, 9, 44.4)
    for grouping, _label, rows in page.groupings():
        assert [figures(row) for row in data[f"by_{grouping}"]] == [
            (row.label, row.counts.met, row.counts.missed, row.counts.breached_open,
             row.counts.total, row.counts.percent_met) for row in rows]
    critical = next(r for r in data["by_agreement"] if r["label"] == "Critical")
    assert critical["kind"] == "sla" and [m["metric"] for m in critical["metrics"]] == [
        "first_response", "resolution"]


def test_the_api_breaches_page_through_every_breach(scenario, api, agent):
    api.force_authenticate(agent)
    first = api.get(BREACHES_API, {**MONDAY_QUERY, "page_size": 3}).json()
    assert len(first["results"]) == 3 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    rows = first["results"] + second["results"]
    assert [r["ticket"] for r in rows][:2] == [scenario["p1"].number] * 2
    fix = rows[1]
    assert (fix["metric"], fix["outcome"], fix["late_seconds"], fix["target_changes"],
            fix["team_at_breach"], fix["agreement"], fix["kind"]) == (
        "resolution", "open", 90 * 60, 1, "Network", "Critical", "sla")
    paused = next(r for r in rows if r["ticket"] == scenario["paused"].number)
    assert (paused["paused_seconds"], paused["pauses"], paused["stopped_at"]) == (
        30 * 60, 1, "2026-01-05T11:00:00Z")


@pytest.mark.parametrize(("query", "field"), [
    ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
    ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
])
def test_the_api_refuses_a_bad_period_naming_the_field(query, field, api, agent):
    api.force_authenticate(agent)
    for url in (SUMMARY_API, BREACHES_API):
        response = api.get(url, query)
        assert response.status_code == 400
        assert field in response.json()["fields"]


def test_the_api_summary_is_a_fixed_number_of_queries(clock, always, desk, requester, agent,
                                                      api):
    make_agreement("Standard", always, first_response=None, resolution=60)
    api.force_authenticate(agent)
    sizes = []
    for _round in range(2):
        _make_timers(6, requester, agent, clock)
        with CaptureQueriesContext(connection) as queries:
            data = api.get(SUMMARY_API, MONDAY_QUERY).json()
        sizes.append((data["overall"]["total"], len(queries)))
    assert sizes[0][0] == 6 and sizes[1][0] == 12
    assert sizes[0][1] == sizes[1][1]


def test_the_page_is_a_fixed_number_of_queries(clock, always, desk, requester, agent,
                                               client):
    make_agreement("Standard", always, first_response=None, resolution=60)
    client.force_login(agent)
    sizes = []
    for _round in range(2):
        _make_timers(6, requester, agent, clock)
        client.get(PAGE)  # caches warm, as in a running process (permissions…)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(PAGE, MONDAY_QUERY)
        sizes.append((response.context["summary"].overall.counts.total,
                      len(response.context["breaches"]), len(queries)))
    assert sizes[0][:2] == (6, 4) and sizes[1][:2] == (12, 8)
    assert sizes[0][2] == sizes[1][2] == 8  # the user, summary, count, breaches, their
    # tickets, group changes, warnings; the notification badge


def test_the_schema_describes_both_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/sla/reports/summary/" in schema["paths"]
    breaches = schema["paths"]["/api/v1/sla/reports/breaches/"]["get"]
    assert {p["name"] for p in breaches["parameters"]} >= {"from", "to", "cursor",
                                                           "page_size"}
