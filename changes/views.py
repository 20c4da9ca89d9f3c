"""Desk pages of the change record: the list (queues, filters, keyset pages), the form
for normal and emergency changes, the detail page (fields, lifecycle buttons with the
values some moves take, activity and composer, the other helpers' panels) and editing.
Views read through selectors and write through services; refusals are shown at the field
they name, and a guard's refusal names the field to fix next to the buttons."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from accounts.models import Team
from desk.access import DeskAccessMixin
from desk.picker_views import ticket_options
from desk.saved_view_views import saved_views_context
from incidents.bulk_forms import assignee_choices
from incidents.models import Incident
from incidents.picker_views import render_options
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error
from itsm.widgets import QuickSelect
from tickets.services import ticket_comment
from tickets.timeline import field_label, ticket_timeline

from . import selectors, services
from .filtersets import QUEUES, SORTS, ChangeFilterSet
from .forms import ChangeEditForm, ChangeForm, CommentForm, TransitionForm, incident_token
from .models import (
    Change,
    ChangeCategory,
    ChangeState,
    ChangeType,
)
from .workflow import CHANGE_WORKFLOW, change_moves

SAVED_VIEW_LIST = "changes.change"  # the list's key among the desk's saved views
FILTER_BAR = ("q", "state", "type", "risk", "category", "assignment_group",
              "planned_from", "planned_to")
SINGLE_CHOICE_FILTERS = ("state", "type", "risk")


# --- List -------------------------------------------------------------------------------

class FilterSelect(QuickSelect, forms.SelectMultiple):
    """A one-value drop-down for a filter that accepts several; empty means no filter."""

    allow_multiple_selected = False

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return [v for v in super().value_from_datadict(data, files, name) if v]


def _default_queue(request: HttpRequest) -> str:
    """Change managers oversee every change; implementers start from their groups'."""
    if request.user.has_perm("changes.manage_changes"):
        return "open"
    return "my_groups" if request.user.team_memberships.exists() else "open"


def _default_sort(queue: str) -> str:
    return "planned" if queue == "upcoming" else "created"


def _list_params(request: HttpRequest) -> tuple[QueryDict, str | None]:
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        kept = [value for value in values if value.strip()]
        if kept:
            params.setlist(key, kept)
    after = params.pop("after", [None])[-1]
    if params.get("queue") not in QUEUES:
        params["queue"] = _default_queue(request)
    if params.get("sort") not in SORTS:
        params.pop("sort", None)
    return params, after


def _compact(filterset: ChangeFilterSet, teams: list[tuple[int, str, bool]]) -> None:
    """The filter bar's drop-downs from values already read (no query per option)."""
    form = filterset.form
    for name in SINGLE_CHOICE_FILTERS:
        field = form.fields[name]
        field.widget = FilterSelect(choices=[("", _("Any")), *field.choices])
    group = form.fields["assignment_group"]
    group.widget = QuickSelect(choices=[("", _("Any")),
                                        *((pk, name) for pk, name, _active in teams)])
    category = form.fields["category"]
    category.widget = QuickSelect(choices=[("", _("Any")), *ChangeCategory.objects.filter(
        is_active=True).values_list("pk", "name")])
    for name in ("planned_from", "planned_to"):
        form.fields[name].widget = forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                       format="%Y-%m-%dT%H:%M")
    form.fields["q"].help_text = ""
    form.fields["q"].widget.input_type = "search"
    form.fields["q"].widget.attrs["placeholder"] = _("Number or title")


class ChangeListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        params, after = _list_params(request)
        teams = list(Team.objects.values_list("pk", "name", "is_active"))
        filterset = ChangeFilterSet(params, queryset=selectors.changes(), request=request)
        _compact(filterset, teams)
        queue = params["queue"]
        sort = params.get("sort") or _default_sort(queue)
        status = 200
        items: list[Change] = []
        next_cursor = None
        if filterset.is_valid():
            order, newest_first = SORTS[sort]
            try:
                items, next_cursor = selectors.change_page(
                    filterset.qs, order=order, newest_first=newest_first, after=after)
            except ValueError:
                status = 400
        else:
            status = 400
        query = params.urlencode()
        kept = params.copy()
        kept.pop("queue", None)
        context = {
            "filter": filterset,
            "filter_fields": [filterset.form[name] for name in FILTER_BAR],
            "queue": queue,
            "queues": [(key, label, key == queue) for key, label in QUEUES.items()],
            "sort": sort,
            "filters_query": kept.urlencode(),
            "items": items,
            "rows": selectors.change_rows(items, {pk: name for pk, name, _a in teams}),
            "next_cursor": next_cursor,
            "is_first": not after,
            "query": query,
            **saved_views_context(request, SAVED_VIEW_LIST, query),
        }
        template = "changes/_list_body.html" if request.htmx else "changes/list.html"
        return render(request, template, context, status=status)


# --- Lookups behind the forms ------------------------------------------------------------

class IncidentLookupView(DeskAccessMixin, View):
    """Suggestions for the linked-incidents picker: by number, or part of the title
    (newest first)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return ticket_options(request, Incident.objects.only("number", "title", "state"),
                              "INC", lambda i: (incident_token(i), i.get_state_display()))


class GroupMembersView(DeskAccessMixin, View):
    """The implementer options for the chosen assignment group (htmx)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        value = request.GET.get("assignment_group", "")
        group = Team.objects.filter(pk=value).first() if value.isdigit() else None
        if group is None:
            return render_options(request, [("", "—")])
        return render_options(request, assignee_choices(group))


# --- Create -----------------------------------------------------------------------------

