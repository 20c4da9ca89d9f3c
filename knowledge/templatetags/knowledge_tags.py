"""``{% load knowledge_tags %}``: the state badges' colours, and
``{% incident_knowledge incident request.user %}``, the knowledge panel of the incident
page (search prefilled from its title, "Insert in reply", "Create article from this
incident" once it is resolved)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

TONES = {"draft": "blue", "review": "amber", "approved": "green", "published": "green",
         "retired": "grey"}


@register.filter
def kb_tone(state: str) -> str:
    return TONES.get(state, "grey")


@register.inclusion_tag("knowledge/_incident_panel.html")
def incident_knowledge(incident: Any, user: Any) -> dict[str, Any]:
    from incidents.models import IncidentState
    from knowledge.services import AUTHOR

    if not user.has_perm("accounts.access_desk"):
        return {"shown": False}
    return {"shown": True, "incident": incident, "query": incident.title,
            "can_create": user.has_perm(AUTHOR)
            and incident.state in (IncidentState.RESOLVED, IncidentState.CLOSED)}
