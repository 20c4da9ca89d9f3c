"""The availability section of a business service's CMDB page (one tag, so the CMDB
template only includes it) and a duration filter."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.translation import gettext as _

from .. import selectors
from ..services import MANAGE, percent_text

register = template.Library()


@register.inclusion_tag("availability/_service_section.html", takes_context=True)
def service_availability(context: template.Context, ci: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    target = selectors.target_of(ci)
    return {
        "ci": ci,
        "months": selectors.service_months(ci, target=target),
        "target": target,
        "outages": selectors.service_outages(ci),
        "maintenance": selectors.upcoming_maintenance(ci),
        "can_manage": bool(user is not None and user.has_perm(MANAGE)),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def duration(value: datetime.timedelta | None) -> str:
    """``2 h 05 min``; ``0 min`` for none; seconds only under a minute."""
    if not value:
        return _("0 min")
    seconds = int(value.total_seconds())
    if seconds < 60:
        return _("%(s)d s") % {"s": seconds}
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(_("%(d)d d") % {"d": days})
    if hours or days:
        parts.append(_("%(h)d h") % {"h": hours})
    parts.append(_("%(m)02d min") % {"m": minutes} if parts else _("%(m)d min") % {"m": minutes})
    return " ".join(parts)


@register.filter
def percent(value: Decimal | None) -> str:
    """A target without trailing zeros: ``99.5``, ``100``."""
    return percent_text(value) or ""