class ChangeCreateView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        initial: dict[str, Any] = {"requester": request.user}
        if request.GET.get("type") in (ChangeType.NORMAL, ChangeType.EMERGENCY):
            initial["type"] = request.GET["type"]
        incident = request.GET.get("incident", "")
        if incident.isdigit():  # "Raise a change" from an incident
            initial["incidents"] = list(Incident.objects.filter(pk=incident))
        return render(request, "changes/form.html", {"form": ChangeForm(initial=initial)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ChangeForm(request.POST)
        if form.is_valid():
            try:
                change = services.change_create(actor=request.user, **form.service_values())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s created.") % {
                    "number": change.number})
                return redirect("changes:detail", pk=change.pk)
        return render(request, "changes/form.html", {"form": form}, status=400)


# --- Detail -----------------------------------------------------------------------------

def change_or_404(pk: int) -> Change:
    change = selectors.change_detail().filter(pk=pk).first()
    if change is None:
        raise Http404(_("No such change."))
    return change


def _transitions(change: Change, user: Any, form: TransitionForm | None) -> list[dict]:
    items = []
    for transition in change_moves(change, user):
        target = transition.target
        if form is not None and form.data.get("to_state") == target:
            item_form = form
        else:
            item_form = TransitionForm(initial={"to_state": target,
                                                "result": change.result or ""})
        item_form.auto_id = f"id_{target}_%s"  # several of these forms on one page
        names = TransitionForm.fields_for(change, target)
        items.append({"transition": transition, "form": item_form,
                      "value_fields": [item_form[name] for name in names],
                      "open": item_form is form,
                      "danger": target == ChangeState.CANCELLED})
    return items


def _guard_problems(form: TransitionForm, error: DomainError) -> list[tuple[str, str]]:
    """The refusal's problems the move's own form cannot show: (field label, message)."""
    return [(field_label(Change, name), message) for name, messages_ in error.fields.items()
            if name not in form.fields for message in messages_]


def detail_context(request: HttpRequest, change: Change, *,
                   transition_form: TransitionForm | None = None,
                   transition_problems: list[tuple[str, str]] | None = None,
                   comment_form: CommentForm | None = None) -> dict[str, Any]:
    user = request.user
    failed = None
    if transition_form is not None:
        transition = CHANGE_WORKFLOW.find(change.state, transition_form.data.get("to_state"))
        failed = transition.label if transition else None
    return {
        "change": change,
        "transitions": _transitions(change, user, transition_form),
        "transition_failed": failed,
        "transition_error": transition_form.non_field_errors() if transition_form else None,
        "transition_problems": transition_problems or [],
        "activities": ticket_timeline(change, user),
        "comment_form": comment_form or CommentForm(),
        "is_open": change.is_open,
        "impacted_services": selectors.impacted_services(change),
        "state_badge": selectors.STATE_BADGES.get(change.state, "badge-grey"),
        "risk_badge": selectors.RISK_BADGES.get(change.risk, "badge-grey"),
    }


def render_detail(request: HttpRequest, change: Change, status: int = 200,
                  **extra: Any) -> HttpResponse:
    return render(request, "changes/detail.html", detail_context(request, change, **extra),
                  status=status)


class ChangeDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = change_or_404(pk)
        if request.htmx and request.GET.get("part") == "timeline":
            return render(request, "incidents/_timeline.html",
                          {"activities": ticket_timeline(change, request.user)})
        return render_detail(request, change)


class ChangeTransitionView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = change_or_404(pk)
        form = TransitionForm(request.POST)
        problems: list[tuple[str, str]] = []
        if form.is_valid():
            try:
                moved = services.change_transition(
                    actor=request.user, change=change, to_state=form.cleaned_data["to_state"],
                    note=form.cleaned_data["note"], **form.values(change))
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
                problems = _guard_problems(form, error)
            else:
                messages.success(request, _("%(number)s is now %(state)s.") % {
                    "number": moved.number, "state": moved.get_state_display()})
                return redirect("changes:detail", pk=moved.pk)
        change = change_or_404(pk)  # as it is now: nothing of the refused move was kept
        return render_detail(request, change, status=400, transition_form=form,
                             transition_problems=problems)


class ChangeCommentView(DeskAccessMixin, View):
    """Comments and work notes (``tickets.services.ticket_comment``)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = change_or_404(pk)
        form = CommentForm(request.POST)
        if form.is_valid():
            internal = form.cleaned_data["kind"] == "work_note"
            try:
                ticket_comment(ticket=change, actor=request.user,
                               body=form.cleaned_data["body"], internal=internal)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Work note added.") if internal
                                 else _("Comment added."))
                return redirect(reverse("changes:detail", kwargs={"pk": change.pk})
                                + "#activity-h")
        return render_detail(request, change, status=400, comment_form=form)


# --- Edit -------------------------------------------------------------------------------

class ChangeEditView(DeskAccessMixin, View):
    """An open change's fields through ``change_update``. Closed and cancelled changes
    show no form, and a POST to one is refused without writing."""

    def _render(self, request: HttpRequest, change: Change, form: ChangeEditForm | None,
                status: int = 200) -> HttpResponse:
        return render(request, "changes/edit.html", {"change": change, "form": form},
                      status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = change_or_404(pk)
        if not change.is_open:
            return self._render(request, change, None)
        return self._render(request, change, ChangeEditForm(change=change))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = change_or_404(pk)
        if not change.is_open:
            return self._render(request, change, None, status=400)
        form = ChangeEditForm(request.POST, change=change)
        if form.is_valid():
            changes = form.changes()
            try:
                if changes:
                    services.change_update(actor=request.user, change=change, **changes)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                if changes:
                    messages.success(request, _("%(number)s updated.") % {
                        "number": change.number})
                else:
                    messages.info(request, _("Nothing was changed."))
                return redirect("changes:detail", pk=change.pk)
        return self._render(request, change, form, status=400)
