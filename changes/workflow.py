"""The change lifecycle, declared once: New → Assess → Authorize → Scheduled → Implement →
Review → Closed, plus Cancelled. Standard changes go from New straight to Scheduled (their
template was approved once); emergency changes skip Assess. The guards below are the
rules every entry point meets (desk, portal, API, the approval engine)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tickets.workflow import Guard, Transition, Workflow, required


class ChangeState(models.TextChoices):
    NEW = "new", _("New")
    ASSESS = "assess", _("Assess")
    AUTHORIZE = "authorize", _("Authorize")
    SCHEDULED = "scheduled", _("Scheduled")
    IMPLEMENT = "implement", _("Implement")
    REVIEW = "review", _("Review")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


Problems = dict[str, list[str]] | None


def _value(change: Any, values: dict[str, Any], name: str) -> Any:
    return values.get(name, getattr(change, name, None))


def _of_types(*types: str) -> Guard:
    """The move exists for these change types only (see :func:`change_moves`)."""
    def guard(change: Any, values: dict[str, Any]) -> Problems:
        if change.type in types:
            return None
        return {"type": [gettext("Not for a %(type)s change.") % {
            "type": change.get_type_display().lower()}]}
    guard.change_types = types  # type: ignore[attr-defined]
    return guard


def _risk_assessed(change: Any, values: dict[str, Any]) -> Problems:
    if change.risk:
        return None
    return {"risk": [gettext("Assess the risk first (answer the risk questions).")]}


def _planned(change: Any, values: dict[str, Any]) -> Problems:
    problems: dict[str, list[str]] = {}
    for name in ("planned_start", "planned_end"):
        if not _value(change, values, name):
            problems[name] = [gettext("Required to schedule.")]
    start, end = _value(change, values, "planned_start"), _value(change, values, "planned_end")
    if start and end and end <= start:
        problems["planned_end"] = [gettext("The planned end must be after the planned start.")]
    return problems or None


def _authorised(change: Any, values: dict[str, Any]) -> Problems:
    """Approved, or an emergency change its policy lets approve after the fact."""
    if change.authorized_at or change.retro_approval_due:
        return None
    return {"state": [gettext("The change is not authorised yet.")]}


def _no_freeze(change: Any, values: dict[str, Any]) -> Problems:
    from .conflicts import freeze_problems

    return freeze_problems(change, values)


def _started(change: Any, values: dict[str, Any]) -> Problems:
    from .models import ChangeType

    if change.type == ChangeType.EMERGENCY or change.planned_start is None:
        return None
    if timezone.now() >= change.planned_start:
        return None
    return {"planned_start": [gettext(
        "Cannot implement before the planned start (%(start)s) unless it is an emergency "
        "change.") % {"start": timezone.localtime(change.planned_start).strftime(
            "%Y-%m-%d %H:%M")}]}


def _review_if_failed(change: Any, values: dict[str, Any]) -> Problems:
    from .models import FAILED_RESULTS, ChangeReview

    if _value(change, values, "result") not in FAILED_RESULTS:
        return None
    if ChangeReview.objects.filter(change_id=change.pk, completed_at__isnull=False).exists():
        return None
    return {"review": [gettext(
        "A failed or backed-out change is closed only after its review is completed.")]}


_DESK = "accounts.access_desk"
_SCHEDULE_GUARDS: tuple[Guard, ...] = (
    required("backout_plan", _("A backout plan is required to schedule.")),
    _planned, _no_freeze,
)

CHANGE_WORKFLOW = Workflow(
    states=ChangeState,
    initial=ChangeState.NEW,
    transitions=(
        Transition("new", "assess", _("Submit for assessment"), _DESK,
                   guards=(_of_types("normal"),)),
        Transition("new", "authorize", _("Request emergency authorisation"), _DESK,
                   guards=(_of_types("emergency"), _risk_assessed)),
        Transition("new", "scheduled", _("Schedule"), _DESK,
                   guards=(_of_types("standard"), *_SCHEDULE_GUARDS)),
        Transition("new", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        Transition("assess", "authorize", _("Request authorisation"), _DESK,
                   guards=(_risk_assessed,)),
        Transition("assess", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        # Send back for rework (rejected, or information asked for).
        Transition("authorize", "assess", _("Send back to assessment"), _DESK,
                   guards=(_of_types("normal"),)),
        Transition("authorize", "scheduled", _("Schedule"), _DESK,
                   guards=(_authorised, *_SCHEDULE_GUARDS)),
        Transition("authorize", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        Transition("scheduled", "implement", _("Start implementation"), _DESK,
                   guards=(_started,), stamps=("actual_start",)),
        Transition("scheduled", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        Transition("implement", "review", _("Finish implementation"), _DESK,
                   guards=(required("result", _("Say how it went.")),),
                   stamps=("actual_end",)),
        Transition("review", "closed", _("Close"), _DESK,
                   guards=(required("result", _("Say how it went.")), _review_if_failed),
                   stamps=("closed_at",)),
    ),
)


def change_moves(change: Any, user: Any = None) -> list[Transition]:
    """The moves to offer ``user`` on ``change``: the workflow's, less those that do not
    exist for the change's type (a normal change is never offered "Request emergency
    authorisation"). Other guards stay: pressing the button says why it is refused."""
    return [t for t in CHANGE_WORKFLOW.available(change, user)
            if all(change.type in getattr(guard, "change_types", (change.type,))
                   for guard in t.guards)]
