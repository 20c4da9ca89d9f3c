"""Desk pages of incident management: the queues (filters, keyset pages), the form to log
an incident, and the detail page (lifecycle buttons, assignment, priority, activity
timeline and composer). Views read through selectors and write through services;
refusals are shown at the field they name."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from accounts.models import Team
from desk.access import DeskAccessMixin
from desk.saved_view_views import saved_views_context
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error
from itsm.keyset import RowsAfter
from itsm.widgets import QuickSelect
from problems.kedb_views import link_chosen_known_error
from problems.kedb_views import suggestions_context as known_error_suggestions
from tickets.timeline import ticket_timeline

from . import escalation, selectors, services, similar
from .bulk import BULK_LIMIT
from .bulk_forms import BulkForm
from .filtersets import QUEUES, SORTS, IncidentFilterSet
from .forms import (
    AssignForm,
    EscalateForm,
    IncidentCreateForm,
    PriorityOverrideForm,
    RespondForm,
    SimilarForm,
    TransitionForm,
)
from .models import (
    INCIDENT_WORKFLOW,
    OPEN_STATES,
    Incident,
)
from .queue_rows import queue_rows

PAGE_SIZE = 50
FILTER_BAR = ("q", "state", "priority", "assignment_group", "escalated")
SINGLE_CHOICE_FILTERS = ("state", "priority")
SAVED_VIEW_LIST = "incidents.incident"  # the queue's key among the desk's saved views


# --- Queues ---------------------------------------------------------------------------

class FilterSelect(QuickSelect, forms.SelectMultiple):
    """A one-value drop-down for a filter that accepts several; empty means no filter."""

    allow_multiple_selected = False

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return [v for v in super().value_from_datadict(data, files, name) if v]


def _encode_cursor(incident: Incident, order: tuple[str, ...]) -> str:
    values = [getattr(incident, name) for name in order]
    raw = json.dumps([v.isoformat() if isinstance(v, datetime.datetime) else v
                      for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(value: str, order: tuple[str, ...]) -> tuple[Any, ...]:
    """The cursor's values, typed as the order's columns (a tampered one is refused)."""
    try:
        values = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError("bad cursor")
        typed = []
        for name, item in zip(order, values, strict=True):
            if name in ("created_at", "sla_due_at"):
                typed.append(datetime.datetime.fromisoformat(item))
            elif isinstance(item, int) and not isinstance(item, bool):
                typed.append(item)
            else:
                raise ValueError("bad cursor")
    except (binascii.Error, ValueError, TypeError) as error:
        raise ValueError("bad cursor") from error
    return tuple(typed)


def _default_queue(request: HttpRequest) -> str:
    return "my_groups" if request.user.team_memberships.exists() else "open"


def _list_params(request: HttpRequest, data: QueryDict | None = None
                 ) -> tuple[QueryDict, str | None]:
    params = QueryDict(mutable=True)
    for key, values in (request.GET if data is None else data).lists():
        kept = [value for value in values if value.strip()]
        if kept:
            params.setlist(key, kept)
    after = params.pop("after", [None])[-1]
    if params.get("queue") not in QUEUES:
        params["queue"] = _default_queue(request)
    if params.get("sort") not in SORTS:
        params.pop("sort", None)  # the default: by priority
    return params, after


def _compact(filterset: IncidentFilterSet, teams: list[tuple[int, str, bool]]) -> None:
    form = filterset.form
    for name in SINGLE_CHOICE_FILTERS:
        field = form.fields[name]
        field.widget = FilterSelect(choices=[("", _("Any")), *field.choices])
    group = form.fields["assignment_group"]
    group.empty_label = _("Any")
    group.widget = QuickSelect(choices=[("", group.empty_label),
                                        *((pk, name) for pk, name, _active in teams)])
    form.fields["q"].help_text = ""
    form.fields["q"].widget.input_type = "search"
    form.fields["q"].widget.attrs["placeholder"] = _("Number, title or description")


QUEUE_ORDER = SORTS["priority"]


def _page(items: QuerySet, after: str | None,
          sort: str = "priority") -> tuple[list[Incident], str | None]:
    """One page in the sort's order: no COUNT, no OFFSET; the cursor is a row comparison,
    which the queue indexes (incidents/migrations/0005, 0006) answer directly."""
    order = SORTS[sort]
    if sort == "breach":
        items = items.filter(sla_due_at__isnull=False)
    items = items.order_by(*order)
    if after:
        items = items.filter(RowsAfter(order, _decode_cursor(after, order)))
    window = list(items[:PAGE_SIZE + 1])
    page = window[:PAGE_SIZE]
    return page, _encode_cursor(page[-1], order) if len(window) > PAGE_SIZE else None


def render_queue(request: HttpRequest, data: QueryDict | None = None, *,
                 bulk_form: BulkForm | None = None, status: int = 200,
                 partial: bool | None = None) -> HttpResponse:
    """The queue page (or, for htmx, its body) for the filters in ``data`` (default: the
    request's). The bulk-action view shows it again with its refused form."""
    params, after = _list_params(request, data)
    # One read of the teams, for the filter bar, the bulk form and the rows' groups.
    teams = list(Team.objects.values_list("pk", "name", "is_active"))
    filterset = IncidentFilterSet(params, queryset=selectors.incident_list(), request=request)
    _compact(filterset, teams)
    if filterset.is_valid():
        try:
            items, next_cursor = _page(filterset.qs, after, params.get("sort", "priority"))
        except ValueError:
            items, next_cursor, status = [], None, 400
    else:
        items, next_cursor, status = [], None, 400
    queue = params["queue"]
    query = params.urlencode()
    kept = QueryDict(mutable=True)
    kept.update(params)
    kept.pop("queue", None)
    context = {
        "filter": filterset,
        "filter_fields": [filterset.form[name] for name in FILTER_BAR],
        "queue": queue,
        "queues": [(key, label, key == queue) for key, label in QUEUES.items()],
        "sort": params.get("sort", "priority"),
        "filters_query": kept.urlencode(),
        "items": items,
        "rows": queue_rows(items, {pk: name for pk, name, _active in teams},
                           bulk_form.selected() if bulk_form is not None else ()),
        "next_cursor": next_cursor,
        "is_first": not after,
        "query": query,
        **saved_views_context(request, SAVED_VIEW_LIST, query),
        "bulk_form": bulk_form or BulkForm(
            initial={"return_query": query},
            teams=[(pk, name) for pk, name, active in teams if active]),
        "bulk_limit": BULK_LIMIT,
    }
    partial = bool(request.htmx) if partial is None else partial
    template = "incidents/_list_body.html" if partial else "incidents/list.html"
    return render(request, template, context, status=status)


class IncidentListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render_queue(request)


# --- Create ---------------------------------------------------------------------------

class IncidentCreateView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = IncidentCreateForm(initial={"requester": request.GET.get("caller")})
        return render(request, "incidents/form.html",
                      {"form": form, **_duplicates_context(QueryDict()),
                       **known_error_suggestions(QueryDict())})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = IncidentCreateForm(request.POST)
        if form.is_valid():
            values = form.service_values()
            try:
                with transaction.atomic():  # linked to the known error chosen, or not logged
                    incident = services.incident_create(actor=request.user, **values)
                    known_error = link_chosen_known_error(actor=request.user,
                                                          incident=incident, data=request.POST)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                if known_error is not None:
                    messages.info(request, _("Linked to known error %(number)s: the caller "
                                             "was sent its workaround.")
                                  % {"number": known_error.number})
                if incident.parent_id:
                    messages.success(request, _("%(number)s logged as a child of %(parent)s.")
                                     % {"number": incident.number,
                                        "parent": values["parent"].number})
                else:
                    messages.success(request, _("%(number)s logged.") % {
                        "number": incident.number})
                return redirect("incidents:detail", key=incident.number)
        return render(request, "incidents/form.html",
                      {"form": form, **_duplicates_context(request.POST),
                       **known_error_suggestions(request.POST)}, status=400)


# --- Duplicates -----------------------------------------------------------------------

def _duplicates_context(data: QueryDict) -> dict[str, Any]:
    """What the "Possible duplicates" panel shows for the values typed so far. Fields
    that do not validate (an unknown service, a title too long) are left out of the
    search rather than failing it: the panel only advises."""
    form = SimilarForm(data)
    form.is_valid()
    values = form.cleaned_data
    title = (values.get("title") or "").strip()
    suggestions = similar.similar_open_incidents(
        title=title, description=values.get("description") or "",
        service=values.get("service"), ci=values.get("ci")) if title else []
    chosen = values.get("parent")
    # The agent's choice stays on screen while they go on typing, even when the new
    # words no longer bring it up.
    kept = None
    if chosen is not None and chosen.pk not in {s.incident.pk for s in suggestions}:
        kept = selectors.incidents().filter(pk=chosen.pk).first()
    return {"searched": bool(title), "suggestions": suggestions, "kept_parent": kept,
            "chosen_parent": getattr(chosen, "pk", None)}


class IncidentSimilarView(DeskAccessMixin, View):
    """The "Possible duplicates" panel of the new-incident form (htmx, as the agent
    types)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "incidents/_duplicates.html", _duplicates_context(request.GET))


class IncidentSimilarToView(DeskAccessMixin, View):
    """The detail page's "Similar open incidents" box (loaded by htmx after the page)."""

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        suggestions: list[similar.Suggestion] = []
        is_open = incident.state in OPEN_STATES
        if is_open and incident.parent_id is None:  # a child is linked already
            suggestions = similar.similar_open_incidents(
                title=incident.title, description=incident.description,
                service=incident.service_id, ci=incident.ci_id, exclude=incident,
                opened_at=incident.created_at)
        has_children = is_open and incident.parent_id is None and incident.has_children
        template = "incidents/_similar_to.html" if request.htmx else "incidents/similar_to.html"
        return render(request, template, {
            "incident": incident, "suggestions": suggestions, "is_open": is_open,
            "has_children": has_children,
            "can_link": is_open and incident.parent_id is None and not has_children,
        })


# --- Detail ---------------------------------------------------------------------------

def _incident_or_404(key: str) -> Incident:
    # Numbers are stored upper-case (INC0001042): an exact match uses the unique index,
    # where iexact read the whole table (a second at a million incidents).
    lookup = Q(pk=int(key)) if key.isdigit() else Q(number=key.upper())
    incident = selectors.incident_with_related().filter(lookup).first()
    if incident is None:
        raise Http404(_("No such incident."))
    return selectors.incident_related_load(incident)


def _needs_values(target: str) -> bool:
    return target in TransitionForm.VALUES_FOR


def _detail_context(request: HttpRequest, incident: Incident, *,
                    transition_form: TransitionForm | None = None,
                    respond_form: RespondForm | None = None,
                    assign_form: AssignForm | None = None,
                    priority_form: PriorityOverrideForm | None = None,
                    escalate_form: EscalateForm | None = None) -> dict[str, Any]:
    user = request.user
    transitions = []
    for transition in INCIDENT_WORKFLOW.available(incident, user):
        if transition_form is not None and transition_form.data.get("to_state") == \
                transition.target:
            form = transition_form
        else:
            form = TransitionForm(initial={"to_state": transition.target})
        form.auto_id = f"id_{transition.target}_%s"  # several of these forms on one page
        transitions.append({"transition": transition, "form": form,
                            "needs_values": _needs_values(transition.target),
                            "open": form is transition_form})
    can_override = user.has_perm("incidents.override_priority")
    return {
        "incident": incident,
        "transitions": transitions,
        "transition_error": transition_form.non_field_errors() if transition_form else None,
        "activities": ticket_timeline(incident, user),
        "respond_form": respond_form or RespondForm(),
        "assign_form": assign_form or _assign_form(incident),
        "priority_form": (priority_form or PriorityOverrideForm(
            initial={"priority": incident.priority})) if can_override else None,
        "is_open": incident.state in OPEN_STATES,
        **_escalation_context(incident, escalate_form),
    }


def _escalation_context(incident: Incident, form: EscalateForm | None) -> dict[str, Any]:
    """The level, who was told at each step, and who the next step tells."""
    level = incident.escalation_level
    next_told = None
    if level < escalation.MAX_LEVEL:
        manager_id = incident.assignment_group.manager_id if incident.assignment_group else None
        manager = (get_user_model().objects.select_related("profile")
                   .filter(pk=manager_id, is_active=True).first()
                   if level == 0 and manager_id else None)
        next_told = (_("%(name)s, manager of %(group)s") % {
            "name": escalation.person_name(manager),
            "group": incident.assignment_group.name} if manager
            else _("the incident managers"))
    return {
        "escalate_form": form or EscalateForm(),
        "escalation_label": escalation.EscalationLevel(level).label,
        "escalation_steps": escalation.escalation_history(incident),
        "escalation_next": next_told,
    }


def _assign_form(incident: Incident, data: QueryDict | None = None,
                 group: Team | None = None, initial: dict | None = None) -> AssignForm:
    group = group or incident.assignment_group
    initial = initial or {"group": incident.assignment_group_id,
                          "assignee": incident.assignee_id}
    form = AssignForm(data, group=group, initial=initial)
    # Changing the group reloads the form with that group's members (htmx).
    form.fields["group"].widget.attrs.update({
        "hx-get": reverse("incidents:assign", kwargs={"key": incident.number}),
        "hx-target": "#assign-form", "hx-swap": "outerHTML"})
    return form


def _render_detail(request: HttpRequest, incident: Incident, status: int = 200,
                   **forms_: Any) -> HttpResponse:
    return render(request, "incidents/detail.html", _detail_context(request, incident, **forms_),
                  status=status)


class IncidentDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        if request.htmx and request.GET.get("part") == "timeline":
            return render(request, "incidents/_timeline.html",
                          {"activities": ticket_timeline(incident, request.user)})
        return _render_detail(request, incident)


class IncidentSlaView(DeskAccessMixin, View):
    """The SLA panel alone: the incident page polls it, so the time left stays current."""

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        return render(request, "incidents/_sla.html", {"incident": incident})


class IncidentTransitionView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = TransitionForm(request.POST)
        if form.is_valid():
            try:
                incident = services.incident_transition(
                    actor=request.user, incident=incident, to_state=form.cleaned_data["to_state"],
                    note=form.cleaned_data["note"], **form.values())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s is now %(state)s.") % {
                    "number": incident.number, "state": incident.get_state_display()})
                return redirect("incidents:detail", key=incident.number)
        return _render_detail(request, incident, status=400, transition_form=form)


