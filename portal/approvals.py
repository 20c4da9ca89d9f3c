"""Portal: approvals for business approvers (people without desk access). Their pending
decisions, and one change's approval context (title, justification, plan summary,
planned window, risk, affected services) with the decision buttons. Only the change's
approvers can see it; anyone else gets a 404.

Included by ``portal/urls.py`` as ``path("approvals/", include(approvals.urlpatterns))``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from changes import approval_selectors as selectors
from changes.approval_views import VOTED, vote_with
from changes.models import ApproverTask, Change

PLAN_SUMMARY = 600


def _task_posted(request: HttpRequest) -> ApproverTask:
    """The task named in the POST, if it is the person's own (else 404)."""
    task_id = request.POST.get("task", "")
    task = ApproverTask.objects.select_related("request__change").filter(
        pk=int(task_id) if task_id.isdigit() else 0, approver=request.user).first()
    if task is None:
        raise Http404
    return task


def _vote(request: HttpRequest) -> tuple[bool, Change, str]:
    task = _task_posted(request)
    done, form = vote_with(request, task)
    change = task.request.change
    if done:
        messages.success(request, _("You %(decision)s %(number)s. Thank you.") % {
            "decision": VOTED.get(form.cleaned_data["decision"], ""), "number": change.number})
        return True, change, ""
    return False, change, " ".join(str(m) for errors in form.errors.values() for m in errors)


@login_required
def approval_inbox(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        done, _change, error = _vote(request)
        if done:
            return redirect("portal:approvals")
    rows = [{"task": task, "change": task.request.change, "round": task.request}
            for task in selectors.inbox_tasks(request.user)]
    return render(request, "portal/approvals/inbox.html", {"rows": rows, "error": error},
                  status=400 if error else 200)


@login_required
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = (selectors.changes_to_approve(request.user)
              .select_related("requester__profile", "assignment_group").filter(pk=pk).first())
    if change is None:
        raise Http404
    error = ""
    if request.method == "POST":
        done, posted, error = _vote(request)
        if posted.pk != change.pk:
            raise Http404
        if done:
            return redirect("portal:approval_detail", pk=change.pk)
    task = selectors.task_of(request.user, change)
    if task is not None and task.state not in selectors.OPEN_TASK:
        task = None
    plan = change.implementation_plan
    return render(request, "portal/approvals/detail.html", {
        "change": change, "task": task, "round": task.request if task else None,
        "plan_summary": plan if len(plan) <= PLAN_SUMMARY else plan[:PLAN_SUMMARY] + "…",
        "services": list(change.services.order_by("name")),
        "error": error, "comment": request.POST.get("comment", "") if error else "",
    }, status=400 if error else 200)


urlpatterns = [
    path("", approval_inbox, name="approvals"),
    path("<int:pk>/", approval_detail, name="approval_detail"),
]
