"""The known error database: problems published as known errors (a workaround, the root
cause when found), searched by the desk and suggested while an incident is logged, so the
agent applies a workaround that exists instead of diagnosing again.

Each known error is scored the way ``incidents.similar`` scores duplicates:

- a *context* score from where it occurs: the same CI (one of its CIs, or the CI of an
  incident linked to it; 0.7), the same service (0.5), a CI one relationship away from
  one of its CIs or services (the laptop that depends on the affected service; 0.4), the
  same category (or its parent or child; 0.25). Several pieces of context add up as
  independent evidence;
- a *text* score: trigram similarity on PostgreSQL, TF-IDF in Python elsewhere, rescaled
  between the same "unrelated" and "same issue" levels as duplicate suggestions
  (``incidents.similar.TRIGRAM`` / ``TFIDF``), so one threshold serves both databases;

combined as independent evidence, ``1 − (1 − context) × (1 − text)``. Open known errors
(their problem not resolved or closed) come first: a resolved one has its permanent fix
deployed, and matches less often. Suggestions leave closed problems out; the search page
can include them.

Candidates are bounded: the newest known errors (capped) and those the context found.
Whatever the text (empty, punctuation, a NUL byte, a pasted log), nothing here fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Concat, Greatest, Left
from django.utils.translation import gettext as _

from cmdb.models import Relationship
from incidents import tfidf
from incidents.models import Category
from incidents.similar import TRIGRAM, text_method

from .models import Problem, ProblemIncident
from .workflow import OPEN_STATES, ProblemState

SAME_CI = 0.7
SAME_SERVICE = 0.5
RELATED_CI = 0.4
SAME_CATEGORY = 0.25
MIN_SCORE = 0.3  # below this nothing is suggested
WORDS_FOUND = 0.5  # a search whose every word is in the known error's text
MAX_CANDIDATES = 300  # the newest known errors scored, besides those the context finds
DESCRIPTION_CHARS = 1000
QUERY_CHARS = 200


@dataclass(frozen=True)
class Suggestion:
    problem: Problem
    score: float  # 0–1
    reasons: tuple[str, ...]
    text_score: float  # 0–1, the text part alone
    is_open: bool


def _pk(value: Any) -> int | None:
    value = getattr(value, "pk", value)
    if isinstance(value, str):
        value = int(value) if value.strip().isdigit() else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


def _clean(text: Any, limit: int) -> str:
    """Text as the database can take it: a string, no NUL byte (PostgreSQL refuses it),
    bounded."""
    return str(text or "").replace("\x00", " ").strip()[:limit]


def known_errors() -> QuerySet[Problem]:
    """Every published known error."""
    return Problem.objects.filter(known_error=True)


def _neighbours(ids: set[int]) -> set[int]:
    """The CIs one relationship away from ``ids`` (not ``ids`` themselves)."""
    if not ids:
        return set()
    found: set[int] = set()
    for source, target in Relationship.objects.filter(
            Q(source_id__in=ids) | Q(target_id__in=ids)).values_list("source_id", "target_id"):
        found.update((source, target))
    return found - ids


def category_family(category: Any) -> set[int]:
    """A category with its parent and its children: "Network" meets "Network › VPN"."""
    pk = _pk(category)
    if pk is None:
        return set()
    family = {pk}
    for own, parent in Category.objects.filter(Q(pk=pk) | Q(parent_id=pk)).values_list(
            "pk", "parent_id"):
        family.add(own)
        if own == pk and parent:
            family.add(parent)
    return family


def _touching(ids: set[int], *, cis: bool = True, services: bool = True) -> Q:
    """Known errors whose own CIs or services, or whose linked incidents' CI or service,
    are among ``ids`` (as ``pk__in`` subqueries: no duplicate rows from the joins)."""
    match = Q(pk__in=[])
    if not ids:
        return match
    links = ProblemIncident.objects.filter(
        Q(incident__ci_id__in=ids) | Q(incident__service_id__in=ids)).values("problem_id")
    match |= Q(pk__in=links)
    if cis:
        match |= Q(pk__in=Problem.cis.through.objects.filter(
            configurationitem_id__in=ids).values("problem_id"))
    if services:
        match |= Q(pk__in=Problem.services.through.objects.filter(
            configurationitem_id__in=ids).values("problem_id"))
    return match


@dataclass
class _Context:
    ci: int | None
    service: int | None
    categories: set[int]
    related: set[int]

    @classmethod
    def of(cls, *, ci: Any, service: Any, category: Any) -> _Context:
        ci_id, service_id = _pk(ci), _pk(service)
        own = {pk for pk in (ci_id, service_id) if pk}
        return cls(ci=ci_id, service=service_id, categories=category_family(category),
                   related=_neighbours(own))

    def any(self) -> Q:
        """Known errors that some piece of this context concerns."""
        match = Q(pk__in=[])
        own = {pk for pk in (self.ci, self.service) if pk}
        if own or self.related:
            match |= _touching(own | self.related)
        if self.categories:
            match |= Q(category_id__in=self.categories)
        return match

    def scores(self, ids: set[int]) -> dict[int, tuple[float, list[str]]]:
        """Each candidate's context score and its reasons, in a few queries."""
        if not ids:
            return {}
        rows = Problem.objects.filter(pk__in=ids)
        same_ci = set(rows.filter(_touching({self.ci})).values_list("pk", flat=True)) \
            if self.ci else set()
        same_service = set(rows.filter(_touching({self.service})).values_list(
            "pk", flat=True)) if self.service else set()
        related = set(rows.filter(_touching(self.related)).values_list("pk", flat=True)) \
            if self.related else set()
        same_category = set(rows.filter(category_id__in=self.categories).values_list(
            "pk", flat=True)) if self.categories else set()
        result: dict[int, tuple[float, list[str]]] = {}
        for pk in ids:
            weights, reasons = [], []
            if pk in same_ci:
                weights.append(SAME_CI)
                reasons.append(_("same CI"))
            if pk in same_service:
                weights.append(SAME_SERVICE)
                reasons.append(_("same service"))
            if pk in related and pk not in same_ci and pk not in same_service:
                weights.append(RELATED_CI)
                reasons.append(_("related CI"))
            if pk in same_category:
                weights.append(SAME_CATEGORY)
                reasons.append(_("same category"))
            missing = 1.0
            for weight in weights:
                missing *= 1 - weight
            result[pk] = (1 - missing, reasons)
        return result


