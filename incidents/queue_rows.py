"""The incident queue's table rows, written in Python.

Fifty rows of nine cells through the template engine were the largest part of the queue
page's time (bench/incidents.py): every variable, filter and tag is a node resolved per
row. Here the per-page facts (labels, team and people names, the link's shape) are looked
up once and each row is one f-string. Every value from the database is escaped."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from html import escape
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from tickets.models import Priority

from . import selectors
from .models import Incident, IncidentState
from .templatetags.incident_badges import escalation_badge, priority_badge, state_badge


def queue_rows(page: Iterable[Incident], team_names: dict[int, str],
               selected: Collection[int] = ()) -> SafeString:
    """The ``<tr>`` of each incident of a queue page; ``selected`` are ticked (a bulk
    action refused and shown again)."""
    page = list(page)
    if not page:
        return mark_safe(f'<tr><td colspan="10" class="muted">'
                         f'{escape(_("No incidents in this queue."))}</td></tr>')
    # get_FOO_display() rebuilds and hashes the lazily translated choices on every call.
    priorities = {value: escape(str(label)) for value, label in Priority.choices}
    states = {value: escape(str(label)) for value, label in IncidentState.choices}
    people = {pk: escape(name) for pk, name in selectors.person_names(
        pk for incident in page for pk in (incident.requester_id, incident.assignee_id)
    ).items()}
    groups = {pk: escape(name) for pk, name in team_names.items()}
    # One reverse() for the page: the number is the only part of the link that changes.
    before, after = map(escape, reverse("incidents:detail", kwargs={"key": "~"}).rsplit("~", 1))
    select = _("Select %(number)s")
    sub = '<span class="cell-sub">'
    major = f'{sub}{escape(_("Major"))}</span>'
    zone = timezone.get_current_timezone()  # as the template's date filter converts
    breached = f'<span class="badge badge-red">{escape(_("Breached"))}</span> '
    at_risk = f'<span class="badge badge-amber">{escape(_("At risk"))}</span> '
    rows = []
    for incident in page:
        number = escape(incident.number)
        updated = incident.updated_at.astimezone(zone)
        badge = escalation_badge(incident.escalation_level)
        label = select % {"number": incident.number}
        rows.append(
            "<tr>"
            f'<td class="select-cell"><input type="checkbox" name="incidents" '
            f'value="{incident.pk}" form="bulk-form" '
            f'aria-label="{escape(label)}"'
            f'{" checked" if incident.pk in selected else ""}></td>'
            f'<td><a href="{before}{number}{after}">{number}</a>'
            f'{major if incident.is_major else ""}'
            f'{f"{sub}{badge}</span>" if badge else ""}</td>'
            f"<td>{escape(incident.title)}</td>"
            f'<td><span class="badge {priority_badge(incident.priority)}" '
            f'title="{priorities.get(incident.priority, incident.priority)}">'
            f"P{incident.priority}</span></td>"
            f'<td><span class="badge {state_badge(incident.state)}">'
            f"{states.get(incident.state, escape(incident.state))}</span></td>"
            f"<td>{people.get(incident.requester_id, '')}</td>"
            f"<td>{groups.get(incident.assignment_group_id) or '—'}</td>"
            f"<td>{people.get(incident.assignee_id) or '—'}</td>"
            f"<td>{_sla_cell(incident, zone, breached, at_risk)}</td>"
            f'<td><time datetime="{updated.isoformat()}">'
            f'{escape(date_format(updated, "SHORT_DATETIME_FORMAT"))}</time></td>'
            "</tr>")
    return mark_safe("\n".join(rows))


def _sla_cell(incident: Incident, zone: Any, breached: str, at_risk: str) -> str:
    """The earliest due time of the incident's running SLA clocks, marked when a warning
    or the breach has been reached ('—' without a running clock)."""
    badge = breached if incident.sla_warned >= 100 else at_risk if incident.sla_warned else ""
    if incident.sla_due_at is None:
        return f"{badge}—" if badge else "—"
    due = incident.sla_due_at.astimezone(zone)
    return (f'{badge}<time datetime="{due.isoformat()}">'
            f'{escape(date_format(due, "SHORT_DATETIME_FORMAT"))}</time>')
