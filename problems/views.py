"""Desk pages of problem management: the queue (filters, keyset pages), the form, the
detail page (statement, CIs and services, linked incidents with their timeline and
patterns, the analysis with its five whys, the workaround and known error, the permanent
fix, the activity and the lifecycle buttons, the resolve dialog), editing, and the
problem box on an incident's page. Views read through selectors and write through
services; a refusal is shown at the field it names."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from changes.models import Change
from changes.views import FilterSelect
from desk.access import DeskAccessMixin
from desk.picker_views import ticket_options
from desk.saved_view_views import saved_views_context
from incidents.models import Incident
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error
from itsm.widgets import QuickSelect
from tickets.services import ticket_comment
from tickets.timeline import field_label, ticket_timeline

from . import selectors, services
from .filtersets import QUEUES, ProblemFilterSet
from .forms import (
    CommentForm,
    FiveWhysForm,
    LinkIncidentForm,
    LinkToProblemForm,
    ProblemEditForm,
    ProblemForm,
    ResolveForm,
    TransitionForm,
    change_token,
    problem_token,
)
from .models import Problem, ProblemState
from .publishing import known_error_article
from .workflow import MANAGE, PROBLEM_WORKFLOW

SAVED_VIEW_LIST = "problems.problem"  # the list's key among the desk's saved views
User = get_user_model()
FILTER_BAR = ("q", "state", "priority", "category", "known_error", "assignment_group",
              "assignee")


def _refused(error: DomainError) -> None:
    if isinstance(error, NotPermitted):
        raise PermissionDenied(error.message) from error


# --- List -------------------------------------------------------------------------------

def _compact(form: Any) -> None:
    """The filter bar's drop-downs: one value each, and the people who have problems."""
    for name in ("state", "priority"):
        field = form.fields[name]
        field.widget = FilterSelect(choices=[("", _("Any")), *field.choices])
    people = User.objects.filter(pk__in=Problem.objects.exclude(assignee=None).values(
        "assignee_id")).order_by("first_name", "last_name", "username")
    form.fields["assignee"].widget = QuickSelect(choices=[("", _("Any")), *(
        (person.pk, person.get_full_name() or person.get_username()) for person in people)])
    form.fields["known_error"].widget = QuickSelect(choices=[
        ("", _("Any")), ("true", _("Yes")), ("false", _("No"))])


class ProblemListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        params = QueryDict(mutable=True)
        for key, values in request.GET.lists():
            kept = [value for value in values if value.strip()]
            if kept:
                params.setlist(key, kept)
        after = params.pop("after", [None])[-1]
        if params.get("queue") not in QUEUES:
            params["queue"] = "open"
        filterset = ProblemFilterSet(params, queryset=selectors.problems(), request=request)
        form = filterset.form
        form.fields["q"].help_text = ""
        form.fields["q"].widget.input_type = "search"
        _compact(form)
        status, items, next_cursor = 200, [], None
        if filterset.is_valid():
            try:
                items, next_cursor = selectors.problem_page(filterset.qs, after=after)
            except ValueError:
                status = 400
        else:
            status = 400
        queue = params["queue"]
        kept = params.copy()
        kept.pop("queue", None)
        context = {
            "filter": filterset,
            "filter_fields": [form[name] for name in FILTER_BAR],
            "queue": queue,
            "queues": [(key, label, key == queue) for key, label in QUEUES.items()],
            "filters_query": kept.urlencode(),
            "rows": [(p, selectors.STATE_BADGES.get(p.state, "badge-grey")) for p in items],
            "next_cursor": next_cursor,
            "is_first": not after,
            "query": params.urlencode(),
            **saved_views_context(request, SAVED_VIEW_LIST, params.urlencode()),
        }
        template = "problems/_list_body.html" if request.htmx else "problems/list.html"
        return render(request, template, context, status=status)


# --- Lookups ------------------------------------------------------------------------------

