"""``{% approvals_panel change user %}``: the approvals panel on the change page (rounds,
votes, the user's own decision buttons, override and "provide information")."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context

register = template.Library()


@register.inclusion_tag("changes/approvals/_panel.html", takes_context=True)
def approvals_panel(context: Context, change: Any, user: Any) -> dict[str, Any]:
    from changes.approval_views import panel_context

    return {**panel_context(change, user), "request": context.get("request"),
            "csrf_token": context.get("csrf_token")}
