"""The desk's SLA report page: a period with quick ranges, % met by agreement, team and
priority, the breach list (paginated), and both as CSV. Figures from ``sla.reports``."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from desk.access import DeskAccessMixin
from incidents import metrics
from incidents.metrics_views import QUICK_RANGES, MetricsPeriodForm

from . import report_csv, reports

BREACHES_PER_PAGE = 50
TEMPLATE = "sla/reports/index.html"
HEADINGS = {"agreement": gettext_lazy("By agreement"), "team": gettext_lazy("By team"),
            "priority": gettext_lazy("By priority")}


def _period(request: HttpRequest) -> tuple[MetricsPeriodForm, metrics.Period | None]:
    """The period asked for (the last 30 days when none was); the form carries errors."""
    if request.GET.get("from") or request.GET.get("to"):
        form = MetricsPeriodForm(request.GET)
        return form, form.period if form.is_valid() else None
    period = metrics.default_period()
    return MetricsPeriodForm(initial={"from": period.start, "to": period.end}), period


def _refused(request: HttpRequest, form: MetricsPeriodForm) -> HttpResponse:
    return render(request, TEMPLATE, _context(form, None), status=400)


def _context(form: MetricsPeriodForm, period: metrics.Period | None) -> dict[str, Any]:
    today = timezone.localdate()
    quick_ranges = []
    for days in QUICK_RANGES:
        quick = metrics.default_period(days, today)
        quick_ranges.append({"days": days, "from": quick.start, "to": quick.end,
                             "current": period == quick,
                             "label": _("Last %(days)d days") % {"days": days}})
    return {"form": form, "period": period, "quick_ranges": quick_ranges,
            "time_zone": timezone.get_current_timezone_name()}


def _filename(kind: str, period: metrics.Period) -> str:
    return f"sla-{kind}-{period.start:%Y-%m-%d}-to-{period.end:%Y-%m-%d}.csv"


class SlaReportView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, period = _period(request)
        if period is None:
            return _refused(request, form)
        context = _context(form, period)
        summary = reports.sla_summary(period=period)
        paginator = Paginator(reports.breaches(period=period), BREACHES_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        context.update({
            "summary": summary,
            "tables": [{"by": by, "title": title, "heading": HEADINGS[by], "rows": rows}
                       for by, title, rows in summary.groupings()],
            "page": page,
            "breaches": reports.breach_rows(page.object_list),
            "query": f"from={period.start:%Y-%m-%d}&to={period.end:%Y-%m-%d}",
        })
        return render(request, TEMPLATE, context)


class SlaSummaryCsvView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, period = _period(request)
        if period is None:
            return _refused(request, form)
        summary = reports.sla_summary(period=period)
        return report_csv.csv_response(report_csv.summary_csv_rows(summary),
                                       _filename("summary", period))


class SlaBreachesCsvView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, period = _period(request)
        if period is None:
            return _refused(request, form)
        tz = timezone.get_current_timezone()
        rows = report_csv.breach_csv_rows(reports.breaches(period=period, tz=tz), tz)
        return report_csv.csv_response(rows, _filename("breaches", period))
