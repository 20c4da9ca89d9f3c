"""TF-IDF cosine similarity in plain Python: the text method for duplicate suggestions on
databases without trigram support (SQLite). It runs over a small, bounded set of
documents (see ``incidents.similar``), so a dictionary per document is all it needs.

Tokens are lower-cased words and numbers, without stop words, reduced by a light
suffix-stripping stemmer ("crashes", "crashing", "crashed" → "crash"). Weights are
sublinear term frequency × smoothed inverse document frequency, the scheme most
search engines start from; the score is the cosine of the two weight vectors (0–1).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

# Common English function words, plus filler that incident reports share ("issue",
# "keeps", "always").
_STOP_WORD_LIST = """
a about after again all also am an and any are as at be been before being but by can
cannot cant could did didnt do does doesnt dont for from get gets got had has have having
he her here him his how i im in into is isnt it its just me more my no nor not now of off
on once only or other our out over please so some still such than that the their them
then there these they this those to too up us very was wasnt we were what when where
which while who why will with wont would you your
issue problem always keep keeps every since today anymore suddenly
"""
STOP_WORDS = frozenset(_STOP_WORD_LIST.split())

_WORD = re.compile(r"[^\W_]+")
# Plural and verb endings, longest first; (suffix, replacement, shortest stem kept).
_SUFFIXES = (("sses", "ss", 2), ("ies", "y", 2), ("ing", "", 3), ("ed", "", 3),
             ("ly", "", 3), ("s", "", 3))


def stem(word: str) -> str:
    """A light stemmer: enough to meet "crashes", "crashing" and "crashed" at "crash"
    and "file"/"files" at "fil"; not a linguistic one (no Porter rule sets)."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, replacement, shortest in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= shortest:
            if suffix == "s" and word[-2] in "su":  # "access", "status" keep their s
                break
            word = word[: -len(suffix)] + replacement
            if suffix in ("ing", "ed") and len(word) > 3 and word[-1] == word[-2] and \
                    word[-1] not in "lsz":  # "stopped" → "stopp" → "stop"
                word = word[:-1]
            break
    if len(word) > 4 and word.endswith("e"):  # "expire"/"expired" both → "expir"
        word = word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """The stemmed words of ``text`` that carry meaning."""
    words = (w.casefold() for w in _WORD.findall(text or ""))
    stems = (stem(w) for w in words if len(w) > 1 and w not in STOP_WORDS)
    return [s for s in stems if s not in STOP_WORDS]


def _weights(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    vector = {term: (1.0 + math.log(count)) * idf[term] for term, count in counts.items()}
    norm = math.sqrt(sum(value * value for value in vector.values()))
    return {term: value / norm for term, value in vector.items()} if norm else {}


def cosine_scores(query: Sequence[str], documents: Sequence[Sequence[str]]) -> list[float]:
    """The cosine similarity (0–1) of the query's tokens to each document's tokens, with
    inverse document frequencies taken over these documents and the query."""
    counts = [Counter(doc) for doc in documents]
    query_counts = Counter(query)
    if not query_counts:
        return [0.0] * len(documents)
    frequency: Counter[str] = Counter()
    for doc in (*counts, query_counts):
        frequency.update(doc.keys())
    total = len(counts) + 1
    idf = {term: math.log((1 + total) / (1 + df)) + 1.0 for term, df in frequency.items()}
    query_vector = _weights(query_counts, idf)
    scores = []
    for doc in counts:
        vector = _weights(doc, idf)
        scores.append(min(1.0, sum(weight * vector.get(term, 0.0)
                                   for term, weight in query_vector.items())))
    return scores
