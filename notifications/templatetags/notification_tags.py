"""The bell in the desk's and the portal's header: ``{% notification_bell "desk" %}``."""

from typing import Any

from django import template
from django.urls import reverse

from notifications.selectors import UNREAD_BADGE_CAP, unread_badge

register = template.Library()


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context: template.Context, layout: str = "desk") -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    count = unread_badge(user)
    return {
        "show": user is not None and user.is_authenticated,
        "count": count,
        "count_label": f"{UNREAD_BADGE_CAP}+" if count > UNREAD_BADGE_CAP else str(count),
        "layout": layout,
        "current": getattr(request, "path", "") == reverse("notifications:inbox"),
    }
