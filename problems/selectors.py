"""Reads of problem management: the lists, the detail page, the linked incidents as a
timeline with their patterns (which CIs, services and places recur), and the problems of
an incident."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from incidents.models import Incident

from .models import Problem, ProblemIncident, ProblemState

PAGE_SIZE = 50
STATE_BADGES = {
    ProblemState.NEW: "badge-blue", ProblemState.ASSESS: "badge-blue",
    ProblemState.RCA: "badge-amber", ProblemState.FIX_IN_PROGRESS: "badge-amber",
    ProblemState.RESOLVED: "badge-green", ProblemState.CLOSED: "badge-grey",
}


def problems() -> QuerySet[Problem]:
    return Problem.objects.select_related("assignment_group", "assignee", "category")


def problem_page(queryset: QuerySet[Problem], *, after: str | None = None,
                 size: int = PAGE_SIZE) -> tuple[list[Problem], str | None]:
    """A page of the list, newest first, keyed by id (no count)."""
    queryset = queryset.order_by("-id")
    if after:
        if not after.isdigit():
            raise ValueError("bad cursor")
        queryset = queryset.filter(pk__lt=int(after))
    items = list(queryset[:size + 1])
    next_cursor = str(items[size - 1].pk) if len(items) > size else None
    return items[:size], next_cursor


def problem_detail() -> QuerySet[Problem]:
    return Problem.objects.select_related(
        "category", "requester", "requester__profile", "assignment_group", "assignee",
        "assignee__profile", "cause_ci", "fix_change")


def problem_links(problem: Problem) -> list[ProblemIncident]:
    """The linked incidents with what the table and the timeline show, oldest first."""
    return list(ProblemIncident.objects.filter(problem=problem).select_related(
        "incident", "incident__ci", "incident__service", "incident__requester",
        "incident__requester__profile", "incident__assignment_group", "linked_by",
        "linked_by__profile").order_by("incident__created_at", "incident__id"))


def incident_place(incident: Incident) -> str:
    """Where an incident happened: its CI's location, else its caller's."""
    if incident.ci is not None and incident.ci.location:
        return incident.ci.location
    profile = getattr(incident.requester, "profile", None)
    return getattr(profile, "location", "") or ""


@dataclass(frozen=True)
class TimelineEvent:
    at: Any
    kind: str  # "opened" or "resolved"
    incident: Incident
    place: str


@dataclass
class IncidentPatterns:
    events: list[TimelineEvent]
    by_ci: list[tuple[str, int]]
    by_service: list[tuple[str, int]]
    by_place: list[tuple[str, int]]
    open_count: int


def incident_patterns(links: list[ProblemIncident]) -> IncidentPatterns:
    """The linked incidents' openings and resolutions in time order, and how often each
    CI, service and place comes up (most first), so recurrences stand out."""
    events: list[TimelineEvent] = []
    by_ci: Counter[str] = Counter()
    by_service: Counter[str] = Counter()
    by_place: Counter[str] = Counter()
    open_count = 0
    for link in links:
        incident = link.incident
        place = incident_place(incident)
        events.append(TimelineEvent(incident.created_at, "opened", incident, place))
        if incident.resolved_at:
            events.append(TimelineEvent(incident.resolved_at, "resolved", incident, place))
        if incident.ci is not None:
            by_ci[incident.ci.name] += 1
        if incident.service is not None:
            by_service[incident.service.name] += 1
        if place:
            by_place[place] += 1
        open_count += incident.state in ("new", "assigned", "in_progress", "on_hold")
    events.sort(key=lambda e: (e.at, e.kind != "opened", e.incident.pk))
    return IncidentPatterns(events=events, by_ci=by_ci.most_common(),
                            by_service=by_service.most_common(),
                            by_place=by_place.most_common(), open_count=open_count)


def open_linked_incident_count(problem: Problem) -> int:
    from incidents.models import OPEN_STATES

    return problem.incidents.filter(state__in=OPEN_STATES).count()


def incident_problems(incident: Incident) -> list[Problem]:
    """The problems an incident is linked to, newest first."""
    return list(Problem.objects.filter(incident_links__incident=incident).only(
        "id", "number", "title", "state", "known_error", "workaround").order_by("-id"))
