"""``{% load remediation_links %}{% ticket_runs ticket request.user %}``: the remediation
runs of an incident or a change on its desk page, with their state and counts, and a
"Run an action" button for those who may start runs."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()
SHOWN = 10


@register.inclusion_tag("remediation/_ticket_runs.html")
def ticket_runs(ticket: Any, user: Any) -> dict[str, Any]:
    from incidents.models import Incident
    from remediation.access import can_view
    from remediation.run_views import RUN_TONE, run_rows
    from remediation.runs import RUN

    if not can_view(user):
        return {"shown": False}
    key = "incident" if isinstance(ticket, Incident) else "change"
    rows = list(run_rows(ticket.remediation_runs.all()).order_by("-created_at", "-id")[:SHOWN])
    for run in rows:
        run.tone = RUN_TONE[run.state]
    return {"shown": True, "runs": rows, "key": key, "ticket": ticket,
            "can_run": user.has_perm(RUN), "more": len(rows) == SHOWN}
