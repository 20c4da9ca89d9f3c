"""Incident metrics: MTTA and MTTR (mean and median) per priority, team and category,
computed in the database from known timestamps; the desk page and the API, and their
refusals of bad input."""

import datetime
import zoneinfo

import pytest
from django.urls import reverse

from incidents import metrics, services
from incidents.metrics import Period, duration_text, incident_metrics
from incidents.models import Category, Incident
from tests.factories import TeamFactory

UTC = datetime.UTC
MARCH = Period(datetime.date(2026, 3, 1), datetime.date(2026, 3, 31))
API = "/api/v1/incidents/metrics/"
PAGE = reverse("incidents:metrics")
MINUTES = datetime.timedelta(minutes=1)
HOURS = datetime.timedelta(hours=1)


def at(day, hour=9, minute=0):
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def network(db):
    return TeamFactory(name="Network")


@pytest.fixture
def hardware(db):
    return Category.objects.create(name="Hardware")


@pytest.fixture
def make(agent, requester, desk_team):
    """An incident with the given timestamps and grouping fields, set by update()."""

    def make(created, acknowledged=None, resolved=None, **fields):
        incident = services.incident_create(actor=agent, title="Metric", requester=requester)
        fields.setdefault("assignment_group", None)  # routing chose the service desk
        Incident.objects.filter(pk=incident.pk).update(
            created_at=created, acknowledged_at=acknowledged, resolved_at=resolved, **fields)
        return incident

    return make


@pytest.fixture
def march(make, network, hardware):
    """P1: three opened in March (acknowledged after 10, 20 and 60 minutes; resolved after
    1 h and 3 h, the third still open), one opened in February and resolved in March
    (5 h), one opened in March and resolved in April (2 h). P3: one opened, never
    acknowledged. Outside March entirely: one, which must not count anywhere."""
    make(at(2), at(2, 9, 10), at(2, 10), priority=1, assignment_group=network,
         category=hardware)
    make(at(3), at(3, 9, 20), at(3, 12), priority=1, assignment_group=network)
    make(at(4), at(4, 10), None, priority=1, category=hardware)
    make(datetime.datetime(2026, 2, 28, 23, tzinfo=UTC), datetime.datetime(
        2026, 2, 28, 23, 30, tzinfo=UTC), at(1, 4), priority=1, assignment_group=network)
    make(at(31, 23), at(31, 23, 40), datetime.datetime(2026, 4, 1, 1, tzinfo=UTC), priority=1)
    make(at(10), None, None, priority=3, category=hardware)
    make(datetime.datetime(2026, 2, 1, tzinfo=UTC), datetime.datetime(2026, 2, 1, 1,
         tzinfo=UTC), datetime.datetime(2026, 2, 2, tzinfo=UTC), priority=1)


def by_key(rows):
    return {row.key: row for row in rows}


# --- The figures ------------------------------------------------------------------------

def test_mtta_and_mttr_by_priority(march):
    rows = by_key(incident_metrics(period=MARCH, by="priority", tz=UTC))
    assert set(rows) == {1, 3}
    p1 = rows[1]
    # Opened in March: 10, 20, 60 and 40 minutes to acknowledge.
    assert (p1.opened, p1.acknowledged) == (4, 4)
    assert p1.mtta == 32.5 * MINUTES
    assert p1.mtta_median == 30 * MINUTES  # mean of the middle two: 20 and 40
    # Resolved in March: 1 h, 3 h and the one opened in February (5 h).
    assert p1.resolved == 3
    assert p1.mttr == 3 * HOURS
    assert p1.mttr_median == 3 * HOURS
    p3 = rows[3]
    assert (p3.opened, p3.acknowledged, p3.resolved) == (1, 0, 0)
    assert p3.mtta is None and p3.mttr is None and p3.mttr_median is None
    assert p1.label == "P1 – Critical"


def test_an_odd_count_has_the_middle_value_as_median(make):
    for minutes in (5, 7, 90):
        make(at(5), at(5) + minutes * MINUTES, at(5) + minutes * HOURS, priority=2)
    row = incident_metrics(period=MARCH, by="priority", tz=UTC)[0]
    assert row.mtta_median == 7 * MINUTES and row.mttr_median == 7 * HOURS
    assert row.mtta == 34 * MINUTES


