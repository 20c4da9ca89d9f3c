"""Desk pages of the action library: the actions with their approved and latest versions,
an action's versions and history, and for operators creating an action with its first
draft, editing a draft or the action's own fields, making a new version; for approvers
approving a draft someone else wrote (four eyes) and retiring a version."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from audit.models import AuditEntry
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import services
from .access import ApproverMixin, AuthorMixin, RemediationViewMixin
from .forms import ActionCreateForm, ActionEditForm, VersionForm
from .models import Action, ActionVersion, Run, VersionStatus

HISTORY_SIZE = 50
RECENT_RUNS = 10


def _with_versions() -> Any:
    return Action.objects.prefetch_related(Prefetch(
        "versions", ActionVersion.objects.select_related("author", "approved_by")
        .order_by("-version")))


def _summary(action: Action) -> dict[str, Any]:
    versions = list(action.versions.all())
    approved = next((v for v in versions if v.status == VersionStatus.APPROVED), None)
    return {"action": action, "versions": versions, "latest": versions[0] if versions else None,
            "approved": approved,
            "draft": next((v for v in versions if v.status == VersionStatus.DRAFT), None)}


class ActionListView(RemediationViewMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        rows = [_summary(action) for action in _with_versions().order_by("name")]
        return render(request, "remediation/action_list.html", {
            "rows": rows, "can_author": request.user.has_perm(services.AUTHOR)})


def _history(action: Action, versions: list[ActionVersion]) -> list[AuditEntry]:
    """The action's and its versions' audit entries, newest first."""
    types = ContentType.objects.get_for_models(Action, ActionVersion)
    entries = AuditEntry.objects.filter(
        Q(content_type=types[Action], object_id=str(action.pk))
        | Q(content_type=types[ActionVersion], object_id__in=[str(v.pk) for v in versions])
    ).order_by("-at", "-id")[:HISTORY_SIZE]
    labels = {str(v.pk): f"v{v.version}" for v in versions}
    rows = list(entries)
    for entry in rows:
        entry.subject = labels.get(entry.object_id, "") \
            if entry.content_type_id == types[ActionVersion].pk else ""  # type: ignore[attr-defined]
        entry.lines = [(field, values[0], values[1])  # type: ignore[attr-defined]
                       for field, values in (entry.changes or {}).items()
                       if isinstance(values, list) and len(values) == 2
                       and field not in ("script",)]
    return rows


class ActionDetailView(RemediationViewMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        action = get_object_or_404(_with_versions(), pk=pk)
        summary = _summary(action)
        versions = summary["versions"]
        wanted = request.GET.get("version", "")
        shown = next((v for v in versions if str(v.version) == wanted), None) \
            or summary["approved"] or summary["latest"]
        runs = list(Run.objects.filter(version__action=action).select_related(
            "version", "started_by").order_by("-created_at", "-id")[:RECENT_RUNS])
        return render(request, "remediation/action_detail.html", {
            **summary, "shown": shown, "history": _history(action, versions), "runs": runs,
            "can_author": request.user.has_perm(services.AUTHOR),
            "can_approve": request.user.has_perm(services.APPROVE),
            "can_run": request.user.has_perm("remediation.run_action")})


def _refused(request: HttpRequest, error: DomainError, action_id: int) -> HttpResponse:
    messages.error(request, error.message)
    return redirect("remediation:action_detail", pk=action_id)


class ActionCreateView(AuthorMixin, View):
    def _render(self, request: HttpRequest, form: ActionCreateForm,
                status: int = 200) -> HttpResponse:
        return render(request, "remediation/action_form.html",
                      {"form": form, "creating": True}, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ActionCreateForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ActionCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                version = services.action_create(
                    actor=request.user, name=data["name"], title=data["title"],
                    description=data["description"],
                    resolves_incident=data["resolves_incident"], **form.version_values())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Action “%(name)s” created with draft v1: another "
                                            "person with the approver role approves it.")
                                 % {"name": version.action.name})
                return redirect("remediation:action_detail", pk=version.action_id)
        return self._render(request, form, status=400)


class ActionEditView(AuthorMixin, View):
    def _render(self, request: HttpRequest, action: Action, form: ActionEditForm,
                status: int = 200) -> HttpResponse:
        return render(request, "remediation/action_edit.html",
                      {"form": form, "action": action}, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        action = get_object_or_404(Action, pk=pk)
        return self._render(request, action, ActionEditForm(initial={
            "title": action.title, "description": action.description,
            "resolves_incident": action.resolves_incident}))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        action = get_object_or_404(Action, pk=pk)
        form = ActionEditForm(request.POST)
        if form.is_valid():
            try:
                services.action_update(actor=request.user, action=action, **form.cleaned_data)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Action saved."))
                return redirect("remediation:action_detail", pk=action.pk)
        return self._render(request, action, form, status=400)


class VersionEditView(AuthorMixin, View):
    """A draft's content; an approved or retired version says to make a new one."""

    def _render(self, request: HttpRequest, version: ActionVersion,
                form: VersionForm | None, status: int = 200) -> HttpResponse:
        return render(request, "remediation/action_form.html",
                      {"form": form, "version": version, "action": version.action},
                      status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ActionVersion.objects.select_related("action"), pk=pk)
        if version.status != VersionStatus.DRAFT:
            return self._render(request, version, None)
        return self._render(request, version,
                            VersionForm(initial=VersionForm.initial_from(version)))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ActionVersion.objects.select_related("action"), pk=pk)
        form = VersionForm(request.POST)
        if form.is_valid():
            try:
                services.version_update(actor=request.user, version=version,
                                        **form.version_values())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Draft v%(n)s saved.") % {"n": version.version})
                return redirect(f"{_detail(version)}?version={version.version}")
        return self._render(request, version, form, status=400)


def _detail(version: ActionVersion) -> str:
    return reverse("remediation:action_detail", kwargs={"pk": version.action_id})


class VersionNewView(AuthorMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        action = get_object_or_404(Action, pk=pk)
        try:
            version = services.version_new(actor=request.user, action=action)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            return _refused(request, error, action.pk)
        messages.success(request, _("Draft v%(n)s made from the latest version: edit it, then "
                                    "have it approved.") % {"n": version.version})
        return redirect("remediation:version_edit", pk=version.pk)


class VersionApproveView(ApproverMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ActionVersion, pk=pk)
        try:
            version = services.version_approve(actor=request.user, version=version)
        except DomainError as error:  # four eyes included: said on the page, not a 403
            return _refused(request, error, version.action_id)
        messages.success(request, _("v%(n)s approved: runs now use it.") % {
            "n": version.version})
        return redirect("remediation:action_detail", pk=version.action_id)


class VersionRetireView(ApproverMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ActionVersion, pk=pk)
        try:
            version = services.version_retire(actor=request.user, version=version)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            return _refused(request, error, version.action_id)
        messages.success(request, _("v%(n)s retired: no new run uses it.") % {
            "n": version.version})
        return redirect("remediation:action_detail", pk=version.action_id)
