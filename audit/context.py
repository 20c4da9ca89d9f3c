"""Who is acting right now, for every entry point.

The web middleware, the Celery task base class and management commands each set the
actor; services read it through :func:`current_actor`. When nothing set it (a shell, a
migration) the actor is the system, labelled with the command line that runs.
"""

from __future__ import annotations

import contextvars
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    source: str  # web, api, task, command, system

    @property
    def is_system(self) -> bool:
        return self.user_id is None


_actor: contextvars.ContextVar[Actor | Callable[[], Actor] | None] = contextvars.ContextVar(
    "itsm_actor", default=None
)


def _process_actor() -> Actor:
    argv = sys.argv[1:2] if sys.argv and sys.argv[0].endswith("manage.py") else sys.argv[:1]
    name = " ".join(a.rsplit("/", 1)[-1] for a in argv) or "python"
    return Actor(user_id=None, label=f"system ({name})", source="system")


def user_actor(user: Any, source: str) -> Actor:
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(user_id=None, label="anonymous", source=source)
    return Actor(user_id=user.pk, label=user.get_username(), source=source)


def current_actor() -> Actor:
    value = _actor.get()
    if value is None:
        return _process_actor()
    return value() if callable(value) else value


@contextmanager
def acting_as(actor: Actor | Callable[[], Actor]) -> Iterator[None]:
    """Make ``actor`` the current actor for the block (lazily resolved if callable)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def acting_as_system(label: str, source: str = "system") -> Iterator[None]:
    with acting_as(Actor(user_id=None, label=f"system ({label})", source=source)):
        yield


def as_actor(func: Callable[..., Any]) -> Callable[..., Any]:
    """For services taking ``actor=<user>``: that user is the audit actor while it runs,
    keeping the entry point's source (web, api, task, command). ``actor=None`` (the
    system) leaves the current actor as it is."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = kwargs.get("actor")
        if user is None:
            return func(*args, **kwargs)
        current = current_actor()
        if current.user_id == user.pk:
            return func(*args, **kwargs)
        with acting_as(user_actor(user, current.source)):
            return func(*args, **kwargs)

    return wrapper
