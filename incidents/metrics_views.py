"""The desk's incident metrics page: a period form with quick ranges and three tables
(by priority, by team, by category) of counts, MTTA and MTTR. Figures come from
``incidents.metrics``: one query per table, plus one for the overall row."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from desk.access import DeskAccessMixin
from itsm.errors import DomainError
from itsm.forms import add_domain_error

from . import metrics

QUICK_RANGES = (7, 30, 90)
HEADINGS = {"priority": gettext_lazy("By priority"), "team": gettext_lazy("By team"),
            "category": gettext_lazy("By category")}


class DateInput(forms.DateInput):
    input_type = "date"


class MetricsPeriodForm(forms.Form):
    """``from`` and ``to`` (days, both included). ``from`` is a Python keyword, so the
    fields are set up in ``__init__``; the rules are ``metrics.metrics_period``'s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = forms.DateField(label=gettext_lazy("From"), required=False,
                                              widget=DateInput(format="%Y-%m-%d"))
        self.fields["to"] = forms.DateField(label=gettext_lazy("To"), required=False,
                                            widget=DateInput(format="%Y-%m-%d"))
        self.period: metrics.Period | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.errors:
            try:
                self.period = metrics.metrics_period(cleaned.get("from"), cleaned.get("to"))
            except DomainError as error:
                add_domain_error(self, error)
        return cleaned


def _table(by: str, rows: list[metrics.MetricsRow]) -> dict[str, Any]:
    """A table's rows with their readable durations and bar widths (the row's MTTR as a
    share of the longest in the table)."""
    longest = max((row.mttr for row in rows if row.mttr is not None),
                  default=datetime.timedelta(0))
    shown = []
    for row in rows:
        share = row.mttr / longest if row.mttr is not None and longest else 0
        shown.append({
            "row": row,
            "mtta": metrics.duration_text(row.mtta),
            "mtta_median": metrics.duration_text(row.mtta_median),
            "mttr": metrics.duration_text(row.mttr),
            "mttr_median": metrics.duration_text(row.mttr_median),
            "bar": round(100 * share, 1),
        })
    return {"by": by, "title": metrics.GROUPINGS.get(by, ""), "heading": HEADINGS.get(by, ""),
            "rows": shown,
            "has_data": any(row.opened or row.resolved for row in rows)}


class IncidentMetricsView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form = MetricsPeriodForm(request.GET or None)
        if request.GET:
            valid = form.is_valid()
            period = form.period if valid else None
        else:
            period = metrics.default_period()
            form = MetricsPeriodForm(initial={"from": period.start, "to": period.end})
        context: dict[str, Any] = {"form": form, "period": period, "tables": [],
                                   "quick_ranges": []}
        today = timezone.localdate()
        for days in QUICK_RANGES:
            quick = metrics.default_period(days, today)
            context["quick_ranges"].append({
                "days": days, "from": quick.start, "to": quick.end,
                "current": period == quick,
                "label": _("Last %(days)d days") % {"days": days}})
        if period is None:
            return render(request, "incidents/metrics.html", context, status=400)
        overall = metrics.incident_metrics_overall(period=period)
        context["overall"] = _table("all", [overall])["rows"][0]
        context["tables"] = [_table(by, metrics.incident_metrics(period=period, by=by))
                             for by in metrics.GROUPINGS]
        context["time_zone"] = timezone.get_current_timezone_name()
        return render(request, "incidents/metrics.html", context)
