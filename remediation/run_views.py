"""Desk pages of runs: the runs list, starting a run (a preview first, then the start),
a run's live page (counters and bars per state overall and per wave, the devices table,
continue and cancel) and one execution's output. Views call ``remediation.runs``; its
refusals are shown at the fields they name."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from changes.models import Change
from fleet.models import Job
from incidents.models import Incident
from itsm.errors import DomainError, NotPermitted
from problems.models import Problem

from . import runs
from .access import RemediationViewMixin, RunnerMixin
from .authority import APPROVED_CHANGE_STATES
from .models import (
    FAILED_EXECUTION_STATES,
    PENDING_EXECUTION_STATES,
    Action,
    AuthorityKind,
    Execution,
    ExecutionState,
    Run,
    RunState,
    WaveState,
)
from .run_forms import RunForm, add_run_error

RUNS_PAGE = 25
DEVICES_PAGE = 50
EXCERPT = 160
# The colour of each execution state in bars and badges.
STATE_TONE = {"queued": "grey", "sent": "blue", "running": "blue", "succeeded": "green",
              "failed": "red", "timed_out": "red", "refused": "amber", "cancelled": "grey",
              "unreachable": "amber"}
RUN_TONE = {"running": "blue", "paused": "amber", "completed": "green", "cancelled": "grey"}


def run_rows(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Runs with their counts (devices, finished, succeeded, failed) in the same query."""
    pending = Q(executions__state__in=PENDING_EXECUTION_STATES)
    return queryset.select_related("version__action", "started_by", "incident",
                                   "change", "problem").annotate(
        devices=Count("executions"),
        done=Count("executions", filter=~pending),
        succeeded=Count("executions", filter=Q(executions__state=ExecutionState.SUCCEEDED)),
        failed=Count("executions", filter=Q(executions__state__in=FAILED_EXECUTION_STATES)))


def _querystring(request: HttpRequest,
                 drop: tuple[str, ...] = ("page", "part", "seen")) -> str:
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        kept = [v for v in values if v.strip()]
        if kept and key not in drop:
            params.setlist(key, kept)
    return params.urlencode()


# --- Runs list --------------------------------------------------------------------------

