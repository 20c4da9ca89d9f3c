"""The SLA panel on the desk's incident page: each target with its progress, due time in
the viewer's time zone, why it applies, pauses and replaced timers; and its own URL,
which the page polls."""

import datetime as dt

from django.urls import reverse

from incidents import services
from incidents.models import HoldReason, IncidentState

from .conftest import make_agreement

MIN = dt.timedelta(minutes=1)


def page(client, incident):
    return client.get(reverse("incidents:detail", kwargs={"key": incident.number}))


def test_the_panel_shows_each_target_in_the_viewer_s_time_zone(
        clock, always, desk, requester, agent, client):
    agent.profile.time_zone = "Europe/Paris"
    agent.profile.save()
    make_agreement("Standard", always, first_response=60, resolution=480)
    incident = services.incident_create(actor=requester, title="Printer")
    clock.shift(45 * MIN)
    client.force_login(agent)
    html = page(client, incident).content.decode()
    assert 'id="sla"' in html and "Service levels" in html
    assert "First response" in html and "Resolution" in html
    # First response due at 10:00 UTC, shown at 11:00 in Paris.
    assert 'datetime="2026-01-05T11:00:00+01:00"' in html
    assert "75% · 15 min of business time left" in html
    assert 'class="sla-target sla-danger"' in html
    assert "Standard covers every incident" in html
    assert f'hx-get="/desk/incidents/{incident.number}/sla/"' in html


def test_pauses_and_a_replaced_timer_are_listed(clock, always, desk, requester, agent,
                                                 client):
    make_agreement("Critical", always, order=1, priorities=[1], first_response=None,
                   resolution=240)
    make_agreement("Standard", always, order=2, first_response=None, resolution=480)
    incident = services.incident_create(actor=requester, title="Payroll")
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.IN_PROGRESS)
    incident = services.incident_transition(actor=agent, incident=incident,
                                            to_state=IncidentState.ON_HOLD,
                                            hold_reason=HoldReason.AWAITING_CALLER)
    clock.shift(30 * MIN)
    services.incident_update(actor=agent, incident=incident, impact=1, urgency=1)
    client.force_login(agent)
    html = client.get(reverse("incidents:sla", kwargs={"key": incident.number})).content.decode()
    assert "<html" not in html and 'id="sla"' in html
    assert "Paused" in html and "not known while paused" in html
    assert "On hold: Awaiting caller" in html
    assert "1 replaced timer" in html and "Now covered by Critical" in html
    assert "1 pause" in html


def test_without_an_agreement_the_panel_says_so(clock, desk, requester, agent, client):
    incident = services.incident_create(actor=requester, title="No SLA")
    client.force_login(agent)
    assert "No service level agreement applies to this ticket." in page(
        client, incident).content.decode()


def test_the_panel_is_for_the_desk_only(clock, always, desk, requester, client):
    make_agreement("Standard", always)
    incident = services.incident_create(actor=requester, title="Mine")
    client.force_login(requester)
    response = client.get(reverse("incidents:sla", kwargs={"key": incident.number}))
    assert response.status_code in (302, 403, 404)
    assert b"sla-target" not in response.content
