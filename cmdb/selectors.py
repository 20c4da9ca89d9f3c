"""Reads of the CMDB shared by the desk, the API and other practices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


WALK_CHUNK = 500  # CIs of one level asked about in one query


def _walk(start: int, *, direction: str, depth: int, type_ids: list[int]) -> dict[int, int]:
    """Breadth first from ``start``: {ci id: distance}. Each CI is expanded once, so it
    is cycle-safe and a hub reached along many paths costs no more than one reached once;
    it stops at MAX_IMPACT_NODES + 1 CIs.

    Upstream (``up``): who is affected if the CI fails, following links backwards from
    the needed to the needing. Downstream (``down``): what the CI needs.

    bench/impact.py compares this with a recursive CTE on 100,000 CIs / 500,000 links:
    the same answers; at depth 5 the CTE's p95 was 149 ms on PostgreSQL (a hub is
    re-expanded at every depth it is reached at), this walk's 20 ms."""
    here, following = ("target_id", "source_id") if direction == "up" else (
        "source_id", "target_id")
    reached = {start: 0}
    frontier = [start]
    for level in range(1, depth + 1):
        if not frontier or len(reached) > MAX_IMPACT_NODES:
            break
        found: set[int] = set()
        for index in range(0, len(frontier), WALK_CHUNK):
            chunk = frontier[index:index + WALK_CHUNK]
            found.update(Relationship.objects.filter(
                **{f"{here}__in": chunk}, type_id__in=type_ids,
            ).values_list(following, flat=True).distinct())
        room = MAX_IMPACT_NODES + 1 - len(reached)
        frontier = sorted(found - reached.keys())[:room]
        reached.update((ci_id, level) for ci_id in frontier)
    return reached


def ci_impact(ci: ConfigurationItem, *, direction: str = "up", depth: int = 3) -> Impact:
    """Everything that depends on ``ci`` (``up``) or that it needs (``down``), to
    ``depth`` links, over relationship types that propagate impact, with the links
    between them. Stops at MAX_IMPACT_NODES CIs (``truncated``)."""
    if direction not in ("up", "down"):
        raise ValueError("direction must be 'up' or 'down'")
    depth = max(1, min(int(depth), MAX_IMPACT_DEPTH))
    type_ids = list(RelationshipType.objects.filter(propagates_impact=True)
                    .values_list("pk", flat=True))
    impact = Impact(root=ci, direction=direction, depth=depth)
    distances = _walk(ci.pk, direction=direction, depth=depth, type_ids=type_ids)
    impact.truncated = len(distances) > MAX_IMPACT_NODES
    ids = sorted(distances, key=lambda i: (distances[i], i))[:MAX_IMPACT_NODES]
    # Only what a graph or a table of the result shows: loading full CIs (with tags) for
    # 2,000 nodes cost ten times the walk itself.
    items = ConfigurationItem.objects.select_related("ci_class", "owner_team").only(
        *IMPACT_NODE_FIELDS).in_bulk(ids)
    impact.nodes = [(items[i], distances[i]) for i in ids if i in items]
    impact.edges = list(
        Relationship.objects.filter(source_id__in=ids, target_id__in=ids, type_id__in=type_ids)
        .select_related("type").only("id", "source_id", "target_id", "type__key", "type__name")
    ) if len(ids) > 1 else []
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