class ChangeLookupView(DeskAccessMixin, View):
    """Suggestions for the permanent-fix picker: by number or part of the title."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return ticket_options(request, Change.objects.only("number", "title", "state"), "CHG",
                              lambda c: (change_token(c), c.get_state_display()))


class ProblemLookupView(DeskAccessMixin, View):
    """Suggestions for the problem picker (an incident's "Link to problem"): open and
    resolved problems by number or part of the statement, newest first."""

    def get(self, request: HttpRequest) -> HttpResponse:
        problems = Problem.objects.exclude(state=ProblemState.CLOSED).only(
            "number", "title", "state", "known_error")
        return ticket_options(request, problems, "PRB", lambda p: (
            problem_token(p),
            p.get_state_display() + (" · " + _("known error") if p.known_error else "")))


# --- Create -----------------------------------------------------------------------------

class ProblemCreateView(DeskAccessMixin, View):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not request.user.has_perm(MANAGE):
            raise PermissionDenied(_("Only problem managers record problems."))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        initial: dict[str, Any] = {"requester": request.user}
        incident = request.GET.get("incident", "")
        if incident.isdigit():  # "Create a problem from this incident"
            found = Incident.objects.filter(pk=incident).select_related(
                "category", "service", "ci").first()
            if found is not None:
                initial.update(incidents=[found], title=found.title,
                               description=found.description,
                               category=found.category,
                               services=[found.service] if found.service else [],
                               cis=[found.ci] if found.ci else [])
        return render(request, "problems/form.html", {"form": ProblemForm(initial=initial)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ProblemForm(request.POST)
        if form.is_valid():
            try:
                problem = services.problem_create(actor=request.user, **form.service_values())
            except DomainError as error:
                _refused(error)
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s created.") % {
                    "number": problem.number})
                return redirect("problems:detail", key=problem.number)
        return render(request, "problems/form.html", {"form": form}, status=400)


# --- Detail -----------------------------------------------------------------------------

def problem_or_404(key: str) -> Problem:
    query = Q(number=key.upper())
    if key.isdigit():
        query |= Q(pk=int(key))
    problem = selectors.problem_detail().filter(query).first()
    if problem is None:
        raise Http404(_("No such problem."))
    return problem


def detail_context(request: HttpRequest, problem: Problem, **forms: Any) -> dict[str, Any]:
    user = request.user
    links = selectors.problem_links(problem)
    patterns = selectors.incident_patterns(links)
    can_manage = user.has_perm(MANAGE)
    transitions = [t for t in PROBLEM_WORKFLOW.available(problem, user)
                   if t.target != ProblemState.RESOLVED]
    can_resolve = can_manage and PROBLEM_WORKFLOW.find(
        problem.state, ProblemState.RESOLVED) is not None
    return {
        "problem": problem,
        "state_badge": selectors.STATE_BADGES.get(problem.state, "badge-grey"),
        "can_manage": can_manage,
        "is_open": problem.is_open,
        "editable": problem.state != ProblemState.CLOSED,
        "transitions": transitions,
        "transition_error": forms.get("transition_error"),
        "can_resolve": can_resolve,
        "resolve_form": forms.get("resolve_form") or ResolveForm(
            initial={"resolution": problem.resolution, "resolve_incidents": True}),
        "resolve_failed": forms.get("resolve_form") is not None,
        "links": links,
        "known_error_article": known_error_article(problem),
        "patterns": patterns,
        "open_incidents": patterns.open_count,
        "link_form": forms.get("link_form") or LinkIncidentForm(),
        "whys_form": forms.get("whys_form") or FiveWhysForm(problem=problem),
        "known_error_error": forms.get("known_error_error"),
        "activities": ticket_timeline(problem, user),
        "comment_form": forms.get("comment_form") or CommentForm(),
        "services": list(problem.services.select_related("ci_class")),
        "cis": list(problem.cis.select_related("ci_class")),
    }


def render_detail(request: HttpRequest, problem: Problem, status: int = 200,
                  **forms: Any) -> HttpResponse:
    return render(request, "problems/detail.html", detail_context(request, problem, **forms),
                  status=status)


def _back(problem: Problem, anchor: str = "") -> HttpResponse:
    return redirect(reverse("problems:detail", kwargs={"key": problem.number}) + anchor)


class ProblemDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        if request.htmx and request.GET.get("part") == "timeline":
            return render(request, "incidents/_timeline.html",
                          {"activities": ticket_timeline(problem, request.user)})
        return render_detail(request, problem)


class ProblemTransitionView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        form = TransitionForm(request.POST)
        if form.is_valid():
            try:
                moved = services.problem_transition(
                    actor=request.user, problem=problem,
                    to_state=form.cleaned_data["to_state"], note=form.cleaned_data["note"])
            except DomainError as error:
                _refused(error)
                problems = [f"{field_label(Problem, name)}: {message}"
                            for name, msgs in error.fields.items() for message in msgs
                            if name != "state"] or [error.message]
                return render_detail(request, problem_or_404(key), status=400,
                                     transition_error=problems)
            messages.success(request, _("%(number)s is now %(state)s.") % {
                "number": moved.number, "state": moved.get_state_display()})
            return _back(moved)
        return render_detail(request, problem, status=400,
                             transition_error=[_("Choose a move.")])


class ProblemResolveView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        form = ResolveForm(request.POST)
        if form.is_valid():
            try:
                outcome = services.problem_resolve(actor=request.user, problem=problem,
                                                   **form.cleaned_data)
            except DomainError as error:
                _refused(error)
                add_domain_error(form, error)
            else:
                text = _("%(number)s resolved.") % {"number": problem.number}
                if form.cleaned_data["resolve_incidents"]:
                    text += " " + _("%(count)d linked incident(s) resolved.") % {
                        "count": outcome.resolved_count}
                messages.success(request, text)
                for number, reason in outcome.incidents_refused.items():
                    messages.warning(request, f"{number}: {reason}")
                return _back(outcome.problem)
        return render_detail(request, problem_or_404(key), status=400, resolve_form=form)


class ProblemLinkView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        form = LinkIncidentForm(request.POST)
        if form.is_valid():
            incident = form.cleaned_data["incident"]
            try:
                services.problem_link_incident(actor=request.user, problem=problem,
                                               incident=incident)
            except DomainError as error:
                _refused(error)
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s linked.") % {"number": incident.number})
                return _back(problem, "#incidents-h")
        return render_detail(request, problem, status=400, link_form=form)


class ProblemUnlinkView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str, incident: str) -> HttpResponse:
        problem = problem_or_404(key)
        found = Incident.objects.filter(number=incident.upper()).first()
        if found is None:
            raise Http404(_("No such incident."))
        try:
            services.problem_unlink_incident(actor=request.user, problem=problem,
                                             incident=found)
        except DomainError as error:
            _refused(error)
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(number)s unlinked.") % {"number": found.number})
        return _back(problem, "#incidents-h")


class ProblemKnownErrorView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        known = request.POST.get("known_error") in ("1", "true", "on")
        try:
            services.problem_set_known_error(actor=request.user, problem=problem,
                                             known_error=known)
        except DomainError as error:
            _refused(error)
            return render_detail(request, problem, status=400,
                                 known_error_error=error.message)
        messages.success(request, _("Published as a known error.") if known
                         else _("Known error withdrawn."))
        return _back(problem, "#workaround-h")


class ProblemFiveWhysView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        form = FiveWhysForm(request.POST, problem=problem)
        if form.is_valid():
            try:
                services.problem_update(actor=request.user, problem=problem,
                                        five_whys=form.five_whys())
            except DomainError as error:
                _refused(error)
                add_domain_error(form, error)
            else:
                messages.success(request, _("Five whys saved."))
                return _back(problem, "#rca-h")
        return render_detail(request, problem, status=400, whys_form=form)


class ProblemCommentView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        form = CommentForm(request.POST)
        if form.is_valid():
            internal = form.cleaned_data["kind"] == "work_note"
            try:
                ticket_comment(ticket=problem, actor=request.user,
                               body=form.cleaned_data["body"], internal=internal)
            except DomainError as error:
                _refused(error)
                add_domain_error(form, error)
            else:
                messages.success(request, _("Work note added.") if internal
                                 else _("Comment added."))
                return _back(problem, "#activity-h")
        return render_detail(request, problem, status=400, comment_form=form)


# --- Edit -------------------------------------------------------------------------------

class ProblemEditView(DeskAccessMixin, View):
    def _render(self, request: HttpRequest, problem: Problem, form: ProblemEditForm | None,
                status: int = 200) -> HttpResponse:
        return render(request, "problems/edit.html", {"problem": problem, "form": form},
                      status=status)

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        if problem.state == ProblemState.CLOSED:
            return self._render(request, problem, None)
        return self._render(request, problem, ProblemEditForm(problem=problem))

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        problem = problem_or_404(key)
        if problem.state == ProblemState.CLOSED:
            return self._render(request, problem, None, status=400)
        form = ProblemEditForm(request.POST, problem=problem)
        if form.is_valid():
            changes = form.changes()
            try:
                if changes:
                    services.problem_update(actor=request.user, problem=problem, **changes)
            except DomainError as error:
                _refused(error)
                add_domain_error(form, error)
            else:
                if changes:
                    messages.success(request, _("%(number)s updated.") % {
                        "number": problem.number})
                else:
                    messages.info(request, _("Nothing was changed."))
                return _back(problem)
        return self._render(request, problem, form, status=400)


# --- From an incident's page --------------------------------------------------------------

class IncidentLinkToProblemView(DeskAccessMixin, View):
    """"Link to problem" on an incident's page: the problem by number."""

    def post(self, request: HttpRequest, incident: str) -> HttpResponse:
        found = Incident.objects.filter(number=incident.upper()).first()
        if found is None:
            raise Http404(_("No such incident."))
        form = LinkToProblemForm(request.POST)
        back = reverse("incidents:detail", kwargs={"key": found.number}) + "#problems-h"
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for e in form.errors.get("problem", [])))
            return redirect(back)
        problem = form.cleaned_data["problem"]
        try:
            services.problem_link_incident(actor=request.user, problem=problem, incident=found)
        except DomainError as error:
            _refused(error)
            messages.error(request, error.message)
        else:
            messages.success(request, _("Linked to %(number)s.") % {"number": problem.number})
        return redirect(back)
