"""Reads of the change desk pages: the list's pages (keyset, no COUNT) and the names
their rows show, the detail page's change with its links, and the services a change's
CIs reach in the CMDB."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Lower

from cmdb.models import ConfigurationItem
from cmdb.selectors import ci_impact
from incidents.selectors import person_names
from itsm.keyset import RowsAfter

from .models import Change, ChangeTemplate, ChangeTemplateVersion, TemplateStatus

PAGE_SIZE = 50
IMPACT_DEPTH = 2
IMPACT_MAX_CIS = 10  # CIs walked for the detail page's impact list
# Badge colours (app.css) of the list and the detail page.
RISK_BADGES = {"low": "badge-green", "moderate": "badge-blue", "high": "badge-amber",
               "very_high": "badge-red"}
STATE_BADGES = {"new": "badge-grey", "assess": "badge-grey", "authorize": "badge-amber",
                "scheduled": "badge-blue", "implement": "badge-amber", "review": "badge-blue",
                "closed": "badge-green", "cancelled": "badge-grey"}


class RowsBefore(RowsAfter):
    """``(a, b) < (x, y)``: the keyset of a newest-first order."""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        sql, params = super().as_sql(compiler, connection)
        left, right = sql.split(") > (", 1)
        return f"{left}) < ({right}", params


def changes() -> QuerySet[Change]:
    """The change table alone, for list pages (names come in one query each)."""
    return Change.objects.all()


def _encode(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime.datetime) else v
                      for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(value: str, order: Sequence[str]) -> tuple[Any, ...]:
    """The cursor's values typed as the order's columns; a tampered one is refused."""
    try:
        values = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not isinstance(values, list) or len(values) != len(order):
            raise ValueError("bad cursor")
        typed: list[Any] = []
        for name, item in zip(order, values, strict=True):
            if name == "id" and isinstance(item, int) and not isinstance(item, bool):
                typed.append(item)
            elif name != "id" and isinstance(item, str):
                typed.append(datetime.datetime.fromisoformat(item))
            else:
                raise ValueError("bad cursor")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as error:
        raise ValueError("bad cursor") from error
    return tuple(typed)


def change_page(items: QuerySet[Change], *, order: Sequence[str], newest_first: bool,
                after: str | None, size: int | None = None
                ) -> tuple[list[Change], str | None]:
    """One page in ``order`` and the cursor of the next (None on the last). No COUNT and
    no OFFSET: the cursor is a row comparison (``change_open_idx`` answers the open
    queues newest first). Rows without a value in the first column are left out."""
    size = size or PAGE_SIZE
    items = items.filter(**{f"{order[0]}__isnull": False})
    items = items.order_by(*(f"-{name}" if newest_first else name for name in order))
    if after:
        values = _decode(after, order)
        items = items.filter(RowsBefore(order, values) if newest_first
                             else RowsAfter(order, values))
    window = list(items[:size + 1])
    page = window[:size]
    cursor = _encode([getattr(page[-1], name) for name in order]) if len(window) > size \
        else None
    return page, cursor


@dataclass
class ChangeRow:
    change: Change
    group: str
    implementer: str
    cis: list[str]

    @property
    def state_badge(self) -> str:
        return STATE_BADGES.get(self.change.state, "badge-grey")

    @property
    def risk_badge(self) -> str:
        return RISK_BADGES.get(self.change.risk, "badge-grey")


def change_rows(page: Iterable[Change], team_names: dict[int, str]) -> list[ChangeRow]:
    """The page's rows with their names: the implementers in one query, the CIs' names in
    another (none for an empty page)."""
    page = list(page)
    if not page:
        return []
    people = person_names(change.assignee_id for change in page)
    through = Change.cis.through
    cis: dict[int, list[str]] = {}
    for change_id, name in (through.objects.filter(change_id__in=[c.pk for c in page])
                            .order_by(Lower("configurationitem__name"))
                            .values_list("change_id", "configurationitem__name")):
        cis.setdefault(change_id, []).append(name)
    return [ChangeRow(change=change, group=team_names.get(change.assignment_group_id, ""),
                      implementer=people.get(change.assignee_id, ""),
                      cis=cis.get(change.pk, [])) for change in page]


def change_detail() -> QuerySet[Change]:
    """A change with what its page shows: people, group, category and template version
    joined; its CIs, services and incidents in one small query each."""
    ci_rows = ConfigurationItem.objects.select_related("ci_class").order_by("name")
    return Change.objects.select_related(
        "requester", "requester__profile", "assignee", "assignee__profile",
        "assignment_group", "category", "template_version",
        "template_version__template").prefetch_related(
        Prefetch("cis", queryset=ci_rows), Prefetch("services", queryset=ci_rows),
        "incidents", "template_version__allowed_ci_classes")


def impacted_services(change: Change) -> list[str]:
    """Names of the services that depend on the change's CIs (CMDB impact upwards, two
    links), other than the services the change names itself; the first CIs only, so a
    change on hundreds of CIs does not walk the graph hundreds of times."""
    named = {ci.pk for ci in change.services.all()}
    found: dict[int, str] = {}
    for ci in list(change.cis.all())[:IMPACT_MAX_CIS]:
        for node, _distance in ci_impact(ci, direction="up", depth=IMPACT_DEPTH).nodes:
            if node.ci_class.is_service and node.pk not in named and node.pk != ci.pk:
                found[node.pk] = node.name
    return sorted(found.values(), key=str.lower)


# --- Standard change catalogue ----------------------------------------------------------

def templates_with_versions() -> QuerySet[ChangeTemplate]:
    """The catalogue: each template with its versions (newest first) and their allowed
    CI classes, in three queries."""
    versions = ChangeTemplateVersion.objects.select_related("approved_by",
                                                            "approved_by__profile",
                                                            "category").prefetch_related(
        "allowed_ci_classes").order_by("-version")
    return ChangeTemplate.objects.select_related("owner_team").prefetch_related(
        Prefetch("versions", queryset=versions))


def current_version(template: ChangeTemplate) -> ChangeTemplateVersion | None:
    """The approved version from prefetched versions (``template_current_version``
    without a query)."""
    return next((v for v in template.versions.all() if v.status == TemplateStatus.APPROVED),
                None)


def latest_version(template: ChangeTemplate) -> ChangeTemplateVersion | None:
    return next(iter(template.versions.all()), None)
