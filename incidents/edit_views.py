"""Editing an incident's details from its detail page, through ``incident_update``.

With htmx the form replaces the description card in place and comes back there with its
errors; without JavaScript it is a page of its own. Closed and cancelled incidents show no
form, and a POST to one is refused without writing."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import services
from .forms import IncidentEditForm
from .models import Incident, IncidentState
from .views import _incident_or_404

# The service refuses edits in these states; the page then offers no form.
NOT_EDITABLE = (IncidentState.CLOSED, IncidentState.CANCELLED)


def is_editable(incident: Incident) -> bool:
    return incident.state not in NOT_EDITABLE


def _render(request: HttpRequest, incident: Incident, form: IncidentEditForm | None,
            status: int = 200, **extra: Any) -> HttpResponse:
    template = "incidents/_edit_form.html" if request.htmx else "incidents/edit.html"
    if form is not None and request.htmx:
        form.fields["title"].widget.attrs["autofocus"] = True  # focus moves into the form
    return render(request, template, {"incident": incident, "form": form, **extra},
                  status=status)


class IncidentEditView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        if not is_editable(incident):
            return _render(request, incident, None)
        return _render(request, incident, IncidentEditForm(incident=incident))

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        if not is_editable(incident):
            return _render(request, incident, None, status=400)
        form = IncidentEditForm(request.POST, incident=incident)
        if form.is_valid():
            changes = form.changes()
            try:
                if changes:
                    services.incident_update(actor=request.user, incident=incident, **changes)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                if changes:
                    messages.success(request, _("%(number)s updated.") % {
                        "number": incident.number})
                else:
                    messages.info(request, _("Nothing was changed."))
                url = reverse("incidents:detail", kwargs={"key": incident.number})
                if request.htmx:  # the whole page shows the new values: load it
                    return HttpResponse(headers={"HX-Redirect": url})
                return redirect(url)
        return _render(request, incident, form, status=400)
