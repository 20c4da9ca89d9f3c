"""Desk pages for approvals: the approver's inbox (vote in place, htmx-friendly), the
approvals panel's forms on the change page (vote, override, provide information), the
approval policies of change managers, and CAB meetings (list, create, agenda with a
decision per change, minutes). Each POST calls one service and redirects; a refusal
re-renders the page with the error at the field it names (the change page is not ours:
there it comes back as a message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import approval_selectors as selectors
from . import approvals, cab
from .approval_forms import (
    CabDecisionForm,
    CabItemAddForm,
    CabMeetingForm,
    MinutesForm,
    OverrideForm,
    PolicyForm,
    ProvideInfoForm,
    VoteForm,
)
from .models import (
    ApprovalPolicy,
    ApprovalState,
    ApproverTask,
    CabAgendaItem,
    CabMeeting,
    CabMeetingStatus,
    Change,
)

MANAGE = ("accounts.access_desk", selectors.MANAGE)


class ManageChangesMixin(DeskAccessMixin):
    permission_required = MANAGE


def _run(form: forms.Form, call: Callable[[], Any]) -> Any:
    """Call the service once the form is valid; a permission refusal is the 403 page,
    any other refusal goes onto the form. The result, or None when refused."""
    if not form.is_valid():
        return None
    try:
        return call() or True
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        add_domain_error(form, error)
        return None


def _to_change(change: Change) -> HttpResponse:
    return HttpResponseRedirect(selectors.change_url(change))


def _next_or(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


def _form_errors(form: forms.Form) -> str:
    return " ".join(str(m) for errors in form.errors.values() for m in errors)


# --- The panel on the change page --------------------------------------------------------

def panel_context(change: Change, user: Any) -> dict[str, Any]:
    """What the approvals panel shows: the rounds with each approver's decision, the
    user's own pending task with its vote forms, the override form for change managers,
    and "provide information" when an approver asked."""
    rounds = selectors.rounds_of(change)
    current = next((r for r in rounds if r.state in selectors.OPEN_ROUND), None)
    my_task = None
    if current is not None and user is not None and user.is_authenticated:
        my_task = next((t for t in current.tasks.all() if t.approver_id == user.pk
                        and t.state in selectors.OPEN_TASK), None)
    for round_ in rounds:
        round_.waived = selectors.segregation_waived(round_, change)
    return {
        "change": change,
        "rounds": rounds,
        "current": current,
        "my_task": my_task,
        "vote_form": VoteForm(prefix=f"task-{my_task.pk}") if my_task else None,
        "can_override": current is not None and user.has_perm(selectors.MANAGE),
        "override_form": OverrideForm(),
        "info_requested": current is not None
        and current.state == ApprovalState.INFO_REQUESTED,
        "can_provide_info": selectors.can_provide_info(user, change),
        "info_form": ProvideInfoForm(),
    }


class OverrideView(ManageChangesMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        form = OverrideForm(request.POST)
        if _run(form, lambda: approvals.approval_override(
                actor=request.user, change=change, decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"])):
            messages.success(request, _("The approval round of %(number)s was decided by "
                                        "override.") % {"number": change.number})
        else:
            messages.error(request, _form_errors(form))
        return _to_change(change)


class ProvideInfoView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        form = ProvideInfoForm(request.POST)
        if _run(form, lambda: approvals.approval_provide_info(
                actor=request.user, change=change, body=form.cleaned_data["body"])):
            messages.success(request, _("The approvers have been told."))
        else:
            messages.error(request, _form_errors(form))
        return _to_change(change)


# --- The inbox ---------------------------------------------------------------------------

def inbox_rows(user: Any, data: Any = None, errors_for: int | None = None) -> list[dict]:
    rows = []
    for task in selectors.inbox_tasks(user):
        bound = data if errors_for == task.pk else None
        form = VoteForm(bound, prefix=f"task-{task.pk}")
        if bound is not None:
            form.is_valid()
        change = task.request.change
        rows.append({"task": task, "change": change, "round": task.request, "form": form,
                     "url": selectors.change_url(change)})
    return rows


def vote_with(request: HttpRequest, task: ApproverTask) -> tuple[bool, VoteForm]:
    """Record the vote posted for ``task`` (the inbox, the panel and the portal share
    this). The decision comes from the button pressed."""
    data = request.POST.copy()
    prefix = f"task-{task.pk}"
    if "decision" in data and f"{prefix}-decision" not in data:
        data[f"{prefix}-decision"] = data["decision"]
    if "comment" in data and f"{prefix}-comment" not in data:
        data[f"{prefix}-comment"] = data["comment"]
    form = VoteForm(data, prefix=prefix)
    done = _run(form, lambda: approvals.approval_vote(
        actor=request.user, task=task, decision=form.cleaned_data["decision"],
        comment=form.cleaned_data["comment"]))
    return bool(done), form


VOTED = {"approve": gettext_lazy("approved"), "reject": gettext_lazy("rejected"),
         "info": gettext_lazy("asked for information")}


class InboxView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "changes/approvals/inbox.html",
                      {"rows": inbox_rows(request.user)})


class VoteView(DeskAccessMixin, View):
    """A vote from the inbox or the panel. From htmx the row is swapped in place (the
    outcome, or the row again with the error); otherwise back to where it was posted."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        task = get_object_or_404(ApproverTask.objects.select_related("request__change"), pk=pk)
        change = task.request.change
        done, form = vote_with(request, task)
        if request.htmx:
            if done:
                task.refresh_from_db()
                return render(request, "changes/approvals/_inbox_done.html",
                              {"task": task, "change": change,
                               "url": selectors.change_url(change)})
            # 200, not 400: htmx swaps only successful answers by default.
            row = {"task": selectors.inbox_tasks(request.user).filter(pk=task.pk).first()
                   or task, "change": change, "round": task.request, "form": form,
                   "url": selectors.change_url(change)}
            return render(request, "changes/approvals/_inbox_row.html", {"row": row})
        if done:
            messages.success(request, _("You %(decision)s %(number)s.") % {
                "decision": VOTED.get(form.cleaned_data["decision"], ""),
                "number": change.number})
            return _next_or(request, selectors.change_url(change))
        if request.POST.get("next", "").startswith(selectors.change_url(change)):
            messages.error(request, _form_errors(form))
            return _to_change(change)
        return render(request, "changes/approvals/inbox.html", {
            "rows": inbox_rows(request.user, request.POST, task.pk)
            if task.state in selectors.OPEN_TASK else inbox_rows(request.user),
            "error": _form_errors(form)}, status=400)


