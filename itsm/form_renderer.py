"""The form renderer (settings.FORM_RENDERER): Django's, with the one-line widget
templates written in Python.

Every ``<input>`` and ``<textarea>`` went through three templates (the widget's, input.html
and attrs.html); on the incident queue, whose filter bar and bulk form have a dozen fields,
that was a measurable part of the page (bench/incidents.py). The markup here is what
Django's own templates in django/forms/templates/django/forms/widgets/ write, character for
character (tests/platform/test_form_renderer.py compares them). Other templates, and any
project override of these, go through the template engine as before."""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape

WIDGETS = "django/forms/widgets/"
INPUTS = frozenset(
    f"{WIDGETS}{name}.html" for name in (
        "input", "checkbox", "color", "date", "datetime", "email", "file", "hidden",
        "number", "password", "search", "tel", "text", "time", "url"))
TEXTAREA = f"{WIDGETS}textarea.html"


def _attrs(attrs: dict[str, Any]) -> str:
    """As attrs.html: in order, True as a bare name, False left out."""
    return "".join(
        f" {conditional_escape(name)}" if value is True
        else f' {conditional_escape(name)}="{conditional_escape(value)}"'
        for name, value in attrs.items() if value is not False)


class FormRenderer(DjangoTemplates):
    def render(self, template_name: str, context: dict[str, Any],
               request: Any = None) -> str:
        widget = context.get("widget")
        if widget is not None and template_name in INPUTS and not self._overridden:
            value = widget["value"]
            shown = "" if value is None else f' value="{conditional_escape(value)}"'
            return (f'<input type="{conditional_escape(widget["type"])}" '
                    f'name="{conditional_escape(widget["name"])}"{shown}'
                    f'{_attrs(widget["attrs"])}>')
        if widget is not None and template_name == TEXTAREA and not self._overridden:
            value = widget["value"]
            return (f'<textarea name="{conditional_escape(widget["name"])}"'
                    f'{_attrs(widget["attrs"])}>\n'
                    f'{conditional_escape(value) if value else ""}</textarea>')
        return super().render(template_name, context, request)

    @property
    def _overridden(self) -> bool:
        """Whether the project's templates replace Django's widget templates (then they
        win, as they would without this renderer). Looked up once."""
        found = self.__dict__.get("_overridden_found")
        if found is None:
            origin = self.get_template(f"{WIDGETS}input.html").origin.name
            found = "django/forms/templates" not in origin.replace("\\", "/")
            self.__dict__["_overridden_found"] = found
        return found
