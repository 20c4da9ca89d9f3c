"""Desk pages of the CSV import: upload, preview (then the result), apply, cancel. The
work is in :mod:`cmdb.imports`; these pages only read the form and show the plan."""

from __future__ import annotations

import csv
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from . import imports
from .models import CIClass, ImportJob, ImportKind, ImportStatus, RelationshipType

ROWS_PER_PAGE = 100
RECENT_JOBS = 10
ACTION_BADGES = {imports.CREATE: "badge-green", imports.UPDATE: "badge-blue",
                 imports.UNCHANGED: "badge-grey", imports.REJECT: "badge-red"}
OUTCOME_BADGES = {imports.CREATED: "badge-green", imports.UPDATED: "badge-blue",
                  imports.UNCHANGED: "badge-grey", imports.FAILED: "badge-red"}


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("The file holds"), choices=ImportKind.choices,
                             initial=ImportKind.CIS, widget=forms.RadioSelect)
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8 text, comma-separated, with a header row; at most 5 MB "
                               "and 5,000 rows."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        try:
            imports.check_file_size(upload.size)
        except DomainError as error:
            raise forms.ValidationError(
                imports.file_error_naming(upload.name, error).message) from None
        return upload


class ImportAccessMixin(DeskAccessMixin):
    permission_required = ("accounts.access_desk", imports.PERMISSION)


def _own_job(request: HttpRequest, pk: int) -> ImportJob:
    return get_object_or_404(ImportJob.objects.filter(created_by=request.user), pk=pk)


class ImportUploadView(ImportAccessMixin, View):
    def _render(self, request: HttpRequest, form: ImportUploadForm,
                status: int = 200) -> HttpResponse:
        return render(request, "cmdb/import/upload.html", {
            "form": form,
            "classes": CIClass.objects.prefetch_related("attributes"),
            "relationship_types": RelationshipType.objects.prefetch_related(
                "allowed_sources", "allowed_targets"),
            "base_columns": imports.BASE_COLUMNS,
            "reference_help": imports.CI_REFERENCE_HELP,
            "recent": ImportJob.objects.filter(created_by=request.user).defer(
                "rows")[:RECENT_JOBS],
        }, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ImportUploadForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = imports.import_preview(actor=request.user,
                                             kind=form.cleaned_data["kind"],
                                             filename=upload.name, data=upload.read())
            except DomainError as error:
                add_domain_error(form, error)
            else:
                return redirect("cmdb:import_job", pk=job.pk)
        return self._render(request, form, status=400)


class ImportTemplateView(ImportAccessMixin, View):
    """An empty file with the header row, to fill in."""

    def get(self, request: HttpRequest, kind: str) -> HttpResponse:
        if kind not in ImportKind.values:
            raise Http404
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{kind}.csv"'
        response.write("\ufeff")  # so spreadsheets open it as UTF-8
        csv.writer(response).writerow(imports.template_header(kind))
        return response


class ImportJobView(ImportAccessMixin, View):
    """The preview of an upload (with apply and cancel) and, once applied, its result."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = _own_job(request, pk)
        counts = imports.counts_of(job.rows)
        show = request.GET.get("show", "")
        rows = [self._row(row) for row in job.rows
                if not show or row["action"] == show
                or (row.get("result") or {}).get("outcome") == show]
        page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
        actions = [(imports.CREATE, _("To create")), (imports.UPDATE, _("To update")),
                   (imports.UNCHANGED, _("Unchanged")), (imports.REJECT, _("Rejected"))]
        if job.kind == ImportKind.RELATIONSHIPS:  # a relationship is created or not
            actions.pop(1)
        filters = [("", _("All rows"), len(job.rows))] + [
            (action, label, counts[action]) for action, label in actions]
        if job.status == ImportStatus.APPLIED:
            filters.append((imports.FAILED, _("Failed"),
                            len(job.summary.get("failed", []))))
        return render(request, "cmdb/import/job.html", {
            "job": job, "counts": counts, "valid": counts[imports.CREATE]
            + counts[imports.UPDATE], "page": page, "show": show, "filters": filters,
            "querystring": f"show={show}" if show else "",
            "summary": job.summary, "is_preview": job.status == ImportStatus.PREVIEW,
        })

    @staticmethod
    def _row(row: dict[str, Any]) -> dict[str, Any]:
        result = row.get("result") or {}
        return {**row, "badge": ACTION_BADGES.get(row["action"], "badge-grey"),
                "outcome": result.get("outcome", ""),
                "outcome_badge": OUTCOME_BADGES.get(result.get("outcome", ""), ""),
                "outcome_reasons": result.get("reasons", [])}


class ImportApplyView(ImportAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = _own_job(request, pk)
        try:
            job = imports.import_apply(actor=request.user, job=job)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("cmdb:import_job", pk=job.pk)
        job.refresh_from_db()
        if job.status == ImportStatus.APPLIED:  # a fast worker (or eager tasks) finished
            counts = job.summary["counts"]
            text = _("Import applied: %(created)d created, %(updated)d updated.") % counts
            if counts["failed"]:
                messages.warning(request, text + " " + _(
                    "%(failed)d rows failed and were not imported: see why below.") % counts)
            else:
                messages.success(request, text)
        else:
            messages.info(request, _("Import started: the rows are being written."))
        return redirect("cmdb:import_job", pk=job.pk)


class ImportCancelView(ImportAccessMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = _own_job(request, pk)
        try:
            imports.import_cancel(actor=request.user, job=job)
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("cmdb:import_job", pk=job.pk)
        messages.success(request, _("Import of %(file)s cancelled: nothing was written.")
                         % {"file": job.filename})
        return redirect("cmdb:import_upload")
