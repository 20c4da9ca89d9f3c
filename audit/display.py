"""Showing audit changes to people. Diffs store related records by id (so they stay
comparable and cheap to write); this turns those ids back into names for display."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models


def related_names(model: type[models.Model],
                  changes: Iterable[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """``{field: {id: name}}`` for every foreign-key value in ``changes`` (a list of
    ``{field: [before, after]}``), one query per related model. People are shown by their
    display name."""
    wanted: dict[str, set[int]] = {}
    for change in changes:
        for name, values in (change if isinstance(change, dict) else {}).items():
            if isinstance(values, list):
                wanted.setdefault(name, set()).update(
                    v for v in values if isinstance(v, int) and not isinstance(v, bool))
    names: dict[str, dict[int, str]] = {}
    for name, ids in wanted.items():
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if not ids or not field.many_to_one or field.related_model is None:
            continue
        related = field.related_model._default_manager.all()
        if hasattr(field.related_model, "profile"):
            related = related.select_related("profile")
        names[name] = {pk: _name(obj) for pk, obj in related.in_bulk(ids).items()}
    return names


def _name(obj: models.Model) -> str:
    try:
        profile = obj.profile  # type: ignore[attr-defined]
    except (AttributeError, models.ObjectDoesNotExist):
        return str(obj)
    return profile.name
