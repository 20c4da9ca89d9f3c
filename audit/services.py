"""Writing the audit log. Every service that changes something calls :func:`audit_record`."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .context import current_actor
from .models import AuditAction, AuditEntry


def audit_value(value: Any) -> Any:
    """A JSON-safe, readable form of a field value."""
    if isinstance(value, models.Model):
        return {"id": value.pk, "repr": str(value)[:200]}
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [audit_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): audit_value(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "url"):  # a FieldFile
        return value.name or None
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values to compare before and after an edit (foreign keys by id)."""
    result = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if isinstance(field, models.ForeignKey):
            result[name] = getattr(instance, field.attname)
        else:
            result[name] = getattr(instance, name)
    return result


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for the fields whose value changed."""
    return {
        key: [audit_value(before.get(key)), audit_value(after.get(key))]
        for key in after
        if before.get(key) != after.get(key)
    }


def audit_record(
    *,
    action: str | AuditAction,
    target: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    message: str = "",
    ip_address: str | None = None,
) -> AuditEntry:
    actor = current_actor()
    return AuditEntry.objects.create(
        actor_id=actor.user_id,
        actor_label=actor.label[:200],
        source=actor.source,
        action=action,
        content_type=ContentType.objects.get_for_model(target) if target is not None else None,
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        changes=dict(changes or {}),
        message=message[:500],
        ip_address=ip_address,
    )
