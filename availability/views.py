"""Desk pages: the monthly availability report (and its CSV), and the forms that record
outages, plan maintenance and set targets. The service's own figures are shown on its
CMDB page (``availability_tags.service_availability``); these forms return there."""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from cmdb.models import ConfigurationItem
from desk.access import DeskAccessMixin
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from . import selectors, services
from .forms import MaintenanceWindowForm, MonthForm, OutageForm, TargetForm
from .models import MaintenanceWindow, Outage

MANAGE_PERMISSIONS = ("accounts.access_desk", services.MANAGE)
CSV_COLUMNS = ("service", "class", "month", "availability_percent", "target_percent",
               "target_met", "agreed_minutes", "downtime_minutes", "outages")


def _service_or_404(pk: int) -> ConfigurationItem:
    return get_object_or_404(selectors.business_services(), pk=pk)


def _back(service: ConfigurationItem) -> str:
    return reverse("cmdb:ci_detail", args=[service.pk]) + "#availability"


# --- Report ---------------------------------------------------------------------------

def _chosen_month(request: HttpRequest) -> tuple[MonthForm, tuple[int, int]]:
    year, month = selectors.current_month()
    data = {"month": request.GET.get("month") or f"{year:04d}-{month:02d}"}
    form = MonthForm(data)
    chosen = form.cleaned_data["month"] if form.is_valid() else None
    return form, chosen or (year, month)


