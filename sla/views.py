"""Desk pages for service levels: agreements (grouped by kind, in the order they are
tried, with their conditions, targets and thresholds) and business calendars (weekly
intervals, holidays, exceptions, a preview of the next working periods). Desk agents
may look; changing needs ``sla.manage_sla``. Writes go through ``sla.services``."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import selectors, services
from .forms import (
    THRESHOLD_ROWS,
    AgreementForm,
    CalendarForm,
    ExceptionForm,
    GenerateHolidaysForm,
    HolidayForm,
    PreviewForm,
    TargetForm,
    ThresholdForm,
)
from .models import Agreement, BusinessCalendar, CalendarException, Holiday, Metric

MANAGE = ("accounts.access_desk", services.PERMISSION)


def _time_zones() -> list[str]:
    return sorted(available_timezones())


# --- Calendars ------------------------------------------------------------------------

class CalendarListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "sla/calendar_list.html",
                      {"calendars": selectors.calendars_with_use()})


def _calendar_form_initial(calendar: BusinessCalendar) -> dict[str, Any]:
    weekly = services.weekly_labels(services._weekly_of(calendar))
    initial: dict[str, Any] = {name: getattr(calendar, name)
                               for name in services.CALENDAR_FIELDS}
    initial.update({day: ", ".join(labels) for day, labels in weekly.items()})
    return initial


def _preview_context(request: HttpRequest, calendar: BusinessCalendar) -> dict[str, Any]:
    form = PreviewForm(request.GET or None)
    start, count = None, selectors.PREVIEW_PERIODS
    if form.is_bound and form.is_valid():
        if form.cleaned_data["start"]:
            start = dt.datetime.combine(form.cleaned_data["start"], dt.time(),
                                        tzinfo=ZoneInfo(calendar.time_zone))
        count = form.cleaned_data["count"] or count
    periods, exhausted = selectors.calendar_preview(calendar, start=start, count=count)
    return {"preview_form": form, "periods": periods, "exhausted": exhausted}


def _calendar_context(request: HttpRequest, calendar: BusinessCalendar,
                      **forms: Any) -> dict[str, Any]:
    can_manage = request.user.has_perm(services.PERMISSION)
    context = {
        "calendar": calendar, "can_manage": can_manage,
        "holidays": list(calendar.holidays.all()),
        "exceptions": [(e, services.format_intervals(e.intervals))
                       for e in calendar.exceptions.all()],
        "targets": list(calendar.targets.select_related("agreement")),
        "time_zones": _time_zones() if can_manage else [],
        **_preview_context(request, calendar),
    }
    if can_manage:
        context.setdefault("form", CalendarForm(initial=_calendar_form_initial(calendar)))
        context["holiday_form"] = HolidayForm()
        context["generate_form"] = GenerateHolidaysForm(calendar=calendar)
        context["exception_form"] = ExceptionForm()
    else:
        context["weekly"] = services.weekly_labels(services._weekly_of(calendar))
    context.update(forms)
    return context


def _service_call(form: Any, call: Any) -> Any:
    """Run a service; a permission refusal is the 403 page, any other refusal goes on
    the form. Returns the result, or None when refused."""
    try:
        return call()
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        adder = getattr(form, "add_service_error", None)
        if adder is not None:
            adder(error)
        else:
            add_domain_error(form, error)
        return None


class CalendarCreateView(DeskAccessMixin, View):
    permission_required = MANAGE

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {day: "09:00-17:00" for day in services.DAY_KEYS[:5]}
        return render(request, "sla/calendar_form.html",
                      {"form": CalendarForm(initial={"time_zone": "UTC", **initial}),
                       "time_zones": _time_zones()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CalendarForm(request.POST)
        if form.is_valid():
            fields, weekly = form.values()
            calendar = _service_call(form, lambda: services.calendar_create(
                actor=request.user, weekly=weekly, **fields))
            if calendar is not None:
                messages.success(request, _("Calendar %(name)s created.") % {
                    "name": calendar.name})
                return redirect("sla:calendar_detail", calendar.pk)
        return render(request, "sla/calendar_form.html",
                      {"form": form, "time_zones": _time_zones()}, status=400)


class CalendarDetailView(DeskAccessMixin, View):
    """The calendar: viewable by the desk, its form saved by managers."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        if request.htmx and request.GET.get("section") == "preview":
            return render(request, "sla/_calendar_preview.html",
                          {"calendar": calendar, **_preview_context(request, calendar)})
        return render(request, "sla/calendar_detail.html", _calendar_context(request, calendar))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm(services.PERMISSION):
            raise PermissionDenied
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        form = CalendarForm(request.POST)
        if form.is_valid():
            fields, weekly = form.values()
            saved = _service_call(form, lambda: services.calendar_update(
                actor=request.user, calendar=calendar, weekly=weekly, **fields))
            if saved is not None:
                messages.success(request, _("Changes saved."))
                return redirect("sla:calendar_detail", calendar.pk)
        return render(request, "sla/calendar_detail.html",
                      _calendar_context(request, calendar, form=form), status=400)


