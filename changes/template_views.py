"""Desk pages of the standard change catalogue: the templates with their current approved
version, a template's versions, and for change managers creating a template, editing its
draft, approving it (once; it supersedes the approved version), making a new version from
the latest and retiring one. Anyone at the desk may use an approved template."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from cmdb.models import ConfigurationItem
from desk.access import DeskAccessMixin
from desk.pickers import lookup_status_id, lookup_term
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import selectors, services
from .models import ChangeState, ChangeTemplate, ChangeTemplateVersion, TemplateStatus
from .template_forms import TemplateCreateForm, TemplateUseForm, TemplateVersionForm

MANAGE = services.MANAGE
LOOKUP_SIZE = 15


class ManagerMixin(DeskAccessMixin):
    """Change managers only (``changes.manage_changes``): others get the 403 page."""

    permission_required = ("accounts.access_desk", MANAGE)


def _template_or_404(pk: int) -> ChangeTemplate:
    template = selectors.templates_with_versions().filter(pk=pk).first()
    if template is None:
        raise Http404(_("No such template."))
    return template


def _version_or_404(pk: int) -> ChangeTemplateVersion:
    return get_object_or_404(ChangeTemplateVersion.objects.select_related("template"), pk=pk)


class TemplateListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        rows = []
        for template in selectors.templates_with_versions():
            rows.append({"template": template,
                         "current": selectors.current_version(template),
                         "latest": selectors.latest_version(template)})
        return render(request, "changes/templates/list.html", {
            "rows": rows, "can_manage": request.user.has_perm(MANAGE)})


class TemplateDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = _template_or_404(pk)
        versions = list(template.versions.all())
        current = selectors.current_version(template)
        draft = next((v for v in versions if v.status == TemplateStatus.DRAFT), None)
        return render(request, "changes/templates/detail.html", {
            "template": template, "versions": versions, "current": current, "draft": draft,
            "shown": current or draft or (versions[0] if versions else None),
            "can_manage": request.user.has_perm(MANAGE)})


def _refused(request: HttpRequest, error: DomainError, pk: int) -> HttpResponse:
    messages.error(request, error.message)
    return redirect("changes:template_detail", pk=pk)


class TemplateCreateView(ManagerMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "changes/templates/form.html",
                      {"form": TemplateCreateForm(), "creating": True})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TemplateCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                version = self._create(request, form)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Template “%(name)s” created as a draft: "
                                            "approve it to use it.") % {"name": data["name"]})
                return redirect("changes:template_detail", pk=version.template_id)
        return render(request, "changes/templates/form.html",
                      {"form": form, "creating": True}, status=400)

    @staticmethod
    def _create(request: HttpRequest, form: TemplateCreateForm) -> ChangeTemplateVersion:
        data = form.cleaned_data
        return services.template_create(
            actor=request.user, name=data["name"],
            template_description=data["template_description"],
            owner_team=data["owner_team"], **form.version_values())


class TemplateVersionEditView(ManagerMixin, View):
    def _render(self, request: HttpRequest, version: ChangeTemplateVersion,
                form: TemplateVersionForm | None, status: int = 200) -> HttpResponse:
        return render(request, "changes/templates/form.html",
                      {"form": form, "version": version, "template": version.template},
                      status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = _version_or_404(pk)
        if version.status != TemplateStatus.DRAFT:
            return self._render(request, version, None)
        return self._render(request, version, TemplateVersionForm(
            initial=TemplateVersionForm.initial_from(version)))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = _version_or_404(pk)
        form = TemplateVersionForm(request.POST)
        if form.is_valid():
            try:
                services.template_version_update(actor=request.user, version=version,
                                                 **form.version_values())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Draft v%(version)s saved.") % {
                    "version": version.version})
                return redirect("changes:template_detail", pk=version.template_id)
        return self._render(request, version, form, status=400)


class TemplateVersionNewView(ManagerMixin, View):
    """A new draft copied from the latest version (how an approved one is changed)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChangeTemplate, pk=pk)
        try:
            version = services.template_version_create(actor=request.user, template=template)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            return _refused(request, error, template.pk)
        messages.success(request, _("Draft v%(version)s made from the latest version.") % {
            "version": version.version})
        return redirect("changes:template_version_edit", pk=version.pk)


