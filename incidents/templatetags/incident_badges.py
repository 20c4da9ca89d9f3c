"""The colour of the priority and state badges: ``{{ priority|priority_badge }}``. One
table for every page; a filter rather than an included template, so the queue's fifty
rows do not include two templates each."""

from __future__ import annotations

from django import template

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
