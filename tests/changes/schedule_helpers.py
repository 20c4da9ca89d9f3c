"""Helpers shared by the schedule tests (plain functions, not fixtures): changes made
with the ticket services (the change services land with the lead), CIs and windows."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from changes.models import Change, ScheduleWindow
from cmdb.models import Relationship
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tickets.services import ticket_create

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")


def at(*args: int, tz: Any = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def make_change(actor: Any, title: str = "A change", *, type: str = "normal",
                start: dt.datetime | None = None, end: dt.datetime | None = None,
                cis: tuple = (), services: tuple = (), state: str | None = None,
                **fields: Any) -> Change:
    change = ticket_create(model=Change, actor=actor, title=title, type=type,
                           planned_start=start, planned_end=end, **fields)
    if state:
        Change.objects.filter(pk=change.pk).update(state=state)
        change.state = state
    change.cis.set(cis)
    change.services.set(services)
    return change


def server(name: str) -> Any:
    return CIFactory(name=name, ci_class=ci_class("server"))


def app(name: str) -> Any:
    return CIFactory(name=name, ci_class=ci_class("application"))


def service(name: str) -> Any:
    return CIFactory(name=name, ci_class=ci_class("business_service"))


def link(source: Any, kind: str, target: Any) -> Relationship:
    return Relationship.objects.create(source=source, target=target, type=rel_type(kind))


def window(kind: str, start: dt.datetime, end: dt.datetime, *, ci: Any = None,
           name: str = "", recurrence: str = "none", until: dt.date | None = None,
           tz: str = "UTC", **fields: Any) -> ScheduleWindow:
    return ScheduleWindow.objects.create(
        kind=kind, name=name or f"{kind} window", ci=ci, starts_at=start, ends_at=end,
        recurrence=recurrence, repeat_until=until, timezone=tz, **fields)