class TemplateVersionApproveView(ManagerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = _version_or_404(pk)
        try:
            version = services.template_version_approve(actor=request.user, version=version)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            return _refused(request, error, version.template_id)
        messages.success(request, _("v%(version)s approved: standard changes are now made "
                                    "from it.") % {"version": version.version})
        return redirect("changes:template_detail", pk=version.template_id)


class TemplateVersionRetireView(ManagerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = _version_or_404(pk)
        try:
            version = services.template_version_retire(actor=request.user, version=version)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            return _refused(request, error, version.template_id)
        messages.success(request, _("v%(version)s retired: no new changes are made from "
                                    "it.") % {"version": version.version})
        return redirect("changes:template_detail", pk=version.template_id)


# --- Using a template ---------------------------------------------------------------------

class TemplateUseView(DeskAccessMixin, View):
    """A standard change from the template's approved version, optionally scheduled at
    once (it needs no approval). A template without one is refused on the page."""

    def _render(self, request: HttpRequest, template: ChangeTemplate,
                version: ChangeTemplateVersion | None, form: TemplateUseForm | None,
                status: int = 200) -> HttpResponse:
        return render(request, "changes/templates/use.html",
                      {"template": template, "version": version, "form": form},
                      status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = _template_or_404(pk)
        version = selectors.current_version(template)
        if version is None:
            return self._render(request, template, None, None)
        form = TemplateUseForm(template=template, version=version)
        return self._render(request, template, version, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = _template_or_404(pk)
        version = selectors.current_version(template)
        if version is None:
            return self._render(request, template, None, None, status=400)
        form = TemplateUseForm(request.POST, template=template, version=version)
        if form.is_valid():
            try:
                change = self._create(request, template, form)
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s created from “%(template)s”%(how)s.")
                                 % {"number": change.number, "template": template.name,
                                    "how": _(" and scheduled") if change.state
                                    == ChangeState.SCHEDULED else ""})
                return redirect("changes:detail", pk=change.pk)
        return self._render(request, template, version, form, status=400)

    @staticmethod
    def _create(request: HttpRequest, template: ChangeTemplate,
                form: TemplateUseForm) -> Any:
        """Create, and schedule when asked, in one transaction: a refused schedule (a
        freeze) leaves no change behind."""
        with transaction.atomic():
            change = services.change_create_from_template(
                actor=request.user, template=template, **form.service_values())
            if form.cleaned_data["schedule"]:
                change = services.change_transition(actor=request.user, change=change,
                                                    to_state=ChangeState.SCHEDULED)
        return change


class TemplateCILookupView(DeskAccessMixin, View):
    """CI suggestions for a template's use form: only the classes it allows."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(ChangeTemplate, pk=pk)
        version = services.template_current_version(template)
        text = lookup_term(request)
        items: list[ConfigurationItem] = []
        searched = len(text) >= 2 or text.isdigit()
        if searched and version is not None:
            query = Q(name__icontains=text) | Q(hostname__istartswith=text)
            if text.isdigit():
                query |= Q(pk=int(text))
            found = ConfigurationItem.objects.filter(query).select_related("ci_class")
            classes = list(version.allowed_ci_classes.values_list("pk", flat=True))
            if classes:
                found = found.filter(ci_class_id__in=classes)
            items = list(found.order_by("name", "id")[:LOOKUP_SIZE])
        return render(request, "cmdb/_ci_options.html", {
            "items": items, "status_id": lookup_status_id(request),
            "count": len(items) if searched else None})
