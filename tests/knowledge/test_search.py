"""Ranking on a small corpus, odd input and audiences (on whichever database the suite
runs: SQLite by default, PostgreSQL with DATABASE_URL)."""

import pytest

from knowledge import services
from knowledge.models import Audience
from knowledge.search import articles_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(published):
    return {
        "vpn": published(title="Connect to the VPN from home",
                         summary="Remote access with the VPN client.", keywords="remote access",
                         body="Open the client, sign in with MFA, choose the nearest gateway."),
        "password": published(title="Reset your password",
                              summary="Self-service password reset.",
                              body="Go to the reset page. If the VPN is connected, "
                                   "disconnect first."),
        "printer": published(title="Printer shows offline",
                             summary="Bring a network printer back online.",
                             body="Check the cable, restart the printer, re-add it."),
        "till": published(title="Till will not print receipts",
                          summary="Receipt printer on a point of sale till.",
                          body="Reseat the receipt printer cable. The till printer uses "
                               "thermal paper: check the roll."),
        "internal": published(title="VPN gateway failover runbook",
                              summary="For the network team.", body="Fail over the gateway.",
                              audience=Audience.STAFF),
    }


def numbers(results):
    return [a.number for a in results]


def test_title_match_beats_body_match(corpus, reader):
    results = articles_search("vpn", user=reader)
    assert numbers(results)[:2] == [corpus["vpn"].number, corpus["password"].number]


def test_more_relevant_first(corpus, reader):
    results = articles_search("receipt printer till", user=reader)
    assert results[0] == corpus["till"]
    assert corpus["printer"] in results


def test_prefix_as_you_type(corpus, reader):
    assert articles_search("passw", user=reader)[0] == corpus["password"]


def test_staff_only_hidden_from_requesters(corpus, reader, author):
    assert corpus["internal"] not in articles_search("gateway failover", user=reader)
    assert articles_search("gateway failover", user=author)[0] == corpus["internal"]


@pytest.mark.parametrize("query", ["", "   ", "%_", "-- ;", "'\"", "&|!():*", None])
def test_empty_or_punctuation_only_finds_nothing(corpus, reader, query):
    assert articles_search(query, user=reader) == []


def test_odd_characters_do_not_break_the_search(corpus, reader):
    results = articles_search("C++ & 'quotes' OR -- ; %_ printer", user=reader)
    assert corpus["printer"] in results
    assert articles_search("C++ & 'quotes' OR -- ; %_", user=reader) == []


def test_only_published_articles_are_found(corpus, author, reader):
    draft = services.article_create(actor=author, title="Printer drivers draft", body="x")
    assert draft not in articles_search("printer drivers", user=author)
    services.article_retire(actor=None, article=corpus["printer"])
    assert corpus["printer"] not in articles_search("printer offline", user=reader)


def test_category_filter(corpus, reader):
    from knowledge.models import Category
    hardware = Category.objects.create(name="Hardware", slug="hardware")
    corpus["printer"].category = hardware
    corpus["printer"].save()
    assert articles_search("printer", user=reader, category=hardware) == [corpus["printer"]]
