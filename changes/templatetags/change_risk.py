"""The risk and review panels of the desk's change page: ``{% load change_risk %}``, then
``{% risk_panel change request.user %}`` and ``{% review_panel change request.user %}``.
Each computes its own context; a form refused by the panel's view comes back in the
page's context (``risk_form``, ``review_form``) and is shown as it is."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context

from changes.models import Change

register = template.Library()


def _page(context: Context) -> dict[str, Any]:
    return {"request": context.get("request"), "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("changes/risk/_panel.html", takes_context=True)
def risk_panel(context: Context, change: Change, user: Any) -> dict[str, Any]:
    from changes.risk_views import risk_panel_context

    return {**risk_panel_context(change, user, context.get("risk_form")), **_page(context)}


@register.inclusion_tag("changes/review/_panel.html", takes_context=True)
def review_panel(context: Context, change: Change, user: Any) -> dict[str, Any]:
    from changes.risk_views import review_panel_context

    return {**review_panel_context(change, user, context.get("review_form")),
            **_page(context)}
