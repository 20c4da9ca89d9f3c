"""Desk pages of trend detection: the proposals (open, accepted, dismissed) with their
incidents and why they were proposed, a proposal's page with its history, and for
problem managers accepting (to the new problem) or dismissing with a reason."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import selectors, services
from .filtersets import ProposalFilterSet
from .forms import AcceptForm, DismissForm
from .models import ClusterKind, Proposal, ProposalState, TrendSettings

PAGE_SIZE = 20
TABS = ((ProposalState.OPEN, _("Open")), (ProposalState.ACCEPTED, _("Accepted")),
        (ProposalState.DISMISSED, _("Dismissed")))


def problem_url(problem: Any) -> str:
    return reverse("problems:detail", args=[problem.number])


def _with_links(proposals: Any) -> list[Proposal]:
    rows = list(proposals)
    for proposal in rows:
        proposal.problem_url = (  # type: ignore[attr-defined]
            problem_url(proposal.problem) if proposal.problem_id else None)
    return rows


class ProposalListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        state = request.GET.get("state") or ProposalState.OPEN
        if state not in ProposalState.values:
            state = ProposalState.OPEN
        kind = request.GET.get("kind", "")
        filterset = ProposalFilterSet({"state": state, "kind": kind},
                                      queryset=selectors.proposals())
        page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
        querystring = f"state={state}" + (f"&kind={kind}" if kind in ClusterKind.values
                                          else "")
        return render(request, "trends/list.html", {
            "page": page, "proposals": _with_links(page.object_list), "state": state, "tabs": TABS,
            "kind": kind, "kinds": ClusterKind.choices, "querystring": querystring,
            "config": TrendSettings.current(),
            "can_decide": request.user.has_perm(services.DECIDE)})


class ProposalDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_detail(request, pk)


def render_detail(request: HttpRequest, pk: int, *, accept_form: AcceptForm | None = None,
                  dismiss_form: DismissForm | None = None, status: int = 200) -> HttpResponse:
    proposal = _with_links([get_object_or_404(selectors.proposals(), pk=pk)])[0]
    return render(request, "trends/detail.html", {
        "proposal": proposal, "history": selectors.proposal_history(proposal),
        "accept_form": accept_form or AcceptForm(),
        "dismiss_form": dismiss_form or DismissForm(),
        "can_decide": request.user.has_perm(services.DECIDE)}, status=status)


class _DecideMixin(DeskAccessMixin):
    permission_required = ("accounts.access_desk", services.DECIDE)


class ProposalAcceptView(_DecideMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        proposal = get_object_or_404(selectors.proposals(), pk=pk)
        form = AcceptForm(request.POST)
        if form.is_valid():
            try:
                problem = services.proposal_accept(actor=request.user, proposal=proposal,
                                                   title=form.cleaned_data["title"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s opened from the proposal, with its "
                                            "incidents linked.") % {"number": problem.number})
                return redirect(problem_url(problem))
        return render_detail(request, pk, accept_form=form, status=400)


class ProposalDismissView(_DecideMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        proposal = get_object_or_404(selectors.proposals(), pk=pk)
        form = DismissForm(request.POST)
        if form.is_valid():
            try:
                services.proposal_dismiss(actor=request.user, proposal=proposal,
                                          reason=form.cleaned_data["reason"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Proposal dismissed: it comes back only if its "
                                            "cluster grows."))
                return redirect("trends:list")
        return render_detail(request, pk, dismiss_form=form, status=400)


class ProposalLinkNewView(_DecideMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        proposal = get_object_or_404(selectors.proposals(), pk=pk)
        try:
            count = services.proposal_link_new(actor=request.user, proposal=proposal)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(count)d incidents linked to %(number)s.") % {
                "count": count, "number": proposal.problem.number})
        return redirect("trends:detail", pk=pk)
