"""The problem lifecycle, declared once: New → Assess → Root cause analysis → Fix in
progress → Resolved → Closed, with the moves back a problem manager needs (back to the
analysis when the fix fails or the problem returns). Resolving and closing need the cause
found, or said not to be found and why. The guards are the rules every entry point meets
(desk, API, services)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tickets.workflow import Transition, Workflow, required

MANAGE = "problems.manage_problem"


class ProblemState(models.TextChoices):
    NEW = "new", _("New")
    ASSESS = "assess", _("Assess")
    RCA = "rca", _("Root cause analysis")
    FIX_IN_PROGRESS = "fix_in_progress", _("Fix in progress")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATES = (ProblemState.NEW, ProblemState.ASSESS, ProblemState.RCA,
               ProblemState.FIX_IN_PROGRESS)


def _value(problem: Any, values: dict[str, Any], name: str) -> Any:
    return values.get(name, getattr(problem, name, None))


def cause_accounted_for(problem: Any, values: dict[str, Any]) -> dict[str, list[str]] | None:
    """A guard: the root cause is written down, or it is said not to be found and why."""
    if (_value(problem, values, "root_cause") or "").strip():
        return None
    if _value(problem, values, "cause_not_found"):
        if (_value(problem, values, "cause_not_found_reason") or "").strip():
            return None
        return {"cause_not_found_reason": [gettext(
            "Say why the root cause could not be found.")]}
    return {"root_cause": [gettext(
        "Write down the root cause, or mark it as not found with a reason.")]}


_RESOLVE_GUARDS = (cause_accounted_for,
                   required("resolution", _("Say how the problem was resolved.")))

PROBLEM_WORKFLOW = Workflow(
    states=ProblemState,
    initial=ProblemState.NEW,
    transitions=(
        Transition("new", "assess", _("Assess"), MANAGE),
        Transition("new", "rca", _("Start root cause analysis"), MANAGE),
        Transition("assess", "rca", _("Start root cause analysis"), MANAGE),
        Transition("assess", "new", _("Back to new"), MANAGE),
        Transition("assess", "closed", _("Close"), MANAGE, guards=(cause_accounted_for,),
                   stamps=("closed_at",)),
        Transition("rca", "fix_in_progress", _("Start the fix"), MANAGE,
                   guards=(cause_accounted_for,)),
        Transition("rca", "assess", _("Back to assessment"), MANAGE),
        Transition("rca", "resolved", _("Resolve"), MANAGE, guards=_RESOLVE_GUARDS,
                   stamps=("resolved_at",)),
        Transition("rca", "closed", _("Close"), MANAGE, guards=(cause_accounted_for,),
                   stamps=("closed_at",)),
        Transition("fix_in_progress", "rca", _("Back to root cause analysis"), MANAGE),
        Transition("fix_in_progress", "resolved", _("Resolve"), MANAGE,
                   guards=_RESOLVE_GUARDS, stamps=("resolved_at",)),
        Transition("resolved", "rca", _("Reopen"), MANAGE),
        Transition("resolved", "closed", _("Close"), MANAGE, guards=(cause_accounted_for,),
                   stamps=("closed_at",)),
    ),
)