# --- Policies ----------------------------------------------------------------------------

def _policy_values(form: PolicyForm) -> dict[str, Any]:
    values = dict(form.cleaned_data)
    values["groups"] = list(values["groups"])
    values["people"] = list(values["people"])
    return values


class PolicyListView(ManageChangesMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        policies = (ApprovalPolicy.objects.prefetch_related("groups", "people__profile")
                    .order_by("order", "id"))
        return render(request, "changes/approvals/policy_list.html", {"policies": policies})


class PolicyCreateView(ManageChangesMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "changes/approvals/policy_form.html", {"form": PolicyForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PolicyForm(request.POST)
        policy = _run(form, lambda: approvals.policy_create(actor=request.user,
                                                            **_policy_values(form)))
        if policy:
            messages.success(request, _("Policy %(name)s created.") % {"name": policy.name})
            return redirect("changes:policy_list")
        return render(request, "changes/approvals/policy_form.html", {"form": form},
                      status=400)


class PolicyEditView(ManageChangesMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        policy = get_object_or_404(ApprovalPolicy, pk=pk)
        return render(request, "changes/approvals/policy_form.html", {
            "form": PolicyForm(initial=PolicyForm.initial_for(policy)), "policy": policy})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        policy = get_object_or_404(ApprovalPolicy, pk=pk)
        form = PolicyForm(request.POST)
        if _run(form, lambda: approvals.policy_update(actor=request.user, policy=policy,
                                                      **_policy_values(form))):
            messages.success(request, _("Policy %(name)s saved.") % {
                "name": form.cleaned_data["name"]})
            return redirect("changes:policy_list")
        return render(request, "changes/approvals/policy_form.html",
                      {"form": form, "policy": policy}, status=400)


# --- CAB meetings ------------------------------------------------------------------------

class CabListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "changes/cab/list.html", {
            "meetings": selectors.meetings()[:100],
            "can_manage": request.user.has_perm(selectors.MANAGE)})


class CabCreateView(ManageChangesMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "changes/cab/form.html", {"form": CabMeetingForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CabMeetingForm(request.POST)
        meeting = _run(form, lambda: cab.cab_meeting_create(actor=request.user,
                                                            **form.cleaned_data))
        if meeting:
            messages.success(request, _("Meeting created. Build its agenda from the changes "
                                        "awaiting authorisation."))
            return redirect("changes:cab_detail", meeting.pk)
        return render(request, "changes/cab/form.html", {"form": form}, status=400)


def _meeting_context(request: HttpRequest, meeting: CabMeeting,
                     **given: Any) -> dict[str, Any]:
    items = selectors.agenda(meeting)
    failed = given.pop("decision_form", None)
    for item in items:
        item.form = (failed[1] if failed and failed[0] == item.pk
                     else CabDecisionForm(prefix=f"item-{item.pk}",
                                          initial={"decision": "approved"}))
    return {"meeting": meeting, "items": items,
            "can_manage": request.user.has_perm(selectors.MANAGE),
            "can_run": selectors.can_run_meeting(request.user, meeting),
            "is_planned": meeting.status == CabMeetingStatus.PLANNED,
            "add_form": given.pop("add_form", None) or CabItemAddForm(), **given}


class CabDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        meeting = get_object_or_404(selectors.meetings(), pk=pk)
        return render(request, "changes/cab/detail.html", _meeting_context(request, meeting))


def _meeting_or_404(pk: int) -> CabMeeting:
    return get_object_or_404(CabMeeting.objects.select_related("chair__profile"), pk=pk)


def _simple(request: HttpRequest, call: Callable[[], Any], done: str) -> None:
    try:
        call()
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)


class CabBuildAgendaView(ManageChangesMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        meeting = _meeting_or_404(pk)
        try:
            added = cab.cab_agenda_build(actor=request.user, meeting=meeting)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(count)d changes added to the agenda.") % {
                "count": len(added)})
        return redirect("changes:cab_detail", meeting.pk)


class CabItemAddView(ManageChangesMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        meeting = _meeting_or_404(pk)
        form = CabItemAddForm(request.POST)
        if _run(form, lambda: cab.cab_item_add(actor=request.user, meeting=meeting,
                                               change=form.cleaned_data["change"])):
            return redirect("changes:cab_detail", meeting.pk)
        meeting = get_object_or_404(selectors.meetings(), pk=pk)
        return render(request, "changes/cab/detail.html",
                      _meeting_context(request, meeting, add_form=form), status=400)


class CabItemRemoveView(ManageChangesMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = get_object_or_404(CabAgendaItem, pk=pk)
        _simple(request, lambda: cab.cab_item_remove(actor=request.user, item=item),
                _("Removed from the agenda."))
        return redirect("changes:cab_detail", item.meeting_id)


class CabDecisionView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = get_object_or_404(CabAgendaItem.objects.select_related("change"), pk=pk)
        form = CabDecisionForm(request.POST, prefix=f"item-{item.pk}")
        if _run(form, lambda: cab.cab_record_decision(
                actor=request.user, item=item, decision=form.cleaned_data["decision"],
                notes=form.cleaned_data["notes"])):
            messages.success(request, _("Decision on %(number)s recorded.") % {
                "number": item.change.number})
            return redirect("changes:cab_detail", item.meeting_id)
        meeting = get_object_or_404(selectors.meetings(), pk=item.meeting_id)
        return render(request, "changes/cab/detail.html", _meeting_context(
            request, meeting, decision_form=(item.pk, form)), status=400)


class CabMinutesView(DeskAccessMixin, View):
    def _allowed(self, request: HttpRequest, meeting: CabMeeting) -> None:
        if not selectors.can_run_meeting(request.user, meeting):
            raise PermissionDenied

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        meeting = _meeting_or_404(pk)
        self._allowed(request, meeting)
        return render(request, "changes/cab/minutes.html", {
            "meeting": meeting, "items": selectors.agenda(meeting),
            "form": MinutesForm(initial={"minutes": meeting.minutes})})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        meeting = _meeting_or_404(pk)
        self._allowed(request, meeting)
        form = MinutesForm(request.POST)
        if _run(form, lambda: cab.cab_minutes_save(actor=request.user, meeting=meeting,
                                                   minutes=form.cleaned_data["minutes"])):
            messages.success(request, _("Minutes saved."))
            return redirect("changes:cab_detail", meeting.pk)
        return render(request, "changes/cab/minutes.html", {
            "meeting": meeting, "items": selectors.agenda(meeting), "form": form}, status=400)


class CabHoldView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        meeting = _meeting_or_404(pk)
        _simple(request, lambda: cab.cab_meeting_hold(actor=request.user, meeting=meeting),
                _("The meeting is marked as held."))
        return redirect("changes:cab_detail", meeting.pk)