class CalendarDeleteView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        try:
            services.calendar_delete(actor=request.user, calendar=calendar)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("sla:calendar_detail", calendar.pk)
        messages.success(request, _("Calendar %(name)s deleted.") % {"name": calendar.name})
        return redirect("sla:calendar_list")


def _calendar_section(request: HttpRequest, calendar: BusinessCalendar, section: str,
                      status: int = 200, **forms: Any) -> HttpResponse:
    """After a change to the calendar's ``section`` ("holidays" or "exceptions"): htmx
    gets that section (and the refreshed preview, out of band); a plain post the page."""
    if request.htmx:
        context = _calendar_context(request, calendar, **forms)
        context["oob_preview"] = True
        return render(request, f"sla/_calendar_{section}.html", context, status=status)
    if status == 200:
        return redirect(reverse("sla:calendar_detail", args=[calendar.pk]) + f"#{section}")
    return render(request, "sla/calendar_detail.html",
                  _calendar_context(request, calendar, **forms), status=status)


class HolidayAddView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        form = HolidayForm(request.POST)
        if form.is_valid() and _service_call(form, lambda: services.holiday_add(
                actor=request.user, calendar=calendar, **form.cleaned_data)):
            messages.success(request, _("Holiday added."))
            return _calendar_section(request, calendar, "holidays")
        return _calendar_section(request, calendar, "holidays", status=400, holiday_form=form)


class HolidayRemoveView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int, holiday_pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        holiday = get_object_or_404(Holiday, calendar=calendar, pk=holiday_pk)
        try:
            services.holiday_remove(actor=request.user, holiday=holiday)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        messages.success(request, _("Holiday %(date)s removed.") % {
            "date": f"{holiday.date:%Y-%m-%d}"})
        return _calendar_section(request, calendar, "holidays")


class HolidaysGenerateView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        form = GenerateHolidaysForm(request.POST, calendar=calendar)
        if form.is_valid():
            data = form.cleaned_data
            added = _service_call(form, lambda: services.holidays_generate(
                actor=request.user, calendar=calendar, year=data["year"],
                country=data["holiday_country"], subdivision=data["holiday_subdivision"]))
            if added is not None:
                messages.success(request, _("%(count)s holidays added for %(year)s.") % {
                    "count": len(added), "year": data["year"]})
                return _calendar_section(request, calendar, "holidays")
        return _calendar_section(request, calendar, "holidays", status=400, generate_form=form)


class ExceptionSetView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        form = ExceptionForm(request.POST)
        if form.is_valid() and _service_call(form, lambda: services.exception_set(
                actor=request.user, calendar=calendar, **form.cleaned_data)):
            messages.success(request, _("Exception saved."))
            return _calendar_section(request, calendar, "exceptions")
        return _calendar_section(request, calendar, "exceptions", status=400, exception_form=form)


class ExceptionRemoveView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int, exception_pk: int) -> HttpResponse:
        calendar = get_object_or_404(BusinessCalendar, pk=pk)
        exception = get_object_or_404(CalendarException, calendar=calendar, pk=exception_pk)
        try:
            services.exception_remove(actor=request.user, exception=exception)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
            return _calendar_section(request, calendar, "exceptions", status=400)
        messages.success(request, _("Exception removed."))
        return _calendar_section(request, calendar, "exceptions")


# --- Agreements -----------------------------------------------------------------------

class AgreementListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "sla/agreement_list.html", {
            "groups": selectors.agreements_by_kind(),
            "can_manage": request.user.has_perm(services.PERMISSION)})


class AgreementMoveView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        agreement = get_object_or_404(Agreement, pk=pk)
        try:
            services.agreement_move(actor=request.user, agreement=agreement,
                                    direction=request.POST.get("direction", ""))
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        if request.htmx:
            return render(request, "sla/_agreement_groups.html", {
                "groups": selectors.agreements_by_kind(), "can_manage": True})
        return redirect("sla:agreement_list")


class AgreementDeleteView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        agreement = get_object_or_404(Agreement, pk=pk)
        try:
            deleted = services.agreement_delete(actor=request.user, agreement=agreement)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        if deleted:
            messages.success(request, _("%(name)s deleted.") % {"name": agreement.name})
        else:
            messages.warning(request, _("Tickets were measured against %(name)s: it is kept "
                                        "for their history and deactivated instead.")
                             % {"name": agreement.name})
        return redirect("sla:agreement_list")


