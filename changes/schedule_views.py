"""Desk pages of the schedule: the forward schedule of change as a month or week
calendar (and its iCalendar download / subscription), the maintenance and freeze windows
(list for the desk, forms for change managers), and the conflicts panel's actions on a
change (check again, preview for other dates)."""

from __future__ import annotations

import calendar as calendar_module
import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from .conflicts import conflicts_check, conflicts_detect
from .ical import calendar_ics
from .models import Change, ScheduleWindow
from .schedule import ScheduleEntry, forward_schedule
from .schedule_filtersets import ScheduleFilterForm, WindowFilterSet, default_range
from .schedule_forms import CalendarForm, ConflictPreviewForm, WindowForm
from .windows import MANAGE, next_occurrences, window_create, window_delete, window_update

MANAGE_PERMISSIONS = ("accounts.access_desk", MANAGE)
CELL_LIMIT = 6  # changes listed in a month cell before "n more"
FILTER_KEYS = ("service", "team", "type")


# --- The calendar ----------------------------------------------------------------------------

def _midnight(day: dt.date, zone: Any) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min).replace(tzinfo=zone)


def _grid_days(view: str, anchor: dt.date) -> tuple[list[dt.date], dt.date, dt.date]:
    """The days shown (whole weeks, Monday first), and the previous and next anchors."""
    if view == "week":
        first = anchor - dt.timedelta(days=anchor.weekday())
        return ([first + dt.timedelta(days=i) for i in range(7)],
                first - dt.timedelta(days=7), first + dt.timedelta(days=7))
    month_first = anchor.replace(day=1)
    last = month_first.replace(day=calendar_module.monthrange(anchor.year, anchor.month)[1])
    first = month_first - dt.timedelta(days=month_first.weekday())
    final = last + dt.timedelta(days=6 - last.weekday())
    days = [first + dt.timedelta(days=i) for i in range((final - first).days + 1)]
    previous = (month_first - dt.timedelta(days=1)).replace(day=1)
    return days, previous, last + dt.timedelta(days=1)


def _item(entry: ScheduleEntry, day: dt.date, zone: Any) -> dict[str, Any]:
    begin, finish = entry.start.astimezone(zone), entry.end.astimezone(zone)
    starts, ends = begin.date() == day, (finish - dt.timedelta(microseconds=1)).date() == day
    classes = [f"cal-{entry.kind}"]
    if entry.is_change:
        classes += [f"cal-type-{entry.type}", f"cal-state-{entry.state}"]
        if entry.conflict:
            classes.append("cal-conflict")
    if starts or ends:
        when = f"{begin:%H:%M}" if starts else "…"
        when += "–" + (f"{finish:%H:%M}" if ends else "…")
    else:
        when = _("all day")
    return {"entry": entry, "classes": " ".join(classes), "when": when,
            "continues": not starts}


