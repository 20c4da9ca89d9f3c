"""htmx endpoints behind the incident forms' dependent drop-downs. (The caller, service
and CI pickers use the desk's and the CMDB's lookups: ``desk.pickers``.)"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from desk.access import DeskAccessMixin

from .forms import subcategory_choices


def render_options(request: HttpRequest, choices: list[tuple[Any, Any]]) -> HttpResponse:
    """``<option>``s (in ``<optgroup>``s where the choices are grouped) for a drop-down
    that htmx refills."""
    groups: list[tuple[Any, list[tuple[Any, Any]]]] = []
    for value, label in choices:
        if isinstance(label, list | tuple):
            groups.append((value, list(label)))
        else:
            groups.append((None, [(value, label)]))
    return render(request, "incidents/_options.html", {"groups": groups})


class SubcategoryOptionsView(DeskAccessMixin, View):
    """The subcategory options for the chosen category (all of them, grouped, for none).
    The service still checks the pair when the form is sent."""

    def get(self, request: HttpRequest) -> HttpResponse:
        value = request.GET.get("category", "")
        category = int(value) if value.isdigit() else None
        return render_options(request, subcategory_choices(category))
