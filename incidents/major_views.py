"""Desk pages for major incidents: the panel on the incident page (declare, stand down,
stakeholder updates, follow, parent and children) and the post-incident review page.
Each POST calls one service and redirects; a refusal re-renders the page with the error
at the field it names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import major, major_selectors, services
from .major_forms import (
    DeclareMajorForm,
    LinkParentForm,
    ReviewActionForm,
    ReviewForm,
    StakeholderUpdateForm,
    StandDownForm,
)
from .models import OPEN_STATES, Incident, PostIncidentReview, ReviewAction, ReviewStatus
from .views import _detail_context, _incident_or_404


class ManageMajorMixin(DeskAccessMixin):
    """Running a major incident: desk access and *manage major incidents* (the services
    check it too; this answers 403 before a form that person never saw)."""

    permission_required = ("accounts.access_desk", major.MANAGE)


# --- The panel on the incident page ---------------------------------------------------

def panel_context(request: HttpRequest, incident: Incident,
                  given: Any = None) -> dict[str, Any]:
    """What the major-incident panel and the stakeholder-update section show. Forms that
    came back with errors (in ``given``, the page's context) are shown as they are."""
    user = request.user
    given = given or {}
    can_manage = user.has_perm(major.MANAGE)
    is_open = incident.state in OPEN_STATES
    # The detail page's incident query (selectors.incident_with_related) tells whether
    # there are children and a review: no queries for what is not there.
    has_children = getattr(incident, "has_children", True)
    children = [] if incident.parent_id or not has_children else list(
        incident.children.select_related("requester__profile").order_by("pk"))
    context: dict[str, Any] = {
        "incident": incident,
        "can_manage": can_manage,
        "is_open": is_open,
        "children": children,
        "parent": incident.parent if incident.parent_id else None,
        "can_link_parent": is_open and not children,
        "link_parent_form": given.get("link_parent_form") or LinkParentForm(),
    }
    if incident.is_major:
        context.update({
            "updates": list(incident.stakeholder_updates.all()),
            "can_post_update": can_manage and incident.state in major.UPDATABLE_STATES,
            "update_form": given.get("update_form") or StakeholderUpdateForm(),
            "subscribed": major_selectors.is_subscribed(incident, user),
            "has_review": _has_review(incident),
            "stand_down_form": given.get("stand_down_form") or StandDownForm(),
        })
    elif can_manage and is_open and not incident.parent_id:
        context["declare_form"] = given.get("declare_form") or DeclareMajorForm()
    return context


def _has_review(incident: Incident) -> bool:
    known = getattr(incident, "has_review", None)
    if known is not None:
        return known
    return PostIncidentReview.objects.filter(incident=incident).exists()


def _render_incident(request: HttpRequest, incident: Incident, **forms_: Any) -> HttpResponse:
    context = _detail_context(request, incident)
    context.update(forms_)
    return render(request, "incidents/detail.html", context, status=400)


def _run(request: HttpRequest, form: forms.Form, call: Callable[[], Any]) -> bool:
    """Call the service once the form is valid; its refusal goes onto the form."""
    if not form.is_valid():
        return False
    try:
        call()
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        add_domain_error(form, error)
        return False
    return True


def _back(incident: Incident) -> HttpResponse:
    return redirect("incidents:detail", key=incident.number)


class DeclareMajorView(ManageMajorMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = DeclareMajorForm(request.POST)
        if _run(request, form, lambda: major.incident_declare_major(
                actor=request.user, incident=incident, manager=form.cleaned_data["manager"],
                reason=form.cleaned_data["reason"])):
            messages.success(request, _("%(number)s is now a major incident.") % {
                "number": incident.number})
            return _back(incident)
        return _render_incident(request, incident, declare_form=form)


class StandDownView(ManageMajorMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = StandDownForm(request.POST)
        if _run(request, form, lambda: major.incident_stand_down(
                actor=request.user, incident=incident, reason=form.cleaned_data["reason"])):
            messages.success(request, _("%(number)s is no longer a major incident.") % {
                "number": incident.number})
            return _back(incident)
        return _render_incident(request, incident, stand_down_form=form)


class StakeholderUpdateView(ManageMajorMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = StakeholderUpdateForm(request.POST)
        if _run(request, form, lambda: major.stakeholder_update_post(
                actor=request.user, incident=incident, body=form.cleaned_data["body"])):
            messages.success(request, _("Update posted; subscribers have been told."))
            return _back(incident)
        return _render_incident(request, incident, update_form=form)


class SubscribeView(DeskAccessMixin, View):
    """Follow (or, with ``stop``, stop following) a major incident's updates."""

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        stop = "stop" in request.POST
        try:
            if stop:
                major.incident_unsubscribe(actor=request.user, incident=incident)
            else:
                major.incident_subscribe(actor=request.user, incident=incident)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("You will no longer get updates.") if stop
                             else _("You will get the updates."))
        return _back(incident)


class LinkParentView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        form = LinkParentForm(request.POST)
        if _run(request, form, lambda: services.incident_link_parent(
                actor=request.user, incident=incident, parent=form.cleaned_data["parent"])):
            messages.success(request, _("%(number)s is now a child of %(parent)s.") % {
                "number": incident.number, "parent": form.cleaned_data["parent"].number})
            return _back(incident)
        return _render_incident(request, incident, link_parent_form=form)


class UnlinkView(DeskAccessMixin, View):
    """Take ``child`` out of its parent; back to the page the button was on."""

    def post(self, request: HttpRequest, key: str, child: str) -> HttpResponse:
        incident = _incident_or_404(key)
        child_incident = _incident_or_404(child)
        if child_incident.parent_id != incident.pk:
            raise Http404(_("%(child)s is not a child of %(number)s.") % {
                "child": child_incident.number, "number": incident.number})
        try:
            services.incident_link_parent(actor=request.user, incident=child_incident,
                                          parent=None)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(child)s is no longer linked to %(number)s.") % {
                "child": child_incident.number, "number": incident.number})
        back = child_incident if request.POST.get("back") == "child" else incident
        return _back(back)


# --- The post-incident review ---------------------------------------------------------

def _review_of(incident: Incident) -> PostIncidentReview | None:
    return PostIncidentReview.objects.filter(incident=incident).first()


def _action_form(action: ReviewAction, data: Any = None) -> ReviewActionForm:
    return ReviewActionForm(data, prefix=f"action-{action.pk}", initial={
        "description": action.description, "owner": action.owner_id,
        "due_on": action.due_on})


def _render_review(request: HttpRequest, incident: Incident, *, status: int = 200,
                   review_form: ReviewForm | None = None,
                   action_form: ReviewActionForm | None = None,
                   edited: tuple[int, ReviewActionForm] | None = None,
                   complete_errors: list[str] | None = None) -> HttpResponse:
    review = _review_of(incident)
    if review is None and not incident.is_major:
        raise Http404(_("Only major incidents have a post-incident review."))
    actions = []
    if review is not None:
        for action in review.actions.select_related("owner__profile"):
            form = edited[1] if edited and edited[0] == action.pk else _action_form(action)
            actions.append({"action": action, "form": form,
                            "open": bool(edited and edited[0] == action.pk)})
    can_manage = request.user.has_perm(major.MANAGE)
    return render(request, "incidents/review.html", {
        "incident": incident,
        "review": review,
        "is_draft": review is not None and review.status == ReviewStatus.DRAFT,
        "can_manage": can_manage,
        "timeline": major_selectors.review_timeline(incident),
        "review_form": review_form or (ReviewForm(initial={
            "summary": review.summary, "root_cause": review.root_cause,
            "lessons": review.lessons}) if review else None),
        "action_form": action_form or ReviewActionForm(prefix="new"),
        "actions": actions,
        "complete_errors": complete_errors or [],
    }, status=status)


def _review_or_404(incident: Incident) -> PostIncidentReview:
    review = _review_of(incident)
    if review is None:
        raise Http404(_("This incident has no review yet."))
    return review


def _to_review(incident: Incident) -> HttpResponse:
    return redirect("incidents:review", key=incident.number)


class ReviewView(DeskAccessMixin, View):
    """GET the review page; POST saves the summary, root cause and lessons."""

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        return _render_review(request, _incident_or_404(key))

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        review = _review_or_404(incident)
        form = ReviewForm(request.POST)
        if _run(request, form, lambda: major.review_update(
                actor=request.user, review=review, **form.cleaned_data)):
            messages.success(request, _("Review saved."))
            return _to_review(incident)
        return _render_review(request, incident, status=400, review_form=form)


class ReviewStartView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        try:
            major.review_start(actor=request.user, incident=incident)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
            return _back(incident)
        messages.success(request, _("Review started."))
        return _to_review(incident)


class ReviewCompleteView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        review = _review_or_404(incident)
        try:
            major.review_complete(actor=request.user, review=review)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            # The missing fields at their inputs; the rest (the incident still open)
            # next to the button.
            form = ReviewForm({"summary": review.summary, "root_cause": review.root_cause,
                               "lessons": review.lessons})
            form.is_valid()
            others = []
            for name, problems in error.fields.items():
                for problem in problems:
                    if name in form.fields:
                        form.add_error(name, problem)
                    else:
                        others.append(problem)
            return _render_review(request, incident, status=400, review_form=form,
                                  complete_errors=others if error.fields else [error.message])
        messages.success(request, _("Review completed."))
        return _to_review(incident)


class ReviewActionAddView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        incident = _incident_or_404(key)
        review = _review_or_404(incident)
        form = ReviewActionForm(request.POST, prefix="new")
        if _run(request, form, lambda: major.review_action_add(
                actor=request.user, review=review, **form.cleaned_data)):
            messages.success(request, _("Action added."))
            return _to_review(incident)
        return _render_review(request, incident, status=400, action_form=form)


def _action_of(incident: Incident, pk: int) -> ReviewAction:
    action = ReviewAction.objects.filter(pk=pk, review__incident=incident).select_related(
        "review__incident").first()
    if action is None:
        raise Http404(_("No such action."))
    return action


class ReviewActionEditView(DeskAccessMixin, View):
    """POST edits the action; with ``done`` (1 or 0) it only marks it done or not;
    with ``delete`` it removes it."""

    def post(self, request: HttpRequest, key: str, pk: int) -> HttpResponse:
        incident = _incident_or_404(key)
        action = _action_of(incident, pk)
        try:
            if "delete" in request.POST:
                major.review_action_delete(actor=request.user, action=action)
                messages.success(request, _("Action removed."))
                return _to_review(incident)
            if "done" in request.POST:
                done = request.POST["done"] == "1"
                major.review_action_update(actor=request.user, action=action, done=done)
                messages.success(request, _("Action marked done.") if done
                                 else _("Action open again."))
                return _to_review(incident)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
            return _to_review(incident)
        form = _action_form(action, request.POST)
        if _run(request, form, lambda: major.review_action_update(
                actor=request.user, action=action, **form.cleaned_data)):
            messages.success(request, _("Action saved."))
            return _to_review(incident)
        return _render_review(request, incident, status=400, edited=(action.pk, form))

