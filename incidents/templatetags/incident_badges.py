"""The incident badges: ``{{ priority|priority_badge }}`` and ``{{ state|state_badge }}``
give the colour class, ``{{ level|escalation_badge }}`` the whole escalation badge. One
table for every page (the queue's rows, written in Python by incidents/queue_rows.py, use
the same functions); filters rather than included templates, so the queue's fifty rows do
not include templates each."""

from __future__ import annotations

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

register = template.Library()

PRIORITY_BADGES = {1: "badge-red", 2: "badge-amber", 3: "badge-blue"}
STATE_BADGES = {"new": "badge-blue", "on_hold": "badge-amber", "resolved": "badge-green",
                "closed": "badge-green", "cancelled": "badge-grey"}


@register.filter
def priority_badge(priority: int) -> str:
    return PRIORITY_BADGES.get(priority, "badge-grey")


@register.filter
def state_badge(state: str) -> str:
    return STATE_BADGES.get(state, "badge-blue")


@register.filter
def escalation_badge(level: int | None) -> SafeString:
    """The badge of a hierarchical escalation level; nothing below level 1."""
    if not level or level < 1:
        return mark_safe("")
    colour, title, text = (
        ("badge-red", _("Escalated: the incident managers were told"), _("Escalated L2"))
        if level >= 2 else
        ("badge-amber", _("Escalated: the group manager was told"), _("Escalated L1")))
    return mark_safe(f'<span class="badge {colour}" title="{escape(title)}">'
                     f"{escape(text)}</span>")