def calendar_grid(entries: list[ScheduleEntry], days: list[dt.date], zone: Any,
                  month: int | None, today: dt.date) -> list[list[dict[str, Any]]]:
    """Weeks of day cells, each with the windows (bands) and changes on that day in
    ``zone``; an entry spanning days is on each of them."""
    cells = {day: {"date": day, "bands": [], "changes": [], "today": day == today,
                   "outside": month is not None and day.month != month} for day in days}
    first, last = days[0], days[-1]
    for entry in entries:
        begin = entry.start.astimezone(zone).date()
        finish = (entry.end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
        day = max(begin, first)
        while day <= min(finish, last):
            cells[day]["changes" if entry.is_change else "bands"].append(
                _item(entry, day, zone))
            day += dt.timedelta(days=1)
    for cell in cells.values():
        cell["more"] = max(0, len(cell["changes"]) - CELL_LIMIT)
    ordered = [cells[day] for day in days]
    return [ordered[i:i + 7] for i in range(0, len(ordered), 7)]


def _query(form: ScheduleFilterForm, **extra: Any) -> str:
    """The filters as a query string (for links that keep them)."""
    pairs: list[tuple[str, Any]] = []
    if form.is_valid():
        data = form.cleaned_data
        if data.get("service"):
            pairs.append(("service", data["service"].pk))
        if data.get("team"):
            pairs.append(("team", data["team"].pk))
        pairs += [("type", value) for value in data.get("type") or []]
    pairs += [(key, value) for key, value in extra.items() if value not in (None, "")]
    return urlencode(pairs)


class ScheduleCalendarView(DeskAccessMixin, View):
    """The forward schedule of change: a month or week, changes coloured by type and
    state, maintenance and freeze windows as bands."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = CalendarForm(request.GET or None)
        valid = form.is_valid() if request.GET else True
        data = form.cleaned_data if request.GET and valid else {}
        zone = timezone.get_current_timezone()
        today = timezone.localdate()
        view = data.get("view") or "month"
        anchor = data.get("date") or today
        days, previous, following = _grid_days(view, anchor)
        start, end = _midnight(days[0], zone), _midnight(days[-1] + dt.timedelta(days=1), zone)
        filters = form.filters() if request.GET and valid else {}
        entries = forward_schedule(start, end, **filters) if valid else []
        grid = calendar_grid(entries, days, zone, anchor.month if view == "month" else None,
                             today)
        base = reverse("changes:schedule_calendar")
        ics = reverse("changes:schedule_ics")
        return render(request, "changes/schedule/calendar.html", {
            "form": form, "view": view, "anchor": anchor, "weeks": grid, "days": days,
            "entries": entries, "start": start, "end": end,
            "change_count": sum(1 for entry in entries if entry.is_change),
            "previous_url": f"{base}?{_query(form, view=view, date=previous.isoformat())}",
            "next_url": f"{base}?{_query(form, view=view, date=following.isoformat())}",
            "today_url": f"{base}?{_query(form, view=view)}",
            "month_url": f"{base}?{_query(form, view='month', date=anchor.isoformat())}",
            "week_url": f"{base}?{_query(form, view='week', date=anchor.isoformat())}",
            "day_week_base": f"{base}?{_query(form, view='week')}",
            "ics_url": f"{ics}?{_query(form, start=start.isoformat(), end=end.isoformat())}",
            "subscribe_url": request.build_absolute_uri(f"{ics}?{_query(form)}"),
            "can_manage": request.user.has_perm(MANAGE), "cell_limit": CELL_LIMIT,
        }, status=200 if valid else 400)


class ScheduleIcsView(DeskAccessMixin, View):
    """The same entries as an iCalendar file: the range asked (``start``/``end``), else
    the last week and the next twelve (what a subscription wants)."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = ScheduleFilterForm(request.GET)
        if not form.is_valid():
            return HttpResponse(_("Invalid filter."), status=400,
                                content_type="text/plain; charset=utf-8")
        start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
        if start is None or end is None:
            start, end = default_range(timezone.now())
        try:
            entries = forward_schedule(start, end, **form.filters())
        except DomainError as error:
            return HttpResponse(error.message, status=400,
                                content_type="text/plain; charset=utf-8")
        text = calendar_ics(entries, base_url=request.build_absolute_uri("/"))
        response = HttpResponse(text, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="change-schedule.ics"'
        return response


# --- Windows -----------------------------------------------------------------------------

class WindowListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        queryset = ScheduleWindow.objects.select_related("ci").order_by("-is_active", "kind",
                                                                        "starts_at", "pk")
        filterset = WindowFilterSet(request.GET or None, queryset=queryset)
        now = timezone.now()
        rows = [{"window": window, "next": next_occurrences(window, now, 1)}
                for window in filterset.qs[:500]]
        return render(request, "changes/windows/list.html", {
            "filterset": filterset, "rows": rows, "can_manage": request.user.has_perm(MANAGE),
        })


class WindowFormView(DeskAccessMixin, View):
    """Add a window, or change one (``pk``)."""

    permission_required = MANAGE_PERMISSIONS

    def _page(self, request: HttpRequest, form: WindowForm, window: ScheduleWindow | None,
              status: int = 200) -> HttpResponse:
        title = _("Change window “%(name)s”") % {"name": window.name} if window else \
            _("Add a maintenance or freeze window")
        return render(request, "changes/windows/form.html",
                      {"form": form, "window": window, "title": title}, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        window = get_object_or_404(ScheduleWindow.objects.select_related("ci"), pk=pk) \
            if pk else None
        if window is not None:
            form = WindowForm(initial=WindowForm.initial_for(window))
        else:
            profile = getattr(request.user, "profile", None)
            form = WindowForm(initial={"timezone": getattr(profile, "time_zone", "") or "UTC",
                                       "kind": request.GET.get("kind") or "maintenance"})
        return self._page(request, form, window)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        window = get_object_or_404(ScheduleWindow, pk=pk) if pk else None
        form = WindowForm(request.POST)
        if form.is_valid():
            try:
                if window is None:
                    window_create(actor=request.user, **form.values())
                    messages.success(request, _("Window added."))
                else:
                    window_update(actor=request.user, window=window, **form.values())
                    messages.success(request, _("Window saved."))
                return redirect("changes:window_list")
            except DomainError as error:
                add_domain_error(form, error)
        return self._page(request, form, window, status=400)


class WindowDeleteView(DeskAccessMixin, View):
    permission_required = MANAGE_PERMISSIONS

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        window = get_object_or_404(ScheduleWindow, pk=pk)
        window_delete(actor=request.user, window=window)
        messages.success(request, _("Window “%(name)s” removed.") % {"name": window.name})
        return redirect("changes:window_list")


# --- The conflicts panel's actions ------------------------------------------------------

def _detail(change: Change) -> str:
    return reverse("changes:detail", args=[change.pk]) + "#conflicts"


class ConflictsCheckView(DeskAccessMixin, View):
    """Check the change's conflicts again (stored, audited) and go back to it."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        try:
            rows = conflicts_check(actor=request.user, change=change)
            if rows:
                messages.warning(request, _("%(count)d conflict(s) found.") % {
                    "count": len(rows)})
            else:
                messages.success(request, _("No conflicts found."))
        except DomainError as error:
            messages.error(request, error.message)
        return redirect(_detail(change))


class ConflictsPreviewView(DeskAccessMixin, View):
    """The conflicts the change would have with other planned dates (nothing stored):
    the panel's live preview (a fragment for htmx)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        form = ConflictPreviewForm(request.GET)
        found = None
        if form.is_valid():
            found = conflicts_detect(change, form.cleaned_data["planned_start"],
                                     form.cleaned_data["planned_end"])
        return render(request, "changes/schedule/_conflicts_preview.html",
                      {"form": form, "found": found, "change": change},
                      status=200 if form.is_valid() else 400)