class ReportView(DeskAccessMixin, View):
    """All business services over one month, worst first."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form, (year, month) = _chosen_month(request)
        key = f"{year:04d}-{month:02d}"
        return render(request, "availability/report.html", {
            "form": form, "rows": selectors.month_report(year, month), "month_key": key,
            "month_first_day": datetime.date(year, month, 1),
        }, status=200 if form.is_valid() else 400)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _safe(cell: str) -> str:
    # Spreadsheets run cells that start with these as formulas (CSV injection).
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _minutes(delta: Any) -> str:
    return f"{delta.total_seconds() / 60:.1f}"


def _csv_rows(rows: list[selectors.ReportRow], key: str) -> Iterator[list[str]]:
    yield list(CSV_COLUMNS)
    for row in rows:
        figures, target = row.month.figures, row.month.target
        met = row.month.met
        yield [_safe(row.service.name), _safe(row.service.ci_class.name), key,
               "" if figures.percent is None else str(figures.percent),
               "" if target is None else str(target),
               "" if met is None else ("yes" if met else "no"),
               _minutes(figures.agreed), _minutes(figures.downtime), str(row.outage_count)]


class ReportExportView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, (year, month) = _chosen_month(request)
        if not form.is_valid():
            return HttpResponse(" ".join(form.errors["month"]), status=400,
                                content_type="text/plain; charset=utf-8")
        key = f"{year:04d}-{month:02d}"
        writer = csv.writer(_Echo())
        rows = selectors.month_report(year, month)
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in _csv_rows(rows, key)),
            content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="availability-{key}.csv"'
        return response


# --- Forms ----------------------------------------------------------------------------

def _form_page(request: HttpRequest, form: forms.Form, service: ConfigurationItem,
               title: str, status: int = 200) -> HttpResponse:
    return render(request, "availability/form.html",
                  {"form": form, "service": service, "title": title,
                   "back_url": _back(service)}, status=status)


class OutageFormView(DeskAccessMixin, View):
    """Record an outage of a service (``service_pk``) or correct one (``pk``)."""

    permission_required = MANAGE_PERMISSIONS

    def _target(self, service_pk: int | None, pk: int | None
                ) -> tuple[ConfigurationItem, Outage | None]:
        if pk is not None:
            outage = get_object_or_404(Outage.objects.select_related("service"), pk=pk)
            return outage.service, outage
        return _service_or_404(service_pk or 0), None

    def _title(self, service: ConfigurationItem, outage: Outage | None) -> str:
        return (_("Correct an outage of %(name)s") if outage else
                _("Record an outage of %(name)s")) % {"name": service.name}

    def get(self, request: HttpRequest, service_pk: int | None = None,
            pk: int | None = None) -> HttpResponse:
        service, outage = self._target(service_pk, pk)
        initial = ({"started_at": outage.started_at, "ended_at": outage.ended_at,
                    "description": outage.description} if outage else {})
        return _form_page(request, OutageForm(initial=initial), service,
                          self._title(service, outage))

    def post(self, request: HttpRequest, service_pk: int | None = None,
             pk: int | None = None) -> HttpResponse:
        service, outage = self._target(service_pk, pk)
        form = OutageForm(request.POST)
        if form.is_valid():
            try:
                if outage is None:
                    services.outage_record(actor=request.user, service=service,
                                           **form.cleaned_data)
                    messages.success(request, _("Outage recorded."))
                else:
                    services.outage_update(actor=request.user, outage=outage,
                                           **form.cleaned_data)
                    messages.success(request, _("Outage updated."))
                return redirect(_back(service))
            except DomainError as error:
                add_domain_error(form, error)
        return _form_page(request, form, service, self._title(service, outage), status=400)


class OutageEndView(DeskAccessMixin, View):
    permission_required = MANAGE_PERMISSIONS

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        outage = get_object_or_404(Outage.objects.select_related("service"), pk=pk)
        try:
            services.outage_end(actor=request.user, outage=outage)
            messages.success(request, _("Outage ended."))
        except DomainError as error:
            messages.error(request, error.message)
        return redirect(_back(outage.service))


class OutageDeleteView(DeskAccessMixin, View):
    permission_required = MANAGE_PERMISSIONS

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        outage = get_object_or_404(Outage.objects.select_related("service"), pk=pk)
        try:
            services.outage_delete(actor=request.user, outage=outage)
            messages.success(request, _("Outage removed."))
        except DomainError as error:
            messages.error(request, error.message)
        return redirect(_back(outage.service))


class MaintenanceFormView(DeskAccessMixin, View):
    """Plan maintenance of a service (``service_pk``) or change a window (``pk``)."""

    permission_required = MANAGE_PERMISSIONS

    def _target(self, service_pk: int | None, pk: int | None
                ) -> tuple[ConfigurationItem, MaintenanceWindow | None]:
        if pk is not None:
            window = get_object_or_404(MaintenanceWindow.objects.select_related("service"),
                                       pk=pk)
            return window.service, window
        return _service_or_404(service_pk or 0), None

    def _title(self, service: ConfigurationItem, window: MaintenanceWindow | None) -> str:
        return (_("Change a maintenance window of %(name)s") if window else
                _("Add a maintenance window to %(name)s")) % {"name": service.name}

    def get(self, request: HttpRequest, service_pk: int | None = None,
            pk: int | None = None) -> HttpResponse:
        service, window = self._target(service_pk, pk)
        initial = ({"starts_at": window.starts_at, "ends_at": window.ends_at,
                    "reason": window.reason} if window else {})
        return _form_page(request, MaintenanceWindowForm(initial=initial), service,
                          self._title(service, window))

    def post(self, request: HttpRequest, service_pk: int | None = None,
             pk: int | None = None) -> HttpResponse:
        service, window = self._target(service_pk, pk)
        form = MaintenanceWindowForm(request.POST)
        if form.is_valid():
            try:
                if window is None:
                    services.maintenance_window_create(actor=request.user, service=service,
                                                       **form.cleaned_data)
                    messages.success(request, _("Maintenance window added."))
                else:
                    services.maintenance_window_update(actor=request.user, window=window,
                                                       **form.cleaned_data)
                    messages.success(request, _("Maintenance window updated."))
                return redirect(_back(service))
            except DomainError as error:
                add_domain_error(form, error)
        return _form_page(request, form, service, self._title(service, window), status=400)


class MaintenanceDeleteView(DeskAccessMixin, View):
    permission_required = MANAGE_PERMISSIONS

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        window = get_object_or_404(MaintenanceWindow.objects.select_related("service"), pk=pk)
        services.maintenance_window_delete(actor=request.user, window=window)
        messages.success(request, _("Maintenance window removed."))
        return redirect(_back(window.service))


class TargetFormView(DeskAccessMixin, View):
    permission_required = MANAGE_PERMISSIONS

    def _title(self, service: ConfigurationItem) -> str:
        return _("Availability target of %(name)s") % {"name": service.name}

    def get(self, request: HttpRequest, service_pk: int) -> HttpResponse:
        service = _service_or_404(service_pk)
        target = selectors.target_of(service)
        form = TargetForm(initial={"target_percent": target if target is not None else ""})
        return _form_page(request, form, service, self._title(service))

    def post(self, request: HttpRequest, service_pk: int) -> HttpResponse:
        service = _service_or_404(service_pk)
        form = TargetForm(request.POST)
        if form.is_valid():
            try:
                target = services.availability_target_set(
                    actor=request.user, service=service,
                    target_percent=form.cleaned_data["target_percent"])
                messages.success(request, _("Target set to %(percent)s%%.") % {
                    "percent": target.target_percent} if target else _("Target removed."))
                return redirect(_back(service))
            except DomainError as error:
                add_domain_error(form, error)
        return _form_page(request, form, service, self._title(service), status=400)