class AgreementFormView(DeskAccessMixin, View):
    """Create or edit an agreement with its three possible targets, each with up to
    ``THRESHOLD_ROWS`` thresholds. Viewers see the same page read-only."""

    def _forms(self, request: HttpRequest, agreement: Agreement | None
               ) -> tuple[AgreementForm, list[TargetForm]]:
        data = request.POST if request.method == "POST" else None
        targets = {t.metric: t for t in agreement.targets.prefetch_related("thresholds")
                   } if agreement else {}
        form = AgreementForm(data, initial=AgreementForm.initial_of(agreement)
                             if agreement else {"is_active": True})
        target_forms = []
        for metric in Metric.values:
            target = targets.get(metric)
            if target is not None:
                initial = TargetForm.initial_of(target)
                rows = [{"percent": t.percent, "actions": t.actions,
                         "reassign_to": t.reassign_to_id,
                         "working_hours_only": t.working_hours_only}
                        for t in target.thresholds.all()]
            else:
                initial = {"enabled": agreement is None and metric != Metric.NEXT_UPDATE,
                           "pause_on": list(services.Target._meta.get_field(
                               "pause_on").get_default())}
                rows = [{"percent": p} for p in services.DEFAULT_THRESHOLDS]
            target_form = TargetForm(data, metric=metric, initial=initial)
            rows += [{}] * max(0, THRESHOLD_ROWS - len(rows))
            target_form.thresholds = [ThresholdForm(data, prefix=f"{metric}-t{index}",
                                                    initial=row)
                                      for index, row in enumerate(rows)]
            target_forms.append(target_form)
        return form, target_forms

    def _render(self, request: HttpRequest, agreement: Agreement | None,
                form: AgreementForm, target_forms: list[TargetForm],
                status: int = 200) -> HttpResponse:
        can_manage = request.user.has_perm(services.PERMISSION)
        if not can_manage:
            for each in [form, *target_forms, *(t for f in target_forms for t in f.thresholds)]:
                for field in each.fields.values():
                    field.disabled = True
        return render(request, "sla/agreement_form.html", {
            "agreement": agreement, "form": form, "target_forms": target_forms,
            "can_manage": can_manage}, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        agreement = get_object_or_404(Agreement, pk=pk) if pk else None
        if agreement is None and not request.user.has_perm(services.PERMISSION):
            raise PermissionDenied
        return self._render(request, agreement, *self._forms(request, agreement))

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        if not request.user.has_perm(services.PERMISSION):
            raise PermissionDenied
        agreement = get_object_or_404(Agreement, pk=pk) if pk else None
        form, target_forms = self._forms(request, agreement)
        valid = form.is_valid()
        sent: list[tuple[TargetForm, list[ThresholdForm]]] = []
        for target_form in target_forms:
            valid = target_form.is_valid() and valid
            thresholds_valid = all([t.is_valid() for t in target_form.thresholds])
            valid = valid and thresholds_valid
            if target_form.is_valid() and target_form.cleaned_data["enabled"]:
                filled = [t for t in target_form.thresholds if t.is_valid() and not t.is_blank()]
                sent.append((target_form, filled))
        if valid:
            values = form.values()
            values["targets"] = [{
                "metric": target_form.metric.value,
                "goal_minutes": target_form.cleaned_data["goal_minutes"],
                "calendar": target_form.cleaned_data["calendar"],
                **{key: target_form.cleaned_data[key]
                   for key in ("start_on", "pause_on", "stop_on", "cancel_on", "reset_on")},
                "thresholds": [t.values() for t in filled] or None,
            } for target_form, filled in sent]
            try:
                if agreement is None:
                    agreement = services.agreement_create(actor=request.user, **values)
                    messages.success(request, _("%(name)s created.") % {"name": agreement.name})
                else:
                    services.agreement_update(actor=request.user, agreement=agreement, **values)
                    messages.success(request, _("Changes saved."))
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                _place_agreement_error(error, form, sent)
            else:
                return redirect("sla:agreement_list")
        return self._render(request, agreement, form, target_forms, status=400)


def _place_agreement_error(error: DomainError, form: AgreementForm,
                           sent: list[tuple[TargetForm, list[ThresholdForm]]]) -> None:
    """``targets.<i>.<field>`` and ``targets.<i>.thresholds.<j>.<field>`` go to the
    target and threshold forms they were built from; the rest to the agreement form."""
    rest: dict[str, list[str]] = {}
    for name, field_messages in error.fields.items():
        parts = name.split(".")
        target_form = threshold_form = None
        if parts[0] == "targets" and len(parts) >= 2 and parts[1].isdigit() \
                and int(parts[1]) < len(sent):
            target_form, thresholds = sent[int(parts[1])]
            if len(parts) >= 5 and parts[2] == "thresholds" and parts[3].isdigit() \
                    and int(parts[3]) < len(thresholds):
                threshold_form = thresholds[int(parts[3])]
        destination, field = ((threshold_form, parts[-1]) if threshold_form is not None
                              else (target_form, parts[-1]) if target_form is not None
                              else (form, name))
        if field in destination.fields:
            for message in field_messages:
                destination.add_error(field, message)
        else:
            rest[name] = field_messages
    placed = {m for ms in error.fields.values() for m in ms} - {
        m for ms in rest.values() for m in ms}
    if rest or error.message not in placed:
        form.add_error(None, error.message)