def test_by_team_and_by_category_with_a_row_for_the_rest(march, network, hardware):
    teams = by_key(incident_metrics(period=MARCH, by="team", tz=UTC))
    assert teams[network.pk].label == "Network"
    assert (teams[network.pk].opened, teams[network.pk].resolved) == (2, 3)
    assert teams[network.pk].mttr == 3 * HOURS  # 1 h, 3 h, 5 h
    assert teams[None].label == "No team"
    assert (teams[None].opened, teams[None].resolved) == (3, 0)
    categories = incident_metrics(period=MARCH, by="category", tz=UTC)
    assert [row.label for row in categories] == ["Hardware", "No category"]  # rest last
    hardware_row = by_key(categories)[hardware.pk]
    assert (hardware_row.opened, hardware_row.acknowledged, hardware_row.resolved) == (3, 2, 1)
    assert hardware_row.mtta == 35 * MINUTES


def test_the_overall_row_covers_every_incident_of_the_period(march):
    overall = metrics.incident_metrics_overall(period=MARCH, tz=UTC)
    assert (overall.opened, overall.acknowledged, overall.resolved) == (5, 4, 3)
    assert overall.mttr == 3 * HOURS


def test_days_are_counted_in_the_time_zone_given(make):
    # 23:30 UTC on 31 March is already 1 April in Berlin.
    make(at(31, 23, 30), at(31, 23, 45), None, priority=4)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert incident_metrics(period=MARCH, by="priority", tz=UTC)[0].opened == 1
    assert incident_metrics(period=MARCH, by="priority", tz=berlin) == []
    april = Period(datetime.date(2026, 4, 1), datetime.date(2026, 4, 1))
    assert incident_metrics(period=april, by="priority", tz=berlin)[0].opened == 1


def test_one_query_per_grouping(march, django_assert_num_queries):
    for by in ("priority", "team", "category"):
        with django_assert_num_queries(1):
            incident_metrics(period=MARCH, by=by, tz=UTC)


def test_an_empty_period_has_no_rows(db):
    assert incident_metrics(period=MARCH, by="team", tz=UTC) == []
    overall = metrics.incident_metrics_overall(period=MARCH, tz=UTC)
    assert (overall.opened, overall.resolved, overall.mttr) == (0, 0, None)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"),
    (3600 + 5 * 60, "1 h 05 min"), (26 * 3600, "1 d 2 h")])
def test_durations_for_people(seconds, text):
    value = None if seconds is None else datetime.timedelta(seconds=seconds)
    assert duration_text(value) == text


# --- Period rules -------------------------------------------------------------------------

def test_period_defaults_and_limits(db):
    today = datetime.date.today()
    assert metrics.metrics_period(None, None).days == 30
    assert metrics.metrics_period(None, None).end == today
    assert metrics.metrics_period(None, datetime.date(2026, 3, 31)).start == datetime.date(
        2026, 3, 2)
    assert metrics.metrics_period(datetime.date(2025, 3, 31),
                                  datetime.date(2026, 3, 31)).days == 366
    with pytest.raises(metrics.DomainError) as error:
        metrics.metrics_period(datetime.date(2025, 3, 30), datetime.date(2026, 3, 31))
    assert "from" in error.value.fields
    with pytest.raises(metrics.DomainError) as error:
        metrics.metrics_period(datetime.date(2026, 4, 1), datetime.date(2026, 3, 31))
    assert "from" in error.value.fields


# --- API ----------------------------------------------------------------------------------

