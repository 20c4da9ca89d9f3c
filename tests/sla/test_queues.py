"""The incident queues and SLAs: the "At risk" queue (past a first warning), sorting by
time to breach (keyset pages), and the queue's SLA column."""

import datetime as dt

from django.urls import reverse

from incidents import services
from incidents.models import HoldReason, IncidentState, ResolutionCode
from sla.engine import timers_tick
from tests.factories import UserFactory

from .conftest import MONDAY_9, make_agreement

MIN = dt.timedelta(minutes=1)
LIST = reverse("incidents:list")


def numbers(response):
    return [i.number for i in response.context["items"]]


def test_at_risk_lists_incidents_past_their_first_warning(clock, always, desk, requester,
                                                          agent, client):
    make_agreement("Fast", always, order=1, priorities=[1], first_response=None,
                   resolution=60)
    make_agreement("Slow", always, order=2, first_response=None, resolution=600)
    urgent = services.incident_create(actor=requester, title="Urgent", impact=1, urgency=1)
    calm = services.incident_create(actor=requester, title="Calm")
    clock.shift(31 * MIN)
    timers_tick()
    client.force_login(agent)
    at_risk = client.get(LIST, {"queue": "at_risk"})
    assert numbers(at_risk) == [urgent.number]
    html = at_risk.content.decode()
    assert '<span class="badge badge-amber">At risk</span> <time datetime="2026-01-05T10:00' \
        in html
    clock.shift(30 * MIN)
    timers_tick()
    html = client.get(LIST, {"queue": "open"}).content.decode()
    assert '<span class="badge badge-red">Breached</span>' in html
    assert calm.number in html
    # The API filters the same way (one FilterSet).
    api = client.get("/api/v1/incidents/", {"queue": "at_risk"}).json()["results"]
    assert [i["number"] for i in api] == [urgent.number]


def test_sorting_by_time_to_breach_pages_by_due_time(clock, always, desk, requester, agent,
                                                     client, monkeypatch):
    from incidents import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    make_agreement("Standard", always, first_response=None, resolution=600)
    made = []
    for n in range(5):
        made.append(services.incident_create(actor=requester, title=f"Ticket {n}"))
        clock.shift(-10 * MIN)  # each one opened earlier: due earlier
    paused = made[0]
    paused = services.incident_transition(actor=agent, incident=paused,
                                          to_state=IncidentState.IN_PROGRESS)
    services.incident_transition(actor=agent, incident=paused, to_state=IncidentState.ON_HOLD,
                                 hold_reason=HoldReason.AWAITING_CALLER)
    client.force_login(agent)
    first = client.get(LIST, {"queue": "open", "sort": "breach"})
    assert numbers(first) == [made[4].number, made[3].number]
    cursor = first.context["next_cursor"]
    second = client.get(LIST, {"queue": "open", "sort": "breach", "after": cursor})
    assert numbers(second) == [made[2].number, made[1].number]
    assert second.context["next_cursor"] is None  # the paused one has no due time
    assert "Only incidents whose SLA clock is running" in second.content.decode()
    bad = client.get(LIST, {"queue": "open", "sort": "breach", "after": "bm9wZQ"})
    assert bad.status_code == 400
    # An unknown sort falls back to the default order.
    assert client.get(LIST, {"queue": "open", "sort": "nonsense"}).status_code == 200


def test_the_summary_follows_pause_and_resolution(clock, always, desk, requester, agent):
    make_agreement("Standard", always, first_response=None, resolution=100)
    incident = services.incident_create(actor=requester, title="Summary")
    incident.refresh_from_db()
    assert incident.sla_due_at == MONDAY_9 + 100 * MIN and incident.sla_warned == 0
    clock.shift(60 * MIN)
    timers_tick()
    incident.refresh_from_db()
    assert incident.sla_warned == 50
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.IN_PROGRESS)
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.ON_HOLD,
                                            hold_reason=HoldReason.AWAITING_VENDOR)
    incident.refresh_from_db()
    assert incident.sla_due_at is None and incident.sla_warned == 50
    services.incident_transition(actor=agent, incident=incident,
                                 to_state=IncidentState.RESOLVED,
                                 resolution_code=ResolutionCode.choices[0][0],
                                 resolution_notes="Done")
    incident.refresh_from_db()
    assert incident.sla_due_at is None and incident.sla_warned == 0


def test_the_api_shows_an_incident_s_timers(clock, always, desk, requester, agent, api):
    make_agreement("Standard", always, first_response=60, resolution=480)
    incident = services.incident_create(actor=requester, title="API")
    clock.shift(30 * MIN)
    api.force_authenticate(agent)
    body = api.get(f"/api/v1/incidents/{incident.pk}/sla/").json()
    by_metric = {t["metric"]: t for t in body}
    assert by_metric["first_response"]["percent_used"] == 50.0
    assert by_metric["first_response"]["business_seconds_left"] == 30 * 60
    assert by_metric["resolution"]["due_at"].startswith("2026-01-05T17:00")
    assert by_metric["resolution"]["agreement_name"] == "Standard"
    detail = api.get(f"/api/v1/incidents/{incident.number}/").json()
    assert detail["sla_due_at"].startswith("2026-01-05T10:00") and detail["sla_warned"] == 0
    make_agreement("Desk OLA", always, kind="ola", first_response=None, resolution=120)
    services.incident_respond(actor=requester, incident=incident, body="Re-evaluate")
    assert {t["kind"] for t in api.get(f"/api/v1/incidents/{incident.pk}/sla/").json()} == {
        "sla", "ola"}
    api.force_authenticate(requester)  # the caller sees the SLA made with them only
    mine = api.get(f"/api/v1/incidents/{incident.pk}/sla/").json()
    assert {t["kind"] for t in mine} == {"sla"}
    stranger = UserFactory(username="stranger", roles=["requester"])
    api.force_authenticate(stranger)
    assert api.get(f"/api/v1/incidents/{incident.pk}/sla/").status_code == 404


def test_a_saved_view_keeps_the_sort_and_refuses_an_unknown_one(db, agent):
    import pytest

    from desk.saved_views import saved_view_create
    from itsm.errors import DomainError

    view = saved_view_create(actor=agent, list_key="incidents.incident", name="Breaching",
                             query="queue=open&sort=breach")
    assert "sort=breach" in view.query
    with pytest.raises(DomainError) as refused:
        saved_view_create(actor=agent, list_key="incidents.incident", name="Odd",
                          query="queue=open&sort=sideways")
    assert "sort: sideways is not one of priority, breach" in refused.value.fields["query"][0]