def _text_scores(ids: set[int], title: str, description: str) -> dict[int, float]:
    """Each candidate's text similarity, rescaled (0–1), by the database's method."""
    if not ids or not (title or description):
        return {}
    rows = Problem.objects.filter(pk__in=ids)
    method = text_method(rows.db)
    if method is TRIGRAM:
        from django.contrib.postgres.search import TrigramSimilarity

        head = title or description[:200]
        similarity = TrigramSimilarity("title", head)
        if description:
            similarity = Greatest(similarity, TrigramSimilarity(
                Concat(F("title"), Value(" "), Left("description", DESCRIPTION_CHARS)),
                f"{head} {description[:DESCRIPTION_CHARS]}"))
        return {pk: method.scaled(raw) for pk, raw in
                rows.annotate(text_similarity=similarity).values_list("pk", "text_similarity")}
    candidates = list(rows.values_list("pk", "title", Left("description", DESCRIPTION_CHARS)))

    def words(head: str, body: str) -> list[str]:  # the title counts twice
        return tfidf.tokens(f"{head} {head} {body}")

    raw = tfidf.cosine_scores(words(title, description[:DESCRIPTION_CHARS]),
                              [words(row_title, body or "") for _pk, row_title, body
                               in candidates])
    return {pk: method.scaled(value) for (pk, _title, _body), value
            in zip(candidates, raw, strict=True)}


def _words(query: str) -> Q | None:
    """Known errors whose title, description, workaround or root cause contains every
    word of the query (any case): what a person searching by keywords expects."""
    words = [word for word in query.split() if len(word) > 1][:8]
    if not words:
        return None
    match = Q()
    for word in words:
        match &= (Q(title__icontains=word) | Q(description__icontains=word)
                  | Q(workaround__icontains=word) | Q(root_cause__icontains=word))
    return match


def _ranked(scored: list[tuple[int, float, tuple[str, ...], float]], limit: int,
            ) -> list[Suggestion]:
    """Open ones first, then by score, then the most recently published."""
    rows = Problem.objects.select_related("category", "fix_change").in_bulk(
        [pk for pk, *_rest in scored])
    suggestions = [Suggestion(problem=rows[pk], score=score, reasons=reasons,
                              text_score=text, is_open=rows[pk].state in OPEN_STATES)
                   for pk, score, reasons, text in scored if pk in rows]
    suggestions.sort(key=lambda s: (s.is_open, s.score,
                                    s.problem.known_error_at or s.problem.created_at,
                                    s.problem.pk), reverse=True)
    return suggestions[:limit]


def _candidates(base: QuerySet[Problem], near: Q | None) -> set[int]:
    ids = set(base.order_by(F("known_error_at").desc(nulls_last=True), "-pk")
              .values_list("pk", flat=True)[:MAX_CANDIDATES])
    if near is not None:
        ids |= set(base.filter(near).order_by("-pk").values_list("pk", flat=True)
                   [:MAX_CANDIDATES])
    return ids


