"""The conflicts panel of the desk's change page:
``{% load change_schedule %}{% conflicts_panel change request.user %}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.context import Context
from django.utils import timezone

from changes.conflicts import freeze_override_allowed
from changes.models import ChangeConflict, ConflictKind
from changes.schedule_forms import MOMENT_FORMAT, ConflictPreviewForm

register = template.Library()


def _local(value: Any) -> str:
    return timezone.localtime(value).strftime(MOMENT_FORMAT) if value else ""


@register.inclusion_tag("changes/schedule/_conflicts_panel.html", takes_context=True)
def conflicts_panel(context: Context, change: Any, user: Any) -> dict[str, Any]:
    conflicts = list(ChangeConflict.objects.filter(change=change).select_related(
        "ci", "other_change", "window"))
    freezes = [row for row in conflicts if row.kind == ConflictKind.FREEZE]
    overridden = bool(freezes) and freeze_override_allowed(change, {})
    preview = ConflictPreviewForm(initial={"planned_start": _local(change.planned_start),
                                           "planned_end": _local(change.planned_end)})
    return {
        "change": change, "conflicts": conflicts, "blocked": bool(freezes) and not overridden,
        "overridden": overridden, "preview_form": preview,
        "can_check": bool(user and user.has_perm("accounts.access_desk")),
        "checked_at": max((row.detected_at for row in conflicts), default=None),
        "csrf_token": context.get("csrf_token"), "request": context.get("request"),
    }