def test_api_gives_seconds_and_readable_durations(api, agent, march):
    api.force_authenticate(agent)
    response = api.get(API, {"from": "2026-03-01", "to": "2026-03-31"})
    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"], body["by"], body["time_zone"]) == (
        "2026-03-01", "2026-03-31", "priority", "UTC")
    p1 = body["results"][0]
    assert p1["key"] == 1 and p1["label"] == "P1 – Critical"
    assert (p1["opened"], p1["acknowledged"], p1["resolved"]) == (4, 4, 3)
    assert (p1["mtta_seconds"], p1["mtta"]) == (1950, "32 min")
    assert (p1["mtta_median_seconds"], p1["mttr_seconds"], p1["mttr"]) == (
        1800, 10800, "3 h 00 min")
    assert body["results"][1]["mtta_seconds"] is None and body["results"][1]["mtta"] == "—"
    assert body["overall"]["opened"] == 5
    by_team = api.get(API, {"from": "2026-03-01", "to": "2026-03-31", "by": "team"}).json()
    assert [row["label"] for row in by_team["results"]] == ["Network", "No team"]


def test_api_defaults_to_the_last_30_days_by_priority(api, agent, make):
    api.force_authenticate(agent)
    make(datetime.datetime.now(UTC) - 2 * HOURS, datetime.datetime.now(UTC) - HOURS, None,
         priority=2)
    body = api.get(API).json()
    today = datetime.datetime.now(UTC).date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - datetime.timedelta(days=29)).isoformat()
    assert body["by"] == "priority"
    assert body["results"][0]["mtta"] == "1 h 00 min"


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2026-03-31", "to": "2026-03-01"}, "from"),
    ({"from": "2025-01-01", "to": "2026-03-01"}, "from"),
    ({"by": "colour"}, "by"),
])
def test_api_refuses_bad_input_naming_the_field(api, agent, params, field):
    api.force_authenticate(agent)
    response = api.get(API, params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert field in body["fields"]


def test_api_is_for_the_desk(api, requester):
    assert api.get(API).status_code in (401, 403)
    api.force_authenticate(requester)
    assert api.get(API).status_code == 403


def test_the_metrics_route_is_not_taken_for_an_incident_id(api, agent, march):
    api.force_authenticate(agent)
    assert "results" in api.get(API).json()  # not a 404 "no incident 'metrics'"


# --- Desk page ------------------------------------------------------------------------------

@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def test_page_shows_three_tables_with_the_figures(agent_client, march, network):
    response = agent_client.get(PAGE, {"from": "2026-03-01", "to": "2026-03-31"})
    assert response.status_code == 200
    tables = {table["by"]: table for table in response.context["tables"]}
    assert list(tables) == ["priority", "team", "category"]
    p1 = tables["priority"]["rows"][0]
    assert (p1["mtta"], p1["mtta_median"], p1["mttr"]) == ("32 min", "30 min", "3 h 00 min")
    assert p1["bar"] == 100.0  # the longest MTTR of its table
    assert response.context["overall"]["row"].opened == 5
    content = response.content.decode()
    for heading in ("By priority", "By team", "By category"):
        assert heading in content
    assert "Network" in content and "No category" in content
    assert 'style="width: 100.0%"' in content


def test_page_defaults_to_the_last_30_days_and_offers_quick_ranges(agent_client, db):
    response = agent_client.get(PAGE)
    assert response.status_code == 200
    assert response.context["period"].days == 30
    quick = {q["days"]: q for q in response.context["quick_ranges"]}
    assert set(quick) == {7, 30, 90} and quick[30]["current"] and not quick[7]["current"]
    assert "No incidents in this period" in response.content.decode()
    seven = agent_client.get(PAGE, {"from": quick[7]["from"].isoformat(),
                                    "to": quick[7]["to"].isoformat()})
    assert seven.context["period"].days == 7
    assert {q["days"]: q["current"] for q in seven.context["quick_ranges"]}[7]


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "2026-03-31", "to": "2026-03-01"}, "from"),
    ({"from": "2024-01-01", "to": "2026-03-01"}, "from"),
    ({"from": "2026-03-01", "to": "soon"}, "to"),
])
def test_page_shows_bad_dates_at_the_field(agent_client, params, field):
    response = agent_client.get(PAGE, params)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert response.context["tables"] == []
    assert "field-error" in response.content.decode()


def test_page_is_for_the_desk(client, requester):
    client.force_login(requester)
    assert client.get(PAGE).status_code == 403


def test_the_queue_page_links_to_the_metrics(agent_client, desk_team):
    assert PAGE in agent_client.get(reverse("incidents:list")).content.decode()
