"""Template tags for major incidents: the panel and stakeholder-update section on the
desk's incident page, the portal banner of ongoing major incidents, and the updates on a
followed incident's portal page. Each computes its own context, so the pages that show
them only need one line."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context

from incidents import major_selectors
from incidents.models import Incident

register = template.Library()


def _panel(context: Context) -> dict[str, Any]:
    """The panel's context, built once per request and incident (two tags use it)."""
    from incidents.major_views import panel_context

    request = context["request"]
    incident = context["incident"]
    cache = request.__dict__.setdefault("_major_panel", {})
    if incident.pk not in cache:
        cache[incident.pk] = panel_context(request, incident, context)
    return {**cache[incident.pk], "request": request}


@register.inclusion_tag("incidents/_major_panel.html", takes_context=True)
def major_incident_panel(context: Context) -> dict[str, Any]:
    return _panel(context)


@register.inclusion_tag("incidents/_stakeholder_updates.html", takes_context=True)
def stakeholder_updates_section(context: Context) -> dict[str, Any]:
    return _panel(context)


@register.inclusion_tag("portal/_major_banner.html", takes_context=True)
def major_incident_banner(context: Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"banner": []}
    items = list(major_selectors.banner_incidents(user)[:major_selectors.BANNER_LIMIT])
    return {"banner": items, "request": request}


@register.inclusion_tag("portal/incidents/_stakeholder_updates.html")
def portal_stakeholder_updates(incident: Incident) -> dict[str, Any]:
    source, updates = major_selectors.updates_for(incident)
    return {"incident": incident, "source": source, "updates": updates}
