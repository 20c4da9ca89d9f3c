"""Declared state machines. Each ticket type declares one :class:`Workflow`; the
transition service enforces it and the UI asks it which buttons to show."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from itsm.errors import DomainError, NotPermitted

# A guard returns None when the move is allowed, else the reason it is not, naming the
# field at fault: {"resolution_code": ["Required to resolve."]}.
Guard = Callable[[Any, dict[str, Any]], dict[str, list[str]] | None]


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    label: str
    permission: str | None = None
    guards: tuple[Guard, ...] = ()
    # Timestamp fields to stamp with "now" when the move happens.
    stamps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workflow:
    states: type  # a TextChoices
    transitions: tuple[Transition, ...]
    initial: str
    # The model field holding the state ("state" on tickets, "status" on CIs).
    state_field: str = "state"
    _index: dict[tuple[str, str], Transition] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        valid = set(self.states.values)
        for t in self.transitions:
            if t.source not in valid or t.target not in valid:
                raise ValueError(f"Transition {t.source}->{t.target} names an unknown state")
            if (t.source, t.target) in self._index:
                raise ValueError(f"Transition {t.source}->{t.target} declared twice")
            self._index[(t.source, t.target)] = t
        if self.initial not in valid:
            raise ValueError(f"Unknown initial state {self.initial}")

    def find(self, source: str, target: str) -> Transition | None:
        return self._index.get((source, target))

    def available(self, ticket: Any, user: Any = None) -> list[Transition]:
        """The moves out of the ticket's state that ``user`` may make (UI buttons)."""
        return [
            t for t in self.transitions
            if t.source == getattr(ticket, self.state_field)
            and (user is None or t.permission is None or user.has_perm(t.permission))
        ]

    def check(self, ticket: Any, target: str, user: Any, values: dict[str, Any]) -> Transition:
        """Return the transition from the ticket's state to ``target`` or raise why not."""
        label = dict(self.states.choices)
        current = getattr(ticket, self.state_field)
        transition = self.find(current, target)
        if transition is None:
            raise DomainError(
                _("Cannot move from %(source)s to %(target)s.")
                % {"source": label.get(current, current),
                   "target": label.get(target, target)},
                code="invalid_transition",
                fields={self.state_field: [_("Not allowed from here.")]},
            )
        if user is not None and transition.permission and not user.has_perm(
            transition.permission
        ):
            raise NotPermitted(_("You do not have permission to %(action)s this.")
                               % {"action": transition.label.lower()})
        problems: dict[str, list[str]] = {}
        for guard in transition.guards:
            problems.update(guard(ticket, values) or {})
        if problems:
            raise DomainError(next(iter(problems.values()))[0], code="guard_failed",
                              fields=problems)
        return transition

    def pairs(self) -> Iterable[tuple[str, str]]:
        return self._index.keys()


def required(field_name: str, message: str) -> Guard:
    """A guard: the field must have a value, either given with the move or already set."""

    def guard(ticket: Any, values: dict[str, Any]) -> dict[str, list[str]] | None:
        value = values.get(field_name, getattr(ticket, field_name, None))
        return None if value not in (None, "") else {field_name: [message]}

    return guard
