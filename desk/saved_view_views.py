"""Saving and deleting views of a desk list (the bar in ``desk/_saved_views.html``).

A list page puts ``saved_views_context(...)`` in its context and includes the bar. Saving
posts here: with htmx a refusal comes back as the bar with the errors at their fields;
without JavaScript as a small page with the same form."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from .access import DeskAccessMixin
from .forms import SavedViewForm
from .models import SavedView
from .saved_views import (
    normalise_query,
    saved_view_create,
    saved_view_delete,
    saved_view_list,
    saved_views_visible,
)


def saved_views_context(request: HttpRequest, list_key: str, query: str,
                        form: SavedViewForm | None = None) -> dict[str, Any]:
    """What the saved-views bar needs: the views the person sees, the one the current
    filters match, and the form to save the current filters."""
    query = normalise_query(query)
    views = list(saved_views_visible(request.user, list_key))
    return {
        "saved_views": views,
        "current_view": next((view for view in views if view.query == query), None),
        "save_form": form or SavedViewForm(initial={"list_key": list_key, "query": query}),
        "saved_views_list": saved_view_list(list_key),
    }


class SavedViewCreateView(DeskAccessMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = SavedViewForm(request.POST)
        list_key = request.POST.get("list_key", "")
        try:
            spec = saved_view_list(list_key)
        except DomainError as error:
            return render(request, "errors/400.html", {"message": error.message}, status=400)
        if form.is_valid():
            try:
                view = saved_view_create(
                    actor=request.user, list_key=list_key, name=form.cleaned_data["name"],
                    query=form.cleaned_data["query"], shared=form.cleaned_data["shared"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
                url = spec.url(view.query)
                if request.htmx:  # the whole list shows the view: load the page
                    return HttpResponse(headers={"HX-Redirect": url})
                return redirect(url)
        context = saved_views_context(request, list_key, request.POST.get("query", ""), form)
        template = "desk/_saved_views.html" if request.htmx else "desk/saved_view_form.html"
        return render(request, template, context, status=400)


class SavedViewDeleteView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        view = get_object_or_404(SavedView, pk=pk)
        try:
            saved_view_delete(actor=request.user, view=view)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
        try:
            return redirect(saved_view_list(view.list_key).url())
        except DomainError:  # a list that no longer exists
            return redirect("desk:home")