class RunListView(RemediationViewMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        items = run_rows(Run.objects.all()).order_by("-created_at", "-id")
        state = request.GET.get("state", "")
        if state in RunState.values:
            items = items.filter(state=state)
        action = request.GET.get("action", "")
        if action:
            items = items.filter(version__action__name=action)
        page = Paginator(items, RUNS_PAGE).get_page(request.GET.get("page"))
        return render(request, "remediation/run_list.html", {
            "page": page, "runs": page.object_list, "states": RunState.choices,
            "actions": Action.objects.order_by("name").values_list("name", flat=True),
            "state": state, "action": action, "querystring": _querystring(request),
            "run_tone": RUN_TONE, "can_run": request.user.has_perm(runs.RUN)})


# --- Starting a run ---------------------------------------------------------------------

def _ticket_from(request: HttpRequest, model: Any, key: str) -> Any:
    value = str(request.GET.get(key, ""))
    return model.objects.filter(pk=int(value)).first() if value.isdigit() else None


def _initial(request: HttpRequest) -> dict[str, Any]:
    """From the ticket the operator came from: its number as the incident, change or
    problem, and all its devices as the targets. From a problem ("fix everywhere") the
    problem is the authority for read-only actions; its fix change, when approved, is
    filled in for the rest."""
    initial: dict[str, Any] = {"authority_kind": AuthorityKind.CHANGE}
    incident = Incident.objects.filter(pk=request.GET.get("incident") or None).first() \
        if str(request.GET.get("incident", "")).isdigit() else None
    change = Change.objects.filter(pk=request.GET.get("change") or None).first() \
        if str(request.GET.get("change", "")).isdigit() else None
    if incident is not None:
        initial.update(incident=incident.number, authority_kind=AuthorityKind.INCIDENT,
                       ticket_devices=True)
    if change is not None:
        initial.update(change=change.number, authority_kind=AuthorityKind.CHANGE,
                       ticket_devices=True)
    problem = _ticket_from(request, Problem, "problem")
    if problem is not None:
        initial.update(problem=problem.number, authority_kind=AuthorityKind.PROBLEM,
                       ticket_devices=True)
        fix = problem.fix_change
        if fix is not None and fix.state in APPROVED_CHANGE_STATES and "change" not in initial:
            initial["change"] = fix.number
    if str(request.GET.get("version", "")).isdigit():
        initial["version"] = int(request.GET["version"])
    return initial


def problem_url(number: str) -> str | None:
    """A problem's desk page (None while the problems desk is not installed)."""
    try:
        return reverse("problems:detail", kwargs={"key": number})
    except NoReverseMatch:
        return None


def _origin(form: RunForm) -> str | None:
    """Where "cancel" leads back to: the ticket the run is for."""
    values = form.data if form.is_bound else form.initial
    if values.get("problem"):
        return problem_url(values["problem"])
    if values.get("incident"):
        return reverse("incidents:detail", kwargs={"key": values["incident"]})
    return None


class RunStartView(RunnerMixin, View):
    """GET the form (``?part=params``: the parameter fields of the chosen version); POST
    ``step=preview`` shows what the run would do, ``step=start`` starts it."""

    def _render(self, request: HttpRequest, form: RunForm, preview: Any = None,
                status: int = 200) -> HttpResponse:
        context = {"form": form, "preview": preview, "origin": _origin(form)}
        if preview is not None:
            groups: dict[str, list[dict[str, Any]]] = {}
            for item in preview.excluded:
                groups.setdefault(item["kind"], []).append(item)
            context["excluded_groups"] = [
                {"kind": kind, "label": EXCLUSION_LABELS.get(kind, kind), "items": items}
                for kind, items in groups.items()]
            context["sizes"] = self._sizes(form, len(preview.eligible))
        template = "remediation/_start_form.html" if request.htmx else \
            "remediation/run_start.html"
        return render(request, template, context, status=status)

    @staticmethod
    def _sizes(form: RunForm, total: int) -> list[int] | None:
        data = form.cleaned_data
        try:
            return runs.wave_sizes(total, data["rollout"], canary_size=data["canary_size"],
                                   canary_percent=data["canary_percent"],
                                   batch_size=data["batch_size"])
        except DomainError as error:
            add_run_error(form, error)
            return None

    def get(self, request: HttpRequest) -> HttpResponse:
        form = RunForm(initial=_initial(request))
        if request.GET.get("part") == "params":
            form = RunForm(initial={"version": request.GET.get("version")})
            return render(request, "remediation/_params.html", {"form": form})
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RunForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        if request.POST.get("step") != "start":
            try:
                preview = runs.run_preview(**form.preview_values())
            except DomainError as error:
                add_run_error(form, error)
                return self._render(request, form, status=400)
            return self._render(request, form, preview)
        try:
            run = runs.run_start(actor=request.user, **form.start_values())
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            add_run_error(form, error)
            return self._render(request, form, status=400)
        messages.success(request, _("%(ref)s started.") % {"ref": run.reference})
        url = reverse("remediation:run_detail", kwargs={"pk": run.pk})
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)


EXCLUSION_LABELS = {
    "policy": gettext_lazy("Not allowed by the device's local policy"),
    "platform": gettext_lazy("Another platform"),
    "freeze": gettext_lazy("In a freeze window"),
    "no_agent": gettext_lazy("No endpoint agent"),
    "revoked": gettext_lazy("Agent revoked"),
    "template_class": gettext_lazy("A CI class the template does not allow"),
}


# --- A run ------------------------------------------------------------------------------

def _run_or_404(pk: int) -> Run:
    return get_object_or_404(Run.objects.select_related(
        "version__action", "started_by", "incident", "change", "problem",
        "template_version__template"),
        pk=pk)


def _bar(counts: dict[str, int], total: int) -> list[dict[str, Any]]:
    return [{"state": state, "label": label, "n": counts.get(state, 0),
             "tone": STATE_TONE[state],
             "percent": round(100 * counts.get(state, 0) / total, 2) if total else 0}
            for state, label in ExecutionState.choices if counts.get(state)]


