"""Form widgets shared by the desk's pages."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django import forms
from django.utils.choices import BaseChoiceIterator
from django.utils.safestring import SafeString, mark_safe


class QuickSelect(forms.Select):
    """A drop-down rendered in Python, with the markup of Django's template (groups
    included). The template-based rendering includes a template per option: the incident
    queue's drop-downs (a few hundred options) took a third of the page's time that way
    (bench/incidents.py)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        if self.allow_multiple_selected:
            final["multiple"] = True
        values = set(self.format_value(value))
        several = self.allow_multiple_selected
        found = False  # a single select marks its first match only, as Django does
        parts: list[str] = []

        def option(option_value: Any, label: Any) -> str:
            nonlocal found
            shown = "" if option_value is None else str(option_value)
            selected = (several or not found) and shown in values
            found |= selected
            return (f'<option value="{html.escape(shown)}"{" selected" if selected else ""}>'
                    f"{_text(label)}</option>")

        for option_value, label in self.choices:
            if isinstance(label, list | tuple):
                inner = "".join(option(v, sub_label) for v, sub_label in label)
                parts.append(f'<optgroup label="{_text(option_value)}">{inner}</optgroup>')
            else:
                parts.append(option(option_value, label))
        # Every value, label and attribute is escaped.
        return mark_safe(f'<select name="{html.escape(name)}"{_attributes(final)}>'
                         f"{''.join(parts)}</select>")


def _text(value: Any) -> str:
    """conditional_escape() without its check for lazy arguments, which cost as much as
    the escaping on a few hundred options."""
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


def _attributes(attrs: dict[str, Any]) -> str:
    """As django/forms/widgets/attrs.html writes them: in order, True as a bare name,
    False left out."""
    return "".join(
        f" {name}" if value is True else f' {name}="{html.escape(str(value))}"'
        for name, value in attrs.items() if value is not False)


class LazyChoices(BaseChoiceIterator):
    """Choices read on first use and kept: a form built but not shown (the assignment form
    of a closed incident) reads nothing, and a shown one reads once (a callable given as
    choices would be called again on every pass, and Select passes twice)."""

    def __init__(self, read: Callable[[], Iterable[tuple[Any, Any]]]) -> None:
        self.read = read
        self.choices: list[tuple[Any, Any]] | None = None

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self.choices is None:
            self.choices = list(self.read())
        return iter(self.choices)