class IncidentRespondView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = RespondForm(request.POST)
        if form.is_valid():
            internal = form.cleaned_data["kind"] == "work_note"
            try:
                services.incident_respond(actor=request.user, incident=incident,
                                          body=form.cleaned_data["body"], internal=internal)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Work note added.") if internal
                                 else _("Comment added."))
                return redirect("incidents:detail", key=incident.number)
        return _render_detail(request, incident, status=400, respond_form=form)


class IncidentAssignView(DeskAccessMixin, View):
    """POST assigns; POST with ``suggest`` (or GET ``?group=`` from htmx) only refills the
    form: the group's members, and the suggested assignee."""

    def _group(self, value: str | None) -> Team | None:
        return Team.objects.filter(pk=value).first() if value and value.isdigit() else None

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        group = self._group(request.GET.get("group"))
        form = _assign_form(incident, group=group, initial={"group": getattr(group, "pk", None)})
        return render(request, "incidents/_assign.html", {"incident": incident,
                                                          "assign_form": form})

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        group = self._group(request.POST.get("group"))
        if "suggest" in request.POST:
            if group is None:  # bound, so the "required" error shows at the group
                form = _assign_form(incident, data=request.POST, group=None)
                form.is_valid()
            else:
                suggested = services.suggest_assignee(group)
                form = _assign_form(incident, group=group, initial={
                    "group": group.pk, "assignee": getattr(suggested, "pk", None)})
                if suggested is None:
                    form.fields["assignee"].help_text = _("Nobody in this group is available.")
            if request.htmx:
                return render(request, "incidents/_assign.html",
                              {"incident": incident, "assign_form": form})
            return _render_detail(request, incident, assign_form=form)
        form = _assign_form(incident, data=request.POST, group=group)
        if form.is_valid():
            try:
                incident = services.incident_assign(
                    actor=request.user, incident=incident, group=form.cleaned_data["group"],
                    assignee=form.cleaned_data["assignee"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s assigned.") % {"number": incident.number})
                return redirect("incidents:detail", key=incident.number)
        return _render_detail(request, incident, status=400, assign_form=form)


class IncidentPriorityView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = PriorityOverrideForm(request.POST)
        if form.is_valid():
            try:
                incident = services.incident_override_priority(
                    actor=request.user, incident=incident,
                    priority=form.cleaned_data["priority"],
                    reason=form.cleaned_data["priority_override_reason"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Priority set to P%(p)d.") % {"p": incident.priority})
                return redirect("incidents:detail", key=incident.number)
        return _render_detail(request, incident, status=400, priority_form=form)


class IncidentEscalateView(DeskAccessMixin, View):
    """Hierarchical escalation from the detail page (the reason is required)."""

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = EscalateForm(request.POST)
        if form.is_valid():
            try:
                incident = escalation.incident_escalate(
                    actor=request.user, incident=incident, reason=form.cleaned_data["reason"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s escalated: %(level)s.") % {
                    "number": incident.number,
                    "level": escalation.EscalationLevel(incident.escalation_level).label})
                return redirect("incidents:detail", key=incident.number)
        return _render_detail(request, incident, status=400, escalate_form=form)
