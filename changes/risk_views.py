"""Desk pages of the risk area (routes in ``changes/risk_urls.py``):

- the risk questionnaire and the change settings, for change managers (others may look);
- the risk questions of a change (posting the panel's form; a page of its own shows the
  form again when it was refused) and the live preview of the factors (htmx);
- the post-implementation review and the caused incidents of a change;
- the change success report with its CSV files.

Writes go through ``changes.risk`` and ``changes.review``; a refusal goes onto the form."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from desk.access import DeskAccessMixin
from incidents import metrics as period_tools
from incidents.metrics_views import QUICK_RANGES, MetricsPeriodForm
from incidents.models import Incident
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error
from sla.report_csv import csv_response, text

from . import metrics, review, risk
from .models import Change, ChangeReview, ChangeSettings, RiskLevel, RiskQuestion
from .risk_forms import (
    ChangeReviewForm,
    ChangeSettingsForm,
    RiskAssessForm,
    RiskQuestionForm,
    answer_formset,
    answer_rows,
    posted_answers,
)

MANAGE = ("accounts.access_desk", risk.MANAGE)
RISK_BADGES = {RiskLevel.LOW: "badge-green", RiskLevel.MODERATE: "badge-amber",
               RiskLevel.HIGH: "badge-red", RiskLevel.VERY_HIGH: "badge-red"}


def _call(form: Any, call: Callable[[], Any]) -> Any:
    """Run a service; a permission refusal is the 403 page, another goes on the form.
    Returns the result, or None when refused."""
    try:
        return call()
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        add_domain_error(form, error)
        return None


def _detail(change: Change) -> str:
    return reverse("changes:detail", args=[change.pk])


# --- The questionnaire and the settings -------------------------------------------------

def _questions_context(request: HttpRequest, **given: Any) -> dict[str, Any]:
    can_manage = request.user.has_perm(risk.MANAGE)
    return {
        "questions": list(RiskQuestion.objects.prefetch_related("answers")),
        "can_manage": can_manage,
        "settings_form": given.get("settings_form") or ChangeSettingsForm(
            instance=ChangeSettings.current()),
    }


class RiskQuestionListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "changes/risk/questions.html", _questions_context(request))


class ChangeSettingsView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ChangeSettingsForm(request.POST, instance=ChangeSettings.current())
        if form.is_valid() and _call(form, lambda: risk.change_settings_update(
                actor=request.user, **{name: form.cleaned_data[name]
                                       for name in risk.SETTINGS_FIELDS})):
            messages.success(request, _("Settings saved."))
            return redirect("changes:risk_questions")
        return render(request, "changes/risk/questions.html",
                      _questions_context(request, settings_form=form), status=400)


class RiskQuestionFormView(DeskAccessMixin, View):
    """Add a question (no ``pk``) or edit one, with its answer rows."""

    permission_required = MANAGE

    def _question(self, pk: int | None) -> RiskQuestion | None:
        return get_object_or_404(RiskQuestion, pk=pk) if pk is not None else None

    def _render(self, request: HttpRequest, question: RiskQuestion | None, form: Any,
                answers: Any, status: int = 200) -> HttpResponse:
        return render(request, "changes/risk/question_form.html",
                      {"question": question, "form": form, "answers": answers},
                      status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        question = self._question(pk)
        initial = {"is_active": True} if question is None else {
            "text": question.text, "help_text": question.help_text, "order": question.order,
            "is_active": question.is_active}
        return self._render(request, question, RiskQuestionForm(initial=initial),
                            answer_formset(question))

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        question = self._question(pk)
        form = RiskQuestionForm(request.POST)
        answers = answer_formset(data=request.POST)
        if form.is_valid() and answers.is_valid():
            fields = dict(form.cleaned_data)
            rows = answer_rows(answers)
            if question is None:
                saved = _call(form, lambda: risk.risk_question_create(
                    actor=request.user, answers=rows, **fields))
            else:
                if fields["order"] is None:
                    fields["order"] = question.order
                saved = _call(form, lambda: risk.risk_question_update(
                    actor=request.user, question=question, answers=rows, **fields))
            if saved is not None:
                messages.success(request, _("Question saved."))
                return redirect("changes:risk_questions")
        return self._render(request, question, form, answers, status=400)


class RiskQuestionMoveView(DeskAccessMixin, View):
    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        question = get_object_or_404(RiskQuestion, pk=pk)
        risk.risk_question_move(actor=request.user, question=question,
                                up=request.POST.get("direction") != "down")
        return redirect("changes:risk_questions")


class RiskQuestionActiveView(DeskAccessMixin, View):
    """Deactivate (``active=0``) or activate again (``active=1``) a question."""

    permission_required = MANAGE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        question = get_object_or_404(RiskQuestion, pk=pk)
        active = request.POST.get("active") == "1"
        risk.risk_question_update(actor=request.user, question=question, is_active=active)
        messages.success(request, _("Question activated.") if active
                         else _("Question deactivated: it is no longer asked."))
        return redirect("changes:risk_questions")


# --- A change's risk -------------------------------------------------------------------

def risk_panel_context(change: Change, user: Any, form: RiskAssessForm | None = None,
                       ) -> dict[str, Any]:
    """What the risk panel shows; ``form`` when it came back refused."""
    can_assess = (change.state in risk.ASSESSABLE_STATES and change.type != "standard"
                  and user.has_perm(risk.DESK))
    context: dict[str, Any] = {
        "change": change, "can_assess": can_assess,
        "factors": change.risk_factors or [],
        "badge": RISK_BADGES.get(change.risk, "badge-grey"),
        # A refusal when the form is no longer offered (the change moved on meanwhile).
        "refused": form.non_field_errors() if form is not None and not can_assess else [],
    }
    if can_assess:
        questions = risk.active_questions()
        context["form"] = form or RiskAssessForm(questions, current=risk.stored_answers(change))
        context["has_questions"] = bool(questions)
    return context


class RiskAssessView(DeskAccessMixin, View):
    """GET: the risk questions on a page of their own. POST: assess and go back to the
    change (or show the form again with what was refused)."""

    def _page(self, request: HttpRequest, change: Change, form: RiskAssessForm | None = None,
              status: int = 200) -> HttpResponse:
        return render(request, "changes/risk/assess.html",
                      {"change": change, "risk_form": form}, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._page(request, get_object_or_404(Change, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        form = RiskAssessForm(risk.active_questions(), request.POST)
        if form.is_valid():
            assessed = _call(form, lambda: risk.change_assess_risk(
                actor=request.user, change=change, answers=form.answers()))
            if assessed is not None:
                messages.success(request, _("Risk assessed: %(level)s, %(score)d points.") % {
                    "level": assessed.get_risk_display(), "score": assessed.risk_score})
                return redirect(_detail(change))
        return self._page(request, change, form, status=400)


class RiskPreviewView(DeskAccessMixin, View):
    """The factors the answers posted so far would give (htmx, nothing written)."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        preview = risk.risk_preview(change, posted_answers(request.POST))
        return render(request, "changes/risk/_preview.html", {
            "change": change, "preview": True,
            "factors": [factor.as_dict() for factor in preview["factors"]],
            "score": preview["score"], "level": RiskLevel(preview["level"]),
            "badge": RISK_BADGES[preview["level"]]})


