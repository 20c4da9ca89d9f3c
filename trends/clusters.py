"""Finding clusters of incidents: reads only, no writes (``trends.services.detect`` turns
clusters into proposals).

The candidates are the incidents opened within the window that are not cancelled, not
children (their parent stands for them) and not linked to any problem yet, at most
:data:`MAX_INCIDENTS` of them (the newest), read in one query. Clusters are then found in
Python, the same way on every database:

- ``ci``, ``service``, ``category``: incidents sharing the CI, the affected service, or
  the category (the subcategory when there is one, else the category), from the
  threshold up;
- ``text``: incidents whose titles and descriptions are alike. Each incident is a TF-IDF
  vector (the tokens of ``incidents.tfidf``: the title counts twice, as in duplicate
  suggestions; inverse document frequencies over the candidates). Oldest first, an
  incident joins the group of the earlier incident most like it (cosine), if at least
  the similarity threshold, else starts a group: greedy single-link grouping, comparing
  an incident only with those that can reach the threshold (prefix filtering). Short
  titles of one issue vary ("VPN drops every 10 minutes", "VPN keeps disconnecting"):
  a link to the nearest one joins them where a group's average would split them. TF-IDF
  rather than PostgreSQL's trigrams: the same clusters on SQLite and PostgreSQL, and the
  candidates are already in memory.

A cluster whose incidents are all in a cluster of a more specific kind (CI, then
service, then text, then category) is left out: one issue is proposed once, under its
most precise reason.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef
from django.db.models.functions import Left

from incidents import tfidf
from incidents.models import Incident, IncidentState

from .models import ClusterKind

MAX_INCIDENTS = 5000  # the newest candidates in the window, read in one query
DESCRIPTION_CHARS = 1000  # as duplicate suggestions: enough to judge
TOP_TERMS = 3
# The most specific reason first: a cluster inside one of an earlier kind is left out.
SPECIFICITY = (ClusterKind.CI, ClusterKind.SERVICE, ClusterKind.TEXT, ClusterKind.CATEGORY)


@dataclass(frozen=True)
class Candidate:
    pk: int
    number: str
    created_at: datetime.datetime
    title: str
    ci_id: int | None
    service_id: int | None
    category_id: int | None  # the subcategory when set, else the category
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cluster:
    kind: str
    key: str
    incidents: tuple[Candidate, ...]  # oldest first
    subject_id: int | None = None  # the CI, service or category
    terms: tuple[str, ...] = ()  # text clusters: the words most of them share
    representative: Candidate | None = None  # text clusters: the one nearest the centre

    @property
    def incident_ids(self) -> frozenset[int]:
        return frozenset(candidate.pk for candidate in self.incidents)

    @property
    def size(self) -> int:
        return len(self.incidents)


@dataclass(frozen=True)
class ClusterOptions:
    since: datetime.datetime
    until: datetime.datetime
    threshold: int
    text_similarity: float
    kinds: tuple[str, ...] = tuple(ClusterKind.values)


def _linked_to_problem() -> Any:
    from problems.models import ProblemIncident

    return Exists(ProblemIncident.objects.filter(incident_id=OuterRef("pk")))


def candidates(options: ClusterOptions) -> list[Candidate]:
    """The incidents clusters are made of, oldest first (one query)."""
    rows = (Incident.objects
            .filter(created_at__gte=options.since, created_at__lte=options.until,
                    parent__isnull=True)
            .exclude(state=IncidentState.CANCELLED)
            .exclude(_linked_to_problem())
            .order_by("-created_at", "-pk")
            .values("pk", "number", "created_at", "title", "ci_id", "service_id",
                    "category_id", "subcategory_id",
                    head=Left("description", DESCRIPTION_CHARS))[:MAX_INCIDENTS])
    wants_text = ClusterKind.TEXT in options.kinds
    found = [Candidate(
        pk=row["pk"], number=row["number"], created_at=row["created_at"], title=row["title"],
        ci_id=row["ci_id"], service_id=row["service_id"],
        category_id=row["subcategory_id"] or row["category_id"],
        tokens=tuple(tfidf.tokens(f"{row['title']} {row['title']} {row['head'] or ''}"))
        if wants_text else ()) for row in rows]
    found.reverse()
    return found


ATTRIBUTES = {ClusterKind.CI: "ci_id", ClusterKind.SERVICE: "service_id",
              ClusterKind.CATEGORY: "category_id"}


def attribute_groups(kind: str, incidents: Sequence[Candidate]) -> dict[int, list[Candidate]]:
    """The incidents by their CI, service or category (``kind``), whatever their number."""
    attribute = ATTRIBUTES[kind]
    groups: dict[int, list[Candidate]] = defaultdict(list)
    for incident in incidents:
        value = getattr(incident, attribute)
        if value is not None:
            groups[value].append(incident)
    return groups


def _by_attribute(kind: str, incidents: Sequence[Candidate], threshold: int) -> list[Cluster]:
    groups = attribute_groups(kind, incidents)
    return [Cluster(kind=kind, key=f"{kind}:{value}", incidents=tuple(members),
                    subject_id=value)
            for value, members in sorted(groups.items()) if len(members) >= threshold]


# --- Text ---------------------------------------------------------------------------

def _vectors(incidents: Sequence[Candidate]) -> list[dict[str, float]]:
    """Unit TF-IDF vectors (sublinear term frequency, smoothed idf over the candidates)."""
    counts = [Counter(incident.tokens) for incident in incidents]
    frequency: Counter[str] = Counter()
    for doc in counts:
        frequency.update(doc.keys())
    total = len(counts)
    idf = {term: math.log((1 + total) / (1 + df)) + 1.0 for term, df in frequency.items()}
    vectors = []
    for doc in counts:
        vector = {term: (1.0 + math.log(count)) * idf[term] for term, count in doc.items()}
        norm = math.sqrt(sum(value * value for value in vector.values()))
        vectors.append({term: value / norm for term, value in vector.items()} if norm else {})
    return vectors


def text_groups(incidents: Sequence[Candidate], similarity: float) -> list[list[int]]:
    """Greedy clustering of the candidates by text: lists of indexes, each oldest first.
    Oldest first, an incident joins the group of the earlier incident most like it
    (cosine of their vectors) when that is at least ``similarity``, else starts a group
    (ties go to the older incident).

    Only incidents that can reach ``similarity`` are compared (prefix filtering, as in
    all-pairs similarity search): terms are ranked rarest first, and each incident is
    indexed under its rarest terms up to the point where the weight left in its other
    terms is below ``similarity`` (their norm bounds what they can add to a cosine). Two
    incidents at or above the similarity then share an indexed term, so a look-up of the
    index finds every incident that could be the nearest; the index also gives the part
    of the cosine over indexed terms, and the exact cosine is computed only where that
    part plus the norm of the rest can reach the similarity. Common words ("email",
    "slow") rarely enter the index, so its lists stay short."""
    vectors = _vectors(incidents)
    frequency: Counter[str] = Counter()
    for vector in vectors:
        frequency.update(vector.keys())
    group_of: dict[int, int] = {}
    groups: list[list[int]] = []
    # term -> (earlier incident, its weight) for the terms it is indexed under
    index: dict[str, list[tuple[int, float]]] = defaultdict(list)
    rest: dict[int, float] = {}  # the norm of an incident's terms not indexed
    floor = similarity - 1e-9
    for position, vector in enumerate(vectors):
        if not vector:
            continue
        partial: dict[int, float] = defaultdict(float)  # the cosine over indexed terms
        for term, weight in vector.items():
            for earlier, other_weight in index.get(term, ()):
                partial[earlier] += weight * other_weight
        nearest, best = None, -1.0
        for earlier in sorted(partial):  # oldest first: it keeps a tie
            if partial[earlier] + rest[earlier] < floor:
                continue  # its other terms cannot lift it to the similarity
            other = vectors[earlier]
            score = sum(weight * other.get(term, 0.0) for term, weight in vector.items())
            if score > best:
                nearest, best = earlier, score
        if nearest is None or best < floor:
            group_of[position] = len(groups)
            groups.append([position])
        else:
            group_of[position] = group_of[nearest]
            groups[group_of[position]].append(position)
        left = 1.0  # the squared norm of the terms not indexed yet (a unit vector)
        for term in sorted(vector, key=lambda t: (frequency[t], t)):
            if math.sqrt(max(left, 0.0)) < floor:
                break
            index[term].append((position, vector[term]))
            left -= vector[term] * vector[term]
        rest[position] = math.sqrt(max(left, 0.0))
    return groups


def top_terms(incidents: Iterable[Candidate], count: int = TOP_TERMS) -> tuple[str, ...]:
    """The words most of the incidents share (by how many contain them, then
    alphabetically), sorted: what a text cluster is keyed by."""
    frequency: Counter[str] = Counter()
    for incident in incidents:
        frequency.update(set(incident.tokens))
    ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))
    return tuple(sorted(term for term, _n in ranked[:count]))


def text_key(terms: Sequence[str]) -> str:
    digest = hashlib.sha1(" ".join(sorted(terms)).encode(), usedforsecurity=False)
    return f"text:{digest.hexdigest()[:16]}"


def _representative(members: Sequence[Candidate]) -> Candidate:
    """The member nearest the group's centre (the one sharing most of its words)."""
    frequency: Counter[str] = Counter()
    for member in members:
        frequency.update(set(member.tokens))

    def shared(member: Candidate) -> tuple[float, float]:
        words = set(member.tokens)
        return (sum(frequency[word] for word in words) / (len(words) or 1),
                -member.created_at.timestamp())
    return max(members, key=shared)


