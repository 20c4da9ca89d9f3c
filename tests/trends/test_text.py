"""Text clusters: incidents with alike titles and descriptions, whatever their CI, found
the same way on SQLite and PostgreSQL (TF-IDF in Python), keyed by their shared words."""

import pytest

from incidents import tfidf
from trends import services
from trends.clusters import Candidate, text_groups, text_key, top_terms
from trends.models import ClusterKind, Proposal

from .conftest import DAYS

pytestmark = pytest.mark.django_db

VPN = ("VPN disconnects every few minutes", "VPN keeps disconnecting when working from home",
       "VPN connection drops every 10 minutes", "Cannot connect to VPN, disconnects after a "
       "few minutes", "VPN drops connection repeatedly")
OUTLOOK = ("Outlook crashes when opening attachments", "Outlook crashing on attachment open",
           "Outlook crashes opening PDF attachments", "Outlook freezes and crashes with "
           "attachments")
OTHERS = ("Printer on floor 3 not printing", "Cannot print to the floor printer",
          "Laptop battery drains in an hour", "Password reset link expired",
          "Wi-Fi slow in meeting rooms", "Email delivery delayed for the whole office",
          "Shared mailbox missing from Outlook", "Payroll export stuck at 50%",
          "Excel add-in fails to load")


def corpus(titles):
    import datetime

    from django.utils import timezone
    now = timezone.now()
    return [Candidate(pk=n, number=f"INC{n}", created_at=now + datetime.timedelta(seconds=n),
                      title=title, ci_id=None, service_id=None, category_id=None,
                      tokens=tuple(tfidf.tokens(f"{title} {title}")))
            for n, title in enumerate(titles)]


def test_greedy_grouping_of_a_small_corpus():
    titles = (*VPN, *OUTLOOK, *OTHERS)
    groups = [[titles[i] for i in group] for group in text_groups(corpus(titles), 0.35)]
    assert sorted(VPN) in [sorted(group) for group in groups]
    assert sorted(OUTLOOK) in [sorted(group) for group in groups]
    assert ["Shared mailbox missing from Outlook"] in groups
    assert all(len(group) <= 2 for group in groups if group[0] in OTHERS)


def test_a_higher_similarity_splits_loose_groups():
    titles = (*VPN, *OTHERS)
    groups = text_groups(corpus(titles), 0.9)
    assert max(len(group) for group in groups) < len(VPN)


def test_the_key_is_the_hash_of_the_shared_words():
    members = corpus(VPN)
    assert top_terms(members) == ("disconnect", "minut", "vpn")
    assert text_key(("vpn", "minut", "disconnect")) == text_key(top_terms(members))
    assert text_key(top_terms(members)).startswith("text:")


def test_similar_incidents_on_different_cis_make_a_text_proposal(log):
    vpn = [log(title, age=(5 - n) * DAYS) for n, title in enumerate(VPN)]
    outlook = [log(title, age=DAYS) for title in OUTLOOK]
    for title in OTHERS:
        log(title, age=2 * DAYS)

    services.detect()
    services.detect()

    proposals = {p.terms: p for p in Proposal.objects.filter(kind=ClusterKind.TEXT)}
    assert set(proposals) == {"disconnect minut vpn", "attachment crash outlook"}
    assert set(proposals["disconnect minut vpn"].incidents.all()) == set(vpn)
    assert set(proposals["attachment crash outlook"].incidents.all()) == set(outlook)
    assert proposals["disconnect minut vpn"].title.startswith("Recurring: VPN")
    assert "similar titles and descriptions (they share: disconnect, minut, vpn)" in \
        proposals["disconnect minut vpn"].description


def test_the_description_counts_too(log):
    for title in OTHERS:
        log(title, age=2 * DAYS)
    for title in ("Help", "Urgent", "Please look", "Broken again"):
        log(title, description="Outlook crashes when I open a PDF attachment.", age=DAYS)
    log("Request", description="Need a new keyboard.", age=DAYS)
    services.detect()
    proposal = Proposal.objects.get(kind=ClusterKind.TEXT)
    assert proposal.incident_count == 4


def test_a_text_cluster_whose_words_drift_keeps_its_proposal(log):
    for title in OTHERS:
        log(title, age=20 * DAYS)  # outside the window
        log(title, age=2 * DAYS)
    for title in ("VPN disconnects every few minutes", "VPN disconnects every few minutes",
                  "Cannot connect to VPN, disconnects after a few minutes",
                  "VPN disconnects after a few minutes at home"):
        log(title, age=3 * DAYS)
    services.detect()
    proposal = Proposal.objects.get(kind=ClusterKind.TEXT)
    assert proposal.terms == "disconnect few minut"
    log("VPN tunnel drops, disconnects every few minutes", age=DAYS)
    for _n in range(3):  # the words they share most change
        log("VPN tunnel drops and disconnects", age=DAYS)

    result = services.detect()

    assert result.created == [] and result.updated == [proposal.pk]
    assert Proposal.objects.filter(kind=ClusterKind.TEXT).count() == 1
    proposal.refresh_from_db()
    assert proposal.incident_count == 8 and proposal.terms == "disconnect few vpn"
    assert proposal.key == text_key(("disconnect", "few", "minut"))  # kept


def _naive_groups(incidents, similarity):
    """The reference: every earlier incident compared with every later one."""
    from trends.clusters import _vectors

    vectors = _vectors(incidents)
    group_of, groups = {}, []
    for position, vector in enumerate(vectors):
        if not vector:
            continue
        scores = [(sum(w * vectors[e].get(t, 0.0) for t, w in vector.items()), -e)
                  for e in range(position) if vectors[e]]
        best = max(scores, default=None)
        if best is None or best[0] < similarity - 1e-9:
            group_of[position] = len(groups)
            groups.append([position])
        else:
            group_of[position] = group_of[-best[1]]
            groups[group_of[position]].append(position)
    return groups


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("similarity", [0.2, 0.35, 0.6])
def test_the_indexed_grouping_finds_what_comparing_every_pair_finds(seed, similarity):
    import random

    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(60)]
    weights = [1 / (n + 1) for n in range(60)]  # a few common words, many rare ones
    titles = [" ".join(rng.choices(vocabulary, weights, k=rng.randint(1, 7)))
              for _n in range(150)]
    incidents = corpus(titles)
    assert text_groups(incidents, similarity) == _naive_groups(incidents, similarity)
