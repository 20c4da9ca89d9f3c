"""Reads of the CMDB shared by the desk, the API and other practices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet

from .models import ConfigurationItem, Installation, Relationship, RelationshipType

MAX_IMPACT_DEPTH = 10
MAX_IMPACT_NODES = 2000
IMPACT_NODE_FIELDS = ("id", "name", "status", "criticality", "ci_class__key", "ci_class__name",
                      "ci_class__is_service", "owner_team__name")


def configuration_items() -> QuerySet[ConfigurationItem]:
    return ConfigurationItem.objects.select_related(
        "ci_class", "owner_team", "assigned_to").prefetch_related("tags")


@dataclass
class Impact:
    """The CIs reached from ``root`` (with their distance) and the links between them."""

    root: ConfigurationItem
    direction: str
    depth: int
    nodes: list[tuple[ConfigurationItem, int]] = field(default_factory=list)
    edges: list[Relationship] = field(default_factory=list)
    truncated: bool = False


# Upstream: who is affected if the CI fails (follow links backwards, from the needed
# to the needing). Downstream: what the CI needs (follow links forwards).
# The type filter is a join, not a literal IN list: SQLite then walks the relationship
# index instead of building a filter over the whole table on every call (measured 46 ms
# -> 6 ms at depth 5 on 500,000 links; no difference on PostgreSQL).
_WALK_SQL = """
WITH RECURSIVE walk(ci_id, depth) AS (
    SELECT CAST(%s AS BIGINT), 0
    UNION
    SELECT r.{next}, w.depth + 1
    FROM {relationship} r
    JOIN walk w ON r.{here} = w.ci_id
    JOIN {relationship_type} t ON t.id = r.type_id
    WHERE w.depth < %s AND t.propagates_impact
)
SELECT ci_id, MIN(depth) AS distance FROM walk GROUP BY ci_id ORDER BY distance, ci_id
LIMIT %s
"""


def ci_impact(ci: ConfigurationItem, *, direction: str = "up", depth: int = 3) -> Impact:
    """Everything that depends on ``ci`` (``up``) or that it needs (``down``), to
    ``depth`` links, over relationship types that propagate impact.

    One recursive query on every database. It is cycle-safe: UNION drops a (CI, depth)
    pair already reached, and the depth bound ends every path."""
    if direction not in ("up", "down"):
        raise ValueError("direction must be 'up' or 'down'")
    depth = max(1, min(int(depth), MAX_IMPACT_DEPTH))
    type_ids = list(RelationshipType.objects.filter(propagates_impact=True)
                    .values_list("pk", flat=True))
    impact = Impact(root=ci, direction=direction, depth=depth)
    if not type_ids:
        impact.nodes = [(ci, 0)]
        return impact
    sql = _WALK_SQL.format(
        relationship=connection.ops.quote_name(Relationship._meta.db_table),
        relationship_type=connection.ops.quote_name(RelationshipType._meta.db_table),
        next="source_id" if direction == "up" else "target_id",
        here="target_id" if direction == "up" else "source_id",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [ci.pk, depth, MAX_IMPACT_NODES + 1])
        distances = dict(cursor.fetchall())
    impact.truncated = len(distances) > MAX_IMPACT_NODES
    ids = list(distances)[:MAX_IMPACT_NODES]
    # Only what a graph or a table of the result shows: loading full CIs (with tags) for
    # 2,000 nodes cost ten times the walk itself.
    items = ConfigurationItem.objects.select_related("ci_class", "owner_team").only(
        *IMPACT_NODE_FIELDS).in_bulk(ids)
    impact.nodes = [(items[i], distances[i]) for i in ids if i in items]
    impact.edges = list(
        Relationship.objects.filter(source_id__in=ids, target_id__in=ids, type_id__in=type_ids)
        .select_related("type").only("id", "source_id", "target_id", "type__key", "type__name")
    )
    return impact


# --- Service health -------------------------------------------------------------------

# Practices that know about outages register a provider: given CI ids, it returns the ids
# that have an open major or P1/P2 record. Incidents register theirs when they land.
HealthProvider = Callable[[list[int]], dict[int, str]]
_health_providers: list[HealthProvider] = []


def register_health_provider(provider: HealthProvider) -> None:
    if provider not in _health_providers:
        _health_providers.append(provider)


def service_health(service: ConfigurationItem, *, depth: int = 5) -> dict[str, Any]:
    """``operational``, ``degraded`` (something it depends on has an outage) or ``down``
    (the service itself has one), with the CIs behind the verdict."""
    needs = ci_impact(service, direction="down", depth=depth)
    ids = [item.pk for item, _distance in needs.nodes]
    problems: dict[int, str] = {}
    for provider in _health_providers:
        problems.update(provider(ids))
    if service.pk in problems:
        status = "down"
    elif problems:
        status = "degraded"
    else:
        status = "operational"
    return {"status": status, "causes": problems}


# --- Licences -------------------------------------------------------------------------

def licence_compliance(products: QuerySet[ConfigurationItem] | None = None) -> list[dict]:
    """Per software product: entitlements (unexpired licences, by metric) against what is
    installed (devices, or the distinct users those devices are assigned to)."""
    from django.utils import timezone

    today = timezone.localdate()
    products = products if products is not None else ConfigurationItem.objects.filter(
        Q(licences__isnull=False) | Q(installations__isnull=False)).distinct()
    rows = []
    for product in products.select_related("ci_class").prefetch_related("licences").annotate(
        devices=Count("installations", distinct=True),
        users=Count("installations__device__assigned_to", distinct=True),
    ).order_by("name"):
        licences = [lic for lic in product.licences.all()
                    if lic.expiry_date is None or lic.expiry_date >= today]
        per_device = sum(lic.entitlement_count for lic in licences
                         if lic.metric == "per_device")
        per_user = sum(lic.entitlement_count for lic in licences if lic.metric == "per_user")
        metric = "per_user" if per_user and not per_device else "per_device"
        entitled = per_user if metric == "per_user" else per_device
        installed = product.users if metric == "per_user" else product.devices
        rows.append({
            "product": product, "metric": metric, "entitled": entitled,
            "installed": installed, "available": entitled - installed,
            "over_deployed": installed > entitled,
            "licences": licences,
        })
    return rows


def installations_of(product: ConfigurationItem) -> QuerySet[Installation]:
    return product.installations.select_related("device", "device__assigned_to")