def _by_text(incidents: Sequence[Candidate], threshold: int,
             similarity: float) -> list[Cluster]:
    clusters = []
    for indexes in text_groups(incidents, similarity):
        if len(indexes) < threshold:
            continue
        members = tuple(incidents[index] for index in indexes)
        terms = top_terms(members)
        clusters.append(Cluster(kind=ClusterKind.TEXT, key=text_key(terms), incidents=members,
                                terms=terms, representative=_representative(members)))
    return clusters


# --- All kinds ------------------------------------------------------------------------

def clusters_in(incidents: Sequence[Candidate], options: ClusterOptions) -> list[Cluster]:
    """Every cluster at or above the threshold, most specific kind first, without those
    inside a cluster of a more specific kind."""
    found: dict[str, list[Cluster]] = {
        kind: _by_attribute(kind, incidents, options.threshold) for kind in ATTRIBUTES}
    if ClusterKind.TEXT in options.kinds:
        found[ClusterKind.TEXT] = _by_text(incidents, options.threshold,
                                           options.text_similarity)
    kept: list[Cluster] = []
    for kind in SPECIFICITY:
        for cluster in found.get(kind, ()):
            if any(cluster.incident_ids <= other.incident_ids for other in kept):
                continue
            if kind in options.kinds:
                kept.append(cluster)
    return kept


def find_clusters(options: ClusterOptions) -> list[Cluster]:
    return clusters_in(candidates(options), options)