def known_error_suggestions(*, title: str, description: str = "", ci: Any = None,
                            service: Any = None, category: Any = None, limit: int = 5,
                            exclude: Any = None) -> list[Suggestion]:
    """The known errors that may match an incident being logged (or worked), best
    first, each with its reasons. ``ci``, ``service`` and ``category`` are records or
    ids. ``exclude`` leaves out known errors the incident is linked to already (an
    incident or its id). Closed problems are left out."""
    title = _clean(title, 200)
    description = _clean(description, DESCRIPTION_CHARS)
    context = _Context.of(ci=ci, service=service, category=category)
    base = known_errors().exclude(state=ProblemState.CLOSED)
    incident_id = _pk(exclude)
    if incident_id:
        base = base.exclude(pk__in=ProblemIncident.objects.filter(
            incident_id=incident_id).values("problem_id"))
    if not (title or description or context.ci or context.service or context.categories):
        return []
    ids = _candidates(base, context.any())
    contexts = context.scores(ids)
    texts = _text_scores(ids, title, description)
    scored = []
    for pk in ids:
        context_score, reasons = contexts.get(pk, (0.0, []))
        text = texts.get(pk, 0.0)
        if text > 0:
            reasons = [*reasons, _("similar text")]
        score = round(1 - (1 - context_score) * (1 - text), 2)
        if score >= MIN_SCORE:
            scored.append((pk, score, tuple(reasons), round(text, 2)))
    return _ranked(scored, limit)


def known_errors_search(query: str = "", *, ci: Any = None, service: Any = None,
                        category: Any = None, limit: int = 20,
                        include_closed: bool = False) -> list[Suggestion]:
    """The known error database as the desk searches it. ``ci``, ``service`` and
    ``category`` narrow the list: known errors on that CI or service (their own, or a
    linked incident's; a CI also finds those one relationship away), in that category
    (or its parent or children). ``query`` ranks by text similarity and keeps those that
    are similar or contain every word. With no query: open ones first, newest first."""
    query = _clean(query, QUERY_CHARS)
    base = known_errors()
    if not include_closed:
        base = base.exclude(state=ProblemState.CLOSED)
    context = _Context.of(ci=ci, service=service, category=category)
    if context.ci:
        base = base.filter(_touching({context.ci} | context.related))
    elif ci not in (None, ""):
        return []  # a CI that is no id matches nothing
    if context.service:
        base = base.filter(_touching({context.service}))
    elif service not in (None, ""):
        return []
    if category not in (None, ""):
        if not context.categories:
            return []
        base = base.filter(category_id__in=context.categories)
    words = _words(query) if query else None
    ids = _candidates(base, words)
    contexts = context.scores(ids)
    scored = []
    if query:
        texts = _text_scores(ids, query, "")
        found = set(Problem.objects.filter(pk__in=ids).filter(words).values_list(
            "pk", flat=True)) if words is not None else set()
        for pk in ids:
            text = texts.get(pk, 0.0)
            reasons = list(contexts.get(pk, (0.0, []))[1])
            if pk in found:
                text = max(text, WORDS_FOUND)
                reasons.append(_("contains the words searched"))
            elif text > 0:
                reasons.append(_("similar text"))
            if text > 0:
                scored.append((pk, round(text, 2), tuple(reasons), round(text, 2)))
    else:
        scored = [(pk, 1.0, tuple(contexts.get(pk, (0.0, []))[1]), 0.0) for pk in ids]
    return _ranked(scored, limit)


def known_error_for_link(value: Any) -> Problem:
    """The known error an agent chose to link an incident to (its id or record), or the
    refusal naming the ``known_error`` field."""
    from itsm.errors import DomainError

    pk = _pk(value)
    problem = known_errors().filter(pk=pk).first() if pk else None
    if problem is None:
        message = _("Choose a published known error.")
        raise DomainError(message, code="not_known_error", fields={"known_error": [message]})
    if problem.state == ProblemState.CLOSED:
        message = _("%(ref)s is closed: link the incident to an open known error.") % {
            "ref": problem.number}
        raise DomainError(message, code="known_error_closed",
                          fields={"known_error": [message]})
    return problem


def known_error_link(*, actor: Any, incident: Any, known_error: Any) -> Problem:
    """Link ``incident`` to the known error chosen for it, which applies its workaround
    to the incident (``problems.services.problem_link_incident``)."""
    from .services import problem_link_incident

    problem = known_error_for_link(known_error)
    problem_link_incident(actor=actor, problem=problem, incident=incident)
    return problem