# --- The review ------------------------------------------------------------------------

def review_panel_context(change: Change, user: Any, form: ChangeReviewForm | None = None,
                         ) -> dict[str, Any]:
    reviewable = change.state in review.REVIEWABLE_STATES
    change_review = review.review_of(change) if reviewable else None
    can_edit = reviewable and user.has_perm(risk.DESK) and (
        change_review is None or change_review.completed_at is None
        or user.has_perm(risk.MANAGE))
    context: dict[str, Any] = {"change": change, "reviewable": reviewable,
                               "review": change_review, "can_edit": can_edit}
    if not reviewable:
        return context
    if can_edit:
        context["form"] = form or ChangeReviewForm(initial={
            "result": change_review.result if change_review else change.result,
            "deviations": change_review.deviations if change_review else "",
            "lessons": change_review.lessons if change_review else "",
            "complete": bool(change_review and change_review.completed_at)})
    context["suggestions"] = review.caused_incident_suggestions(change)
    context["marked"] = list(change.caused_incidents.order_by("created_at", "pk"))
    return context


class ReviewView(DeskAccessMixin, View):
    def _page(self, request: HttpRequest, change: Change, form: ChangeReviewForm | None = None,
              status: int = 200) -> HttpResponse:
        return render(request, "changes/review/page.html",
                      {"change": change, "review_form": form}, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._page(request, get_object_or_404(Change, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        form = ChangeReviewForm(request.POST)
        if form.is_valid():
            saved: ChangeReview | None = _call(form, lambda: review.change_review_save(
                actor=request.user, change=change, **form.cleaned_data))
            if saved is not None:
                messages.success(request, _("Review completed.") if saved.completed_at
                                 else _("Review saved."))
                return redirect(_detail(change))
        return self._page(request, change, form, status=400)


class CausedIncidentView(DeskAccessMixin, View):
    """Mark (``mark``) or unmark an incident as caused by the change."""

    mark = True

    def post(self, request: HttpRequest, pk: int, incident_pk: int) -> HttpResponse:
        change = get_object_or_404(Change, pk=pk)
        incident = get_object_or_404(Incident, pk=incident_pk)
        service = review.change_mark_caused if self.mark else review.change_unmark_caused
        try:
            service(actor=request.user, change=change, incident=incident)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, (_("%(number)s marked as caused by this change.")
                                       if self.mark else
                                       _("%(number)s no longer marked as caused.")) % {
                "number": incident.number})
        return redirect(_detail(change))


# --- The report ------------------------------------------------------------------------

def _period(request: HttpRequest) -> tuple[MetricsPeriodForm, period_tools.Period | None]:
    if request.GET.get("from") or request.GET.get("to"):
        form = MetricsPeriodForm(request.GET)
        return form, form.period if form.is_valid() else None
    period = period_tools.default_period()
    return MetricsPeriodForm(initial={"from": period.start, "to": period.end}), period


def _report_context(form: MetricsPeriodForm, period: period_tools.Period | None
                    ) -> dict[str, Any]:
    today = timezone.localdate()
    quick_ranges = []
    for days in QUICK_RANGES:
        quick = period_tools.default_period(days, today)
        quick_ranges.append({"days": days, "from": quick.start, "to": quick.end,
                             "current": period == quick,
                             "label": _("Last %(days)d days") % {"days": days}})
    return {"form": form, "period": period, "quick_ranges": quick_ranges,
            "time_zone": timezone.get_current_timezone_name()}


def _csv_name(kind: str, period: period_tools.Period) -> str:
    return f"changes-{kind}-{period.start:%Y-%m-%d}-to-{period.end:%Y-%m-%d}.csv"


class ChangeReportView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, period = _period(request)
        context = _report_context(form, period)
        if period is None:
            return render(request, "changes/metrics/report.html", context, status=400)
        by_team = metrics.success_rates(by="team", period=period)
        context.update({
            "overall": metrics.success_overall(by_team),
            "tables": [
                {"by": "team", "title": _("Team"), "heading": _("By team"), "rows": by_team},
                {"by": "category", "title": _("Category"), "heading": _("By category"),
                 "rows": metrics.success_rates(by="category", period=period)},
            ],
            "emergencies": metrics.emergency_report(period=period),
            "query": f"from={period.start:%Y-%m-%d}&to={period.end:%Y-%m-%d}",
        })
        return render(request, "changes/metrics/report.html", context)


SUCCESS_COLUMNS = ("grouping", "key", "label", "successful", "successful_with_issues",
                   "failed", "backed_out", "total", "success_rate")
EMERGENCY_COLUMNS = ("change", "title", "state", "team", "started", "result",
                     "approved_after_the_fact", "awaiting_approval_after_the_fact",
                     "approval_due", "approval_overdue")


def success_csv_rows(period: period_tools.Period) -> Iterator[list[Any]]:
    yield list(SUCCESS_COLUMNS)
    for by in ("team", "category"):
        for row in metrics.success_rates(by=by, period=period):
            yield [by, "" if row.key is None else row.key, text(row.label), row.successful,
                   row.with_issues, row.failed, row.backed_out, row.total,
                   "" if row.success_rate is None else f"{row.success_rate:.1f}"]


def _when(value: datetime.datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def emergency_csv_rows(period: period_tools.Period) -> Iterator[list[Any]]:
    yield list(EMERGENCY_COLUMNS)
    for row in metrics.emergency_report(period=period):
        change = row.change
        yield [text(change.number), text(change.title), change.state,
               text(change.assignment_group.name if change.assignment_group else ""),
               _when(change.started), change.result, "yes" if row.approved_after else "no",
               "yes" if row.awaiting_retro else "no", _when(change.retro_approval_due),
               "yes" if row.retro_overdue else "no"]


class SuccessCsvView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, period = _period(request)
        if period is None:
            return render(request, "changes/metrics/report.html",
                          _report_context(form, None), status=400)
        return csv_response(success_csv_rows(period), _csv_name("success", period))


class EmergencyCsvView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        form, period = _period(request)
        if period is None:
            return render(request, "changes/metrics/report.html",
                          _report_context(form, None), status=400)
        return csv_response(emergency_csv_rows(period), _csv_name("emergency", period))
