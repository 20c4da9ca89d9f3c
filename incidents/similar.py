"""Duplicate suggestions: the open incidents most like the one being logged, so the desk
can link the new one as a child instead of opening a duplicate (and the portal can say
"you reported this already").

Candidates are bounded, never a scan of the whole table: open incidents opened within
the window (newest first, capped), plus open ones on the same CI or service that are
recent or major (both through the ``(ci, created_at)`` and ``(service, created_at)``
indexes). Each candidate gets

- a *context* score: the same CI within the last hours (0.8), an ongoing major incident on
  the same CI or service (0.7), the same service within the last hours (0.6);
- a *text* score: trigram similarity computed by PostgreSQL (``pg_trgm``), or TF-IDF
  cosine similarity in Python elsewhere (``incidents.tfidf``), both over the bounded set.
  Each method's raw value is rescaled between its "unrelated" floor and its "same issue"
  level (measured on sample pairs, see tests/incidents/test_similar.py), so both rank
  alike and one threshold serves both;

and the two combine as independent evidence: ``1 − (1 − context) × (1 − text)``.
Suggestions below ``INCIDENT_DUPLICATES_MIN_SCORE`` are dropped.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Concat, Greatest, Left
from django.utils import timezone
from django.utils.translation import gettext as _

from . import tfidf
from .models import OPEN_STATES, Incident

SAME_CI = 0.8
MAJOR_NEARBY = 0.7
SAME_SERVICE = 0.6
DESCRIPTION_CHARS = 1000  # enough to judge; keeps long pasted logs from costing much


@dataclass(frozen=True)
class TextMethod:
    """How text similarity is computed, and where its raw values mean "unrelated" (the
    floor, and below) and "the same issue" (full, and above)."""

    name: str
    floor: float
    full: float

    def scaled(self, raw: float) -> float:
        return max(0.0, min(1.0, (raw - self.floor) / (self.full - self.floor)))


TRIGRAM = TextMethod("trigram", floor=0.15, full=0.6)
TFIDF = TextMethod("tfidf", floor=0.2, full=0.8)


@dataclass(frozen=True)
class DuplicateSettings:
    recent_hours: float  # same CI or service this recently counts as context
    window_days: int  # only incidents opened this recently are candidates
    max_candidates: int  # newest first, per kind of candidate
    min_score: float  # below this nothing is suggested

    @classmethod
    def current(cls) -> DuplicateSettings:
        return cls(
            recent_hours=float(getattr(settings, "INCIDENT_DUPLICATES_RECENT_HOURS", 4)),
            window_days=int(getattr(settings, "INCIDENT_DUPLICATES_WINDOW_DAYS", 30)),
            max_candidates=int(getattr(settings, "INCIDENT_DUPLICATES_MAX_CANDIDATES", 300)),
            min_score=float(getattr(settings, "INCIDENT_DUPLICATES_MIN_SCORE", 0.3)),
        )


@dataclass(frozen=True)
class Suggestion:
    incident: Incident
    score: float  # 0–1
    reasons: tuple[str, ...]
    text_score: float  # 0–1, the text part alone
    age: str  # how long ago it was opened ("2 h")


def text_method(using: str = "default") -> TextMethod:
    return TRIGRAM if connections[using].vendor == "postgresql" else TFIDF


def _pk(value: Any) -> int | None:
    return getattr(value, "pk", value) or None


def _age(delta: datetime.timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 1:
        return _("less than a minute")
    if minutes < 60:
        return _("%(n)d min") % {"n": minutes}
    if minutes < 48 * 60:
        return _("%(n)d h") % {"n": minutes // 60}
    return _("%(n)d days") % {"n": minutes // (24 * 60)}


def _candidate_ids(base: QuerySet[Incident], *, near: Q, cap: int) -> tuple[set[int],
                                                                          set[int]]:
    """(all candidate ids, the ids found by CI or service): the newest open incidents in
    the window (``created_at`` index, stops at the cap), and those on the same CI or
    service (bitmap reads of the ``(ci, created_at)`` and ``(service, created_at)``
    indexes)."""
    newest = set(base.order_by("-created_at", "-pk").values_list("pk", flat=True)[:cap])
    nearby: set[int] = set()
    if near:
        nearby = set(base.filter(near).order_by("-created_at", "-pk")
                     .values_list("pk", flat=True)[:cap])
    return newest | nearby, nearby


# What scoring needs of each candidate; the full rows are read for the winners only.
_SCORED = ("pk", "created_at", "ci_id", "service_id", "is_major")


def _text_scores(ids: set[int], nearby: set[int], title: str,
                 description: str) -> list[tuple[dict[str, Any], float]]:
    """Each candidate's scoring fields and raw text similarity, by the database's
    method. On PostgreSQL the similarity is computed in the query, and candidates below
    the floor that no CI or service brought in are dropped there."""
    rows = Incident.objects.filter(pk__in=ids)
    if text_method(rows.db) is TRIGRAM:
        from django.contrib.postgres.search import TrigramSimilarity

        similarity = TrigramSimilarity("title", title)
        if description:  # the whole text as well, when there is more than a title
            similarity = Greatest(similarity, TrigramSimilarity(
                Concat(F("title"), Value(" "), Left("description", DESCRIPTION_CHARS)),
                f"{title} {description[:DESCRIPTION_CHARS]}"))
        scored = rows.annotate(text_similarity=similarity).filter(
            Q(text_similarity__gte=TRIGRAM.floor) | Q(pk__in=nearby))
        return [(row, row["text_similarity"])
                for row in scored.values(*_SCORED, "text_similarity")]
    candidates = list(rows.values(*_SCORED, "title",
                                  head=Left("description", DESCRIPTION_CHARS)))

    def words(head: str, body: str) -> list[str]:  # the title counts twice
        return tfidf.tokens(f"{head} {head} {body}")

    raw = tfidf.cosine_scores(words(title, description[:DESCRIPTION_CHARS]),
                              [words(row["title"], row["head"] or "") for row in candidates])
    return list(zip(candidates, raw, strict=True))


def similar_open_incidents(*, title: str, description: str = "", service: Any = None,
                           ci: Any = None, exclude: Incident | int | None = None,
                           limit: int = 5, within: Q | None = None,
                           include_children: bool = False,
                           opened_at: datetime.datetime | None = None) -> list[Suggestion]:
    """Open incidents like the one described, best first, each with a score (0–1) and
    the reasons. ``service`` and ``ci`` are CIs or ids. ``exclude`` leaves out an
    incident and its children (the detail page's own). ``within`` narrows who may be
    suggested (the portal: your own and major incidents). Children are left out unless
    ``include_children``: their parent stands for them, and a new incident links to it.
    "Recent" means within the configured hours of ``opened_at`` (default: now; the
    detail page passes the incident's own opening time).

    Four queries whatever the number of incidents (three without a service or CI): two
    bounded candidate reads, the scoring read, and the winners' rows."""
    config = DuplicateSettings.current()
    now = timezone.now()
    hours = datetime.timedelta(hours=config.recent_hours)
    reference = opened_at or now
    recent = (reference - hours, reference + hours)
    service_id, ci_id = _pk(service), _pk(ci)
    base = Incident.objects.filter(
        state__in=OPEN_STATES, created_at__gte=now - datetime.timedelta(days=config.window_days))
    if within is not None:
        base = base.filter(within)
    if not include_children:
        base = base.filter(parent__isnull=True)
    if exclude is not None:
        base = base.exclude(pk=_pk(exclude)).exclude(parent_id=_pk(exclude))
    # Each arm leads with the CI or service, so PostgreSQL reads it from the
    # (ci, created_at) or (service, created_at) index.
    near = Q()
    for field, value in (("ci_id", ci_id), ("service_id", service_id)):
        if value:
            near |= Q(**{field: value, "created_at__range": recent}) | Q(
                **{field: value, "is_major": True})
    ids, nearby = _candidate_ids(base, near=near, cap=config.max_candidates)
    if not ids:
        return []
    method = text_method(base.db)
    ranked = []
    for row, raw in _text_scores(ids, nearby, title.strip(), description.strip()):
        context, reasons = 0.0, []
        age = _age(now - row["created_at"])
        is_recent = recent[0] <= row["created_at"] <= recent[1]
        same_ci = bool(ci_id) and row["ci_id"] == ci_id
        same_service = bool(service_id) and row["service_id"] == service_id
        if same_ci and is_recent:
            context = SAME_CI
            reasons.append(_("same CI, opened %(age)s ago") % {"age": age})
        if row["is_major"] and (same_ci or same_service):
            context = max(context, MAJOR_NEARBY)
            reasons.append(_("ongoing major incident on this CI") if same_ci
                           else _("ongoing major incident on this service"))
        if same_service and is_recent:
            context = max(context, SAME_SERVICE)
            reasons.append(_("same service, opened %(age)s ago") % {"age": age})
        text = method.scaled(raw)
        if text > 0:
            reasons.append(_("similar text"))
        score = round(1 - (1 - context) * (1 - text), 2)
        if score >= config.min_score:
            ranked.append((score, row["created_at"], row["pk"], tuple(reasons),
                           round(text, 2), age))
    ranked.sort(reverse=True)  # best score, then newest
    ranked = ranked[:limit]
    # Only what a suggestion shows: fewer joins plan much faster than the full selector.
    incidents = Incident.objects.select_related(
        "assignment_group", "assignee__profile", "service", "ci",
    ).in_bulk([pk for _score, _at, pk, *_rest in ranked])
    return [Suggestion(incident=incidents[pk], score=score, reasons=reasons,
                       text_score=text, age=age)
            for score, _at, pk, reasons, text, age in ranked]
