"""A faster ``to_representation`` for read-only serializers on hot paths.

DRF builds a serializer's fields anew for every serializer it instantiates (for a model
serializer: introspecting the model and deep-copying the declared fields), and then, per
object, walks them with ``get_attribute``/``to_representation``. For a 40-field incident
that is about a third of an API create and of a list page's time. ``PlannedRepresentation``
works out once per class how to read each field (a plain attribute, a foreign key's id,
a method) and keeps the field objects whose ``to_representation`` is pure (they read no
parent or context) to format values. The output is the same as DRF's (the tests compare
them); a serializer with any field it does not know (nested serializers, hyperlinks,
dotted sources, properties) silently keeps DRF's own path. The schema is unaffected: it
is built from the declared fields, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from rest_framework import fields as drf_fields
from rest_framework import relations

# Fields whose to_representation depends only on the value (no parent, no context).
PURE_FIELDS = (
    drf_fields.BooleanField, drf_fields.CharField, drf_fields.ChoiceField,
    drf_fields.DateField, drf_fields.DateTimeField, drf_fields.DecimalField,
    drf_fields.FloatField, drf_fields.IntegerField, drf_fields.JSONField,
    drf_fields.ReadOnlyField, drf_fields.TimeField, drf_fields.UUIDField,
)

# One step of the plan: (output name, how, what): how is "method" (call the serializer's
# method named what), "pk" (read the attribute named what: a foreign key's id) or "value"
# (read the attribute named what[0] and format it with what[1], None staying None).
Step = tuple[str, str, Any]


def _model_field(model: Any, name: str) -> Any | None:
    try:
        return model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist: a property or method, which DRF may call
        return None


def _plan_for(serializer: Any) -> list[Step] | None:
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    if model is None:
        return None
    plan: list[Step] = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if isinstance(field, drf_fields.SerializerMethodField):
            plan.append((name, "method", field.method_name))
            continue
        if len(field.source_attrs) != 1:
            return None
        model_field = _model_field(model, field.source_attrs[0])
        if model_field is None or not model_field.concrete:
            return None
        source = model_field.name
        if isinstance(field, relations.PrimaryKeyRelatedField) and field.pk_field is None:
            if not model_field.many_to_one:
                return None
            plan.append((name, "pk", model_field.attname))
        elif isinstance(field, PURE_FIELDS) and not model_field.is_relation:
            plan.append((name, "value", (source, field.to_representation)))
        else:
            return None
    return plan


class PlannedRepresentation:
    """Mix into a read-only model serializer, before the DRF base class."""

    _plans: ClassVar[dict[type, list[Step] | None]] = {}
    _plans_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def _plan(cls, serializer: Any) -> list[Step] | None:
        try:
            return cls._plans[type(serializer)]
        except KeyError:
            plan = _plan_for(type(serializer)(context=serializer.context))
            with cls._plans_lock:
                cls._plans[type(serializer)] = plan
            return plan

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self._plan(self)
        if plan is None:
            return super().to_representation(instance)  # type: ignore[misc]
        data: dict[str, Any] = {}
        for name, how, what in plan:
            if how == "pk":
                data[name] = getattr(instance, what)
            elif how == "value":
                source, formatted = what
                value = getattr(instance, source)
                data[name] = None if value is None else formatted(value)
            else:
                method: Callable[[Any], Any] = getattr(self, what)
                data[name] = method(instance)
        return data
