"""``{% incident_changes incident %}``: the changes linked to an incident and the ones its
review found caused it, on the incident's desk page."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Exists, OuterRef, Q

from changes.models import Change

register = template.Library()


@register.inclusion_tag("changes/_incident_changes.html")
def incident_changes(incident: Any) -> dict[str, Any]:
    # One query for both lists: the page's query count is pinned.
    caused_by = Change.caused_incidents.through.objects.filter(incident_id=incident.pk)
    rows = list(Change.objects.filter(
        Q(incidents=incident) | Q(pk__in=caused_by.values("change_id"))).annotate(
        caused=Exists(caused_by.filter(change_id=OuterRef("pk")))).distinct().only(
        "id", "number", "title", "state", "type").order_by("-id"))
    return {"linked": [c for c in rows if not c.caused],
            "caused": [c for c in rows if c.caused]}
