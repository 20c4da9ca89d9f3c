"""The queue's bulk actions: the view hands the form's values to ``incidents.bulk`` and
shows what happened to each incident. A batch refused as a whole (nothing selected, too
many, a missing value) shows the queue again with the errors and the ticks kept."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from accounts.models import Team
from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import bulk
from .bulk_forms import ASSIGN, TRANSITION, BulkForm, assignee_choices
from .picker_views import render_options
from .views import render_queue


class IncidentBulkView(DeskAccessMixin, View):
    def post(self, request: HttpRequest) -> HttpResponse:
        form = BulkForm(request.POST)
        back = QueryDict(request.POST.get("return_query", ""))
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["action"] == ASSIGN:
                    result = bulk.incidents_bulk_assign(
                        actor=request.user, incident_ids=data["incidents"], group=data["group"],
                        assignee=data["assignee"])
                elif data["action"] == TRANSITION:
                    result = bulk.incidents_bulk_transition(
                        actor=request.user, incident_ids=data["incidents"],
                        to_state=data["to_state"], note=data["note"], **form.values())
                else:
                    result = bulk.incidents_bulk_link_parent(
                        actor=request.user, incident_ids=data["incidents"],
                        parent=data["parent"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                back_url = reverse("incidents:list")
                if back:
                    back_url = f"{back_url}?{back.urlencode()}"
                return render(request, "incidents/bulk_result.html", {
                    "result": result, "form": form, "back_url": back_url})
        # The full queue page again (the form posts without htmx), ticks and errors kept.
        return render_queue(request, back, bulk_form=form, status=400, partial=False)


class GroupMembersView(DeskAccessMixin, View):
    """The assignee options for the chosen group (htmx, on changing the group)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        value = request.GET.get("group", "")
        group = Team.objects.filter(pk=value).first() if value.isdigit() else None
        return render_options(request, assignee_choices(group))
