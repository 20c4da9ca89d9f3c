"""``{% sla_panel ticket %}``: the ticket's service levels on its desk page."""

from __future__ import annotations

from typing import Any

from django import template

from sla.selectors import ticket_sla

register = template.Library()


@register.inclusion_tag("sla/_panel.html", takes_context=True)
def sla_panel(context: template.Context, ticket: Any, refresh_url: str = "") -> dict[str, Any]:
    return {**ticket_sla(ticket), "ticket": ticket, "refresh_url": refresh_url,
            "request": context.get("request")}
