"""Bulk actions on the incident queue: assign, change state, link to a parent.

Each incident goes through the same service as a single change (``incident_assign``,
``incident_transition``, ``incident_link_parent``) in a transaction of its own, so one
refusal does not undo the others. What the whole batch needs (a group, the values a move
asks for, a parent, at most ``BULK_LIMIT`` incidents) is checked before anything is
written: a bad batch changes nothing. The result says, per incident, what was done or
why it was refused."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Team
from accounts.services import require_permission
from audit.context import as_actor
from itsm.errors import DomainError

from . import services
from .models import INCIDENT_WORKFLOW, Incident, IncidentState

BULK_LIMIT = 100


@dataclass(frozen=True)
class BulkOutcome:
    """One incident's result: ``done`` with what happened, or refused with the reason."""

    pk: int
    number: str
    done: bool
    message: str


@dataclass
class BulkResult:
    action: str
    outcomes: list[BulkOutcome] = field(default_factory=list)

    @property
    def done(self) -> list[BulkOutcome]:
        return [outcome for outcome in self.outcomes if outcome.done]

    @property
    def refused(self) -> list[BulkOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.done]


def bulk_targets() -> list[tuple[str, str]]:
    """The states a bulk move may aim at: every state some transition leads to."""
    targets = {transition.target for transition in INCIDENT_WORKFLOW.transitions}
    return [(value, label) for value, label in IncidentState.choices if value in targets]


def _selected(incident_ids: Iterable[Any]) -> list[int]:
    ids: list[int] = []
    for value in incident_ids:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise DomainError(_("The selection is not valid."), code="bad_selection",
                              fields={"incidents": [_("Not an incident id: %(value)s.")
                                                    % {"value": value}]}) from None
        if number not in ids:
            ids.append(number)
    if not ids:
        raise DomainError(_("Select at least one incident."), code="empty_selection",
                          fields={"incidents": [_("Select at least one incident.")]})
    if len(ids) > BULK_LIMIT:
        message = _("At most %(limit)d incidents at a time: %(count)d are selected.") % {
            "limit": BULK_LIMIT, "count": len(ids)}
        raise DomainError(message, code="too_many", fields={"incidents": [message]})
    return ids


def _each(action: str, incident_ids: Iterable[Any],
          change: Callable[[Incident], str]) -> BulkResult:
    """Run ``change`` on each incident (in number order) in its own transaction; it
    returns what it did. A refusal is recorded and the next incident goes ahead."""
    ids = _selected(incident_ids)
    found = {incident.pk: incident for incident in Incident.objects.filter(pk__in=ids)}
    result = BulkResult(action=action)
    for pk in ids:
        if pk not in found:
            result.outcomes.append(BulkOutcome(pk, f"#{pk}", False, _("No such incident.")))
    for incident in sorted(found.values(), key=lambda item: item.number):
        try:
            with transaction.atomic():
                message = change(incident)
        except DomainError as error:  # refused (NotPermitted and Conflict included)
            result.outcomes.append(BulkOutcome(incident.pk, incident.number, False,
                                               error.message))
        else:
            result.outcomes.append(BulkOutcome(incident.pk, incident.number, True, message))
    return result


def _person(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return profile.name if profile is not None else user.get_username()


@as_actor
def incidents_bulk_assign(*, actor: Any, incident_ids: Iterable[Any], group: Team,
                          assignee: Any | None = None) -> BulkResult:
    """Give each incident to ``group`` (and ``assignee``, who must be in it)."""
    require_permission(actor, "accounts.access_desk")
    if assignee is not None and not group.members.filter(pk=assignee.pk).exists():
        raise DomainError(
            _("%(name)s is not a member of %(group)s.") % {"name": _person(assignee),
                                                           "group": group.name},
            code="not_a_member", fields={"assignee": [_("Choose a member of the group.")]})
    done = (_("Assigned to %(group)s · %(person)s") % {"group": group.name,
                                                       "person": _person(assignee)}
            if assignee is not None else _("Assigned to %(group)s") % {"group": group.name})

    def assign(incident: Incident) -> str:
        services.incident_assign(actor=actor, incident=incident, group=group,
                                 assignee=assignee)
        return done

    return _each("assign", incident_ids, assign)


@as_actor
def incidents_bulk_transition(*, actor: Any, incident_ids: Iterable[Any], to_state: str,
                              note: str = "", **values: Any) -> BulkResult:
    """Move each incident to ``to_state`` along the declared lifecycle. The values the
    move needs (a resolution code and notes, a hold reason) are checked once, with the
    lifecycle's own guards, before any incident is touched."""
    require_permission(actor, "accounts.access_desk")
    targets = dict(bulk_targets())
    if to_state not in targets:
        raise DomainError(_("Choose the state to move to."), code="bad_state",
                          fields={"to_state": [_("Choose a state.")]})
    problems: dict[str, list[str]] = {}
    into = next(t for t in INCIDENT_WORKFLOW.transitions if t.target == to_state)
    for guard in into.guards:  # on a blank incident: only the values given count
        problems.update(guard(Incident(), values) or {})
    if problems:
        raise DomainError(next(iter(problems.values()))[0], code="guard_failed",
                          fields=problems)
    done = _("Now %(state)s") % {"state": targets[to_state]}

    def move(incident: Incident) -> str:
        services.incident_transition(actor=actor, incident=incident, to_state=to_state,
                                     note=note, **values)
        return done

    return _each("transition", incident_ids, move)


@as_actor
def incidents_bulk_link_parent(*, actor: Any, incident_ids: Iterable[Any],
                               parent: Incident) -> BulkResult:
    """Make each incident a child of ``parent``."""
    require_permission(actor, "accounts.access_desk")
    done = _("Linked to %(number)s") % {"number": parent.number}

    def link(incident: Incident) -> str:
        services.incident_link_parent(actor=actor, incident=incident, parent=parent)
        return done

    return _each("link_parent", incident_ids, link)
