"""Small, rarely edited configuration tables (routing rules, the priority matrix) kept in
each process's memory, checked against the shared cache on every use.

Each name has a version token in the shared cache; a process reloads its copy when the
token differs from the one it loaded under. Saving or deleting a row (signals, connected
by the owning app) replaces the token at once and again after the commit, so no process
keeps what it read between the change and its commit. The token is random rather than a
counter so that a cleared cache, or an evicted token, can never bring back an old
version. Cost per use: one
cache read instead of the table's query and its model instances.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
_loaded: dict[str, tuple[str, Any]] = {}
_lock = threading.Lock()


def _key(name: str) -> str:
    return f"config-version:{name}"


def config_version(name: str) -> str:
    """The current version token of ``name`` (for keys of values kept in the shared
    cache, as the permissions are)."""
    return _version(name)


_pinned = threading.local()


@contextmanager
def versions_pinned() -> Iterator[None]:
    """Inside, each name's version token is read from the shared cache once: a batch of
    work (the SLA tick) sees one configuration and does not ask the cache per item."""
    _pinned.versions = {}
    try:
        yield
    finally:
        del _pinned.versions


def _version(name: str) -> str:
    pinned = getattr(_pinned, "versions", None)
    if pinned is not None and name in pinned:
        return pinned[name]
    version = cache.get(_key(name))
    if version is None:
        cache.add(_key(name), uuid.uuid4().hex, None)
        version = cache.get(_key(name))
    if pinned is not None:
        pinned[name] = version
    return version


def cached_config(name: str, load: Callable[[], T]) -> T:
    """``load()``'s result, reused until ``config_changed(name)``."""
    version = _version(name)
    held = _loaded.get(name)
    if held is not None and held[0] == version:
        return held[1]
    value = load()
    with _lock:
        _loaded[name] = (version, value)
    return value


def config_changed(name: str) -> Callable[..., None]:
    """A signal receiver that marks ``name`` changed (now and after the commit)."""
    def receiver(**_kwargs: Any) -> None:
        def bump() -> None:
            cache.set(_key(name), uuid.uuid4().hex, None)

        bump()
        transaction.on_commit(bump)

    return receiver
