"""The queue's rows, written in Python (incidents/queue_rows.py): every cell, escaping,
the major and escalation marks, ticked rows and the empty queue."""

from django.urls import reverse

from incidents import services
from incidents.escalation import incident_escalate
from incidents.models import IncidentState
from incidents.queue_rows import queue_rows
from incidents.selectors import incident_list
from incidents.templatetags.incident_badges import state_badge
from tests.factories import TeamFactory, UserFactory
from tickets.models import Priority


def test_a_row_shows_every_cell_escaped(db, agent, requester):
    desk = TeamFactory(name="Desk <&> team", is_service_desk=True)
    caller = UserFactory(username="cc", first_name="Zoë", last_name="O'Neil <x>")
    incident = services.incident_create(actor=agent, requester=caller,
                                        title='Printer <script>alert("x")</script>',
                                        impact=1, urgency=1)
    row = str(queue_rows(incident_list().filter(pk=incident.pk), {desk.pk: desk.name}))
    link = reverse("incidents:detail", kwargs={"key": incident.number})
    assert f'<a href="{link}">{incident.number}</a>' in row
    assert "Printer &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in row
    assert "<script>" not in row
    assert "Zoë O&#x27;Neil &lt;x&gt;" in row
    assert "Desk &lt;&amp;&gt; team" in row
    label = dict(Priority.choices)[incident.priority]
    assert f'<span class="badge badge-red" title="{label}">P1</span>' in row
    state = IncidentState(incident.state)
    assert f'<span class="badge {state_badge(state)}">{state.label}</span>' in row
    assert f'aria-label="Select {incident.number}"' in row and " checked" not in row
    assert "<td>—</td>" in row  # no assignee
    assert '<time datetime="' in row


def test_major_escalated_and_ticked_rows(db, agent, requester):
    TeamFactory(name="Service Desk", is_service_desk=True,
                manager=UserFactory(username="gm", roles=["resolver"]))
    incident = services.incident_create(actor=requester, title="Mail down")
    incident_escalate(actor=agent, incident=incident, reason="VIP")
    items = list(incident_list().filter(pk=incident.pk))
    items[0].is_major = True  # as a declared major incident reads
    row = str(queue_rows(items, {}, selected={incident.pk}))
    assert "Escalated L1" in row and 'class="badge badge-amber"' in row
    assert '<span class="cell-sub">Major</span>' in row
    assert " checked>" in row


def test_an_empty_queue_says_so(db):
    assert "No incidents in this queue." in queue_rows([], {})