def _devices(request: HttpRequest, run: Run) -> dict[str, Any]:
    rows = Execution.objects.filter(run=run).select_related("device", "agent").order_by(
        "wave", "device__name", "device_id")
    state = request.GET.get("state", "")
    if state in ExecutionState.values:
        rows = rows.filter(state=state)
    wave = request.GET.get("wave", "")
    if wave.isdigit():
        rows = rows.filter(wave=int(wave))
    page = Paginator(rows, DEVICES_PAGE).get_page(request.GET.get("page"))
    executions = list(page.object_list)
    results = {job["pk"]: job for job in Job.objects.filter(
        pk__in=[e.pk for e in executions]).values("pk", "result", "refusal_reason")}
    for execution in executions:
        job = results.get(execution.pk, {})
        result = job.get("result") or {}
        execution.exit_code = result.get("exit_code")  # type: ignore[attr-defined]
        duration = result.get("duration_ms")
        execution.duration = (f"{duration / 1000:.1f} s"  # type: ignore[attr-defined]
                              if isinstance(duration, int | float) else "")
        detail = execution.reason or job.get("refusal_reason") or \
            (result.get("stderr") or "").strip()
        execution.detail = detail[:EXCERPT] + ("…" if len(detail) > EXCERPT else "")  # type: ignore[attr-defined]
        execution.tone = STATE_TONE[execution.state]  # type: ignore[attr-defined]
    return {"page": page, "executions": executions, "filter_state": state,
            "filter_wave": wave, "querystring": _querystring(request),
            "poll_query": _querystring(request, drop=("part", "seen")),
            "execution_states": ExecutionState.choices}


def _live_context(request: HttpRequest, run: Run) -> dict[str, Any]:
    progress = runs.progress(run)
    total = progress["devices"]
    waves = [{**wave, "bar": _bar(wave["counts"], wave["size"]),
              "state_label": WaveState(wave["state"]).label} for wave in progress["waves"]]
    return {"run": run, "progress": progress, "bar": _bar(progress["counts"], total),
            "waves": waves, "tone": RUN_TONE[run.state],
            "counters": [(state, label, progress["counts"][state], STATE_TONE[state])
                         for state, label in ExecutionState.choices],
            "can_run": request.user.has_perm(runs.RUN), **_devices(request, run)}


class RunDetailView(RemediationViewMixin, View):
    """``?part=live``: the counters, waves and devices (polled every 2 s while the run is
    not finished); the run's state and buttons come along, out of band, only when the
    state differs from the one the page shows (``seen``), so an open confirmation is not
    closed under the person's cursor."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = _run_or_404(pk)
        context = _live_context(request, run)
        if request.GET.get("part") == "live":
            context["state_changed"] = request.GET.get("seen") != run.state
            return render(request, "remediation/_run_live.html", context)
        context["authority"] = runs.authority_of(run).describe()
        context["excluded"] = run.excluded
        return render(request, "remediation/run_detail.html", context)


class RunContinueView(RunnerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = _run_or_404(pk)
        try:
            runs.run_continue(actor=request.user, run=run)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(ref)s continues with its next wave.")
                             % {"ref": run.reference})
        return redirect("remediation:run_detail", pk=run.pk)


class RunCancelView(RunnerMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = _run_or_404(pk)
        try:
            runs.run_cancel(actor=request.user, run=run)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(ref)s cancelled: nothing more is sent and agents "
                                        "are asked to stop.") % {"ref": run.reference})
        return redirect("remediation:run_detail", pk=run.pk)


class ExecutionOutputView(RemediationViewMixin, View):
    def get(self, request: HttpRequest, pk: int, execution: uuid.UUID) -> HttpResponse:
        run = _run_or_404(pk)
        row = get_object_or_404(Execution.objects.select_related("device", "agent"),
                                pk=execution, run=run)
        job = Job.objects.filter(pk=row.pk).values("result", "refusal_reason", "sent_at",
                                                   "finished_at").first() or {}
        result = job.get("result") or {}
        return render(request, "remediation/execution_output.html", {
            "run": run, "execution": row, "result": result, "job": job,
            "tone": STATE_TONE[row.state]})
