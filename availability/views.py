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
from django.utils.translation import gettext_noop
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


class _ServiceRecordFormView(DeskAccessMixin, View):
    """Record something on a service (``service_pk``) or change a record (``pk``): the
    outage and maintenance window forms. Subclasses name the model, form, services and
    words."""

    permission_required = MANAGE_PERMISSIONS
    model: type[Outage] | type[MaintenanceWindow]
    form_class: type[forms.Form]
    fields: tuple[str, ...]
    titles: tuple[str, str]  # (add, change), with %(name)s
    done: tuple[str, str]  # (added, changed)

    def create(self, actor: Any, service: ConfigurationItem, **values: Any) -> Any:
        raise NotImplementedError

    def update(self, actor: Any, record: Any, **values: Any) -> Any:
        raise NotImplementedError

    def _target(self, service_pk: int | None, pk: int | None
                ) -> tuple[ConfigurationItem, Any]:
        if pk is not None:
            record = get_object_or_404(self.model.objects.select_related("service"), pk=pk)
            return record.service, record
        return _service_or_404(service_pk or 0), None

    def _title(self, service: ConfigurationItem, record: Any) -> str:
        return _(self.titles[1] if record else self.titles[0]) % {"name": service.name}

    def get(self, request: HttpRequest, service_pk: int | None = None,
            pk: int | None = None) -> HttpResponse:
        service, record = self._target(service_pk, pk)
        initial = {name: getattr(record, name) for name in self.fields} if record else {}
        return _form_page(request, self.form_class(initial=initial), service,
                          self._title(service, record))

    def post(self, request: HttpRequest, service_pk: int | None = None,
             pk: int | None = None) -> HttpResponse:
        service, record = self._target(service_pk, pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                if record is None:
                    self.create(request.user, service, **form.cleaned_data)
                    messages.success(request, _(self.done[0]))
                else:
                    self.update(request.user, record, **form.cleaned_data)
                    messages.success(request, _(self.done[1]))
                return redirect(_back(service))
            except DomainError as error:
                add_domain_error(form, error)
        return _form_page(request, form, service, self._title(service, record), status=400)


class OutageFormView(_ServiceRecordFormView):
    """Record an outage of a service (``service_pk``) or correct one (``pk``)."""

    model = Outage
    form_class = OutageForm
    fields = ("started_at", "ended_at", "description")
    titles = (gettext_noop("Record an outage of %(name)s"),
              gettext_noop("Correct an outage of %(name)s"))
    done = (gettext_noop("Outage recorded."), gettext_noop("Outage updated."))

    def create(self, actor: Any, service: ConfigurationItem, **values: Any) -> Any:
        return services.outage_record(actor=actor, service=service, **values)

    def update(self, actor: Any, record: Any, **values: Any) -> Any:
        return services.outage_update(actor=actor, outage=record, **values)


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


class MaintenanceFormView(_ServiceRecordFormView):
    """Plan maintenance of a service (``service_pk``) or change a window (``pk``)."""

    model = MaintenanceWindow
    form_class = MaintenanceWindowForm
    fields = ("starts_at", "ends_at", "reason")
    titles = (gettext_noop("Add a maintenance window to %(name)s"),
              gettext_noop("Change a maintenance window of %(name)s"))
    done = (gettext_noop("Maintenance window added."),
            gettext_noop("Maintenance window updated."))

    def create(self, actor: Any, service: ConfigurationItem, **values: Any) -> Any:
        return services.maintenance_window_create(actor=actor, service=service, **values)

    def update(self, actor: Any, record: Any, **values: Any) -> Any:
        return services.maintenance_window_update(actor=actor, window=record, **values)


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
