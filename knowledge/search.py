"""Finding articles: ``articles_search(query, user=…)``.

* PostgreSQL: full-text search computed on the fly over the published versions, weighted
  title A, summary and keywords B, body C, ranked with ``ts_rank``. The query is built
  from the words of what was typed (letters and digits only, so no character can break
  the query syntax), each word a prefix (people type as they search), joined by OR so an
  article matching more of the words ranks higher without every word being required.
* Elsewhere (SQLite): a weighted term score in Python over the published articles the
  person may read, with the stemmed tokens of ``incidents.tfidf``: each query word found
  in the title counts 3, in the summary or keywords 2, in the body 1 (sublinear in its
  count), times the word's inverse document frequency; the last word also matches as a
  prefix. Bounded by ``FALLBACK_MAX_ARTICLES``.

An empty query, or one with no word in it ("%_ --"), finds nothing (an empty list).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import F, QuerySet

from incidents.tfidf import STOP_WORDS, stem, tokens

from .markdown import plain_text
from .models import Article, Category

_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 12
FALLBACK_MAX_ARTICLES = 2000
WEIGHTS = {"title": 3.0, "summary": 2.0, "body": 1.0}


def query_words(query: str) -> list[str]:
    """The words of a query worth searching for, in order, without repeats."""
    seen: list[str] = []
    for word in _WORD.findall((query or "")[:500]):
        word = word.casefold()
        if (len(word) > 1 or word.isdigit()) and word not in STOP_WORDS and word not in seen:
            seen.append(word)
    return seen[:MAX_WORDS]


def _base(user: Any, category: Category | int | None) -> QuerySet[Article]:
    articles = Article.objects.filter(Article.visible_to(user))
    if category is not None:
        category_id = category.pk if isinstance(category, Category) else int(category)
        articles = articles.filter(category_id__in=[category_id, *Category.objects.filter(
            parent_id=category_id).values_list("pk", flat=True)])
    return articles


def articles_search(query: str, *, user: Any, limit: int = 10,
                    category: Category | int | None = None) -> list[Article]:
    """Published articles ``user`` may read that match ``query``, best first, each with a
    ``rank``; ``current_version`` and ``category`` loaded."""
    words = query_words(query)
    if not words or limit <= 0:
        return []
    articles = _base(user, category).select_related("current_version", "category")
    if connection.vendor == "postgresql":
        return _postgres(articles, words, limit)
    return _fallback(articles, words, limit)


def _postgres(articles: QuerySet[Article], words: list[str], limit: int) -> list[Article]:
    vector = (SearchVector("current_version__title", weight="A", config="english")
              + SearchVector("current_version__summary", "keywords", weight="B",
                             config="english")
              + SearchVector("current_version__body", weight="C", config="english"))
    # Words are letters and digits only: safe in the raw syntax, each a prefix.
    search = SearchQuery(" | ".join(f"{word}:*" for word in words), search_type="raw",
                         config="english")
    return list(articles.annotate(rank=SearchRank(vector, search))
                .filter(rank__gt=0).order_by("-rank", "-helpful_count", "id")[:limit])


def _stems(text: str) -> Counter[str]:
    return Counter(tokens(text))


def _fallback(articles: QuerySet[Article], words: list[str], limit: int) -> list[Article]:
    rows = list(articles.annotate(v_title=F("current_version__title"),
                                  v_summary=F("current_version__summary"),
                                  v_body=F("current_version__body"))
                .order_by("id")[:FALLBACK_MAX_ARTICLES])
    if not rows:
        return []
    wanted = [stem(word) for word in words]
    prefix = words[-1]  # the word being typed
    documents = []
    for row in rows:
        fields = {"title": _stems(row.v_title),
                  "summary": _stems(f"{row.v_summary} {row.keywords}"),
                  "body": _stems(plain_text(row.v_body))}
        documents.append((row, fields))
    frequency: Counter[str] = Counter()
    for _row, fields in documents:
        present = set().union(*fields.values())
        for term in set(wanted):
            if term in present or (term == stem(prefix) and any(
                    t.startswith(prefix) for t in present)):
                frequency[term] += 1
    total = len(documents)
    scored = []
    for row, fields in documents:
        score = 0.0
        for term in set(wanted):
            if not frequency[term]:
                continue
            idf = math.log(1 + total / frequency[term])
            for name, counts in fields.items():
                hits = counts.get(term, 0)
                if not hits and term == stem(prefix):
                    hits = sum(c for t, c in counts.items() if t.startswith(prefix))
                if hits:
                    score += WEIGHTS[name] * (1 + math.log(hits)) * idf
        if score > 0:
            row.rank = score
            scored.append(row)
    scored.sort(key=lambda a: (-a.rank, -a.helpful_count, a.pk))
    return scored[:limit]
