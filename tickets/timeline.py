"""A ticket's activity stream for people: each field change with the field's label and
readable values (names for related records, labels for choices, times in the viewer's
time zone). Every ticket page shows it through ``templates/incidents/_timeline.html``."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from audit.display import related_names

from .models import Activity, Ticket
from .services import ticket_activity_for


def ticket_timeline(ticket: Ticket, user: Any) -> list[Activity]:
    """The stream as ``user`` may see it; each entry gets ``shown_changes``, a list of
    (label, before, after)."""
    model = type(ticket)
    entries = ticket_activity_for(ticket, user)
    related = related_names(model, (entry.changes for entry in entries))
    for entry in entries:
        changes = entry.changes if isinstance(entry.changes, dict) else {}
        entry.shown_changes = [
            (field_label(model, name), _shown(model, name, pair[0], related),
             _shown(model, name, pair[1], related))
            for name, pair in changes.items() if isinstance(pair, list) and len(pair) == 2]
    return entries


def _field(model: type[models.Model], name: str) -> Any:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def field_label(model: type[models.Model], name: str) -> str:
    """The field's verbose name, or the name made readable."""
    field = _field(model, name)
    return str(getattr(field, "verbose_name", "") or name.replace("_", " "))


def _shown(model: type[models.Model], name: str, value: Any,
           related: dict[str, dict[int, str]]) -> str:
    if value in (None, ""):
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):  # a related object, as the audit stores it
        return str(value.get("repr", value.get("id", "")))
    if isinstance(value, list):  # a set of links (CIs, services, incidents)
        return ", ".join(_shown(model, name, item, related) for item in value) or "—"
    if isinstance(value, int) and value in related.get(name, {}):
        return related[name][value]
    field = _field(model, name)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        moment = parse_datetime(value)
        if isinstance(moment, datetime.datetime):
            return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    return str(value)
