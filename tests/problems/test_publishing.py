"""Known errors publish to the knowledge base: one article per problem, kept in step with
its symptoms, workaround and status, retired when the known error is withdrawn or the
problem closes, found by anyone searching the knowledge base."""

import pytest

from audit.models import AuditEntry
from itsm.errors import DomainError
from knowledge.models import Article, ArticleState, VersionState
from knowledge.search import articles_search
from problems import services
from problems.publishing import known_error_article

from .conftest import analysed

WORKAROUND = "Disconnect and reconnect the VPN client, then choose the Leeds gateway."


@pytest.fixture
def known_error(problem_manager, problem, service):
    services.problem_update(actor=problem_manager, problem=problem, workaround=WORKAROUND,
                            services=[service])
    return services.problem_set_known_error(actor=problem_manager, problem=problem,
                                            known_error=True)


def _versions(article):
    return list(article.versions.order_by("number").values_list("state", flat=True))


def test_a_known_error_is_published_for_everyone(known_error, problem_manager, caller):
    article = known_error_article(known_error)
    assert article.state == ArticleState.PUBLISHED and article.audience == "everyone"
    assert article.category.slug == "known-errors"
    current = article.current_version
    assert current.title == "Known error: VPN tunnels drop hourly"
    assert WORKAROUND in current.body and "Users lose the VPN on the hour." in current.body
    assert "Remote access" in current.body  # the affected service
    assert current.summary.startswith("Workaround: Disconnect and reconnect")
    assert current.reviewer == problem_manager and current.state == VersionState.PUBLISHED
    # Anyone searching the knowledge base finds it; the root cause is not in it.
    assert articles_search("vpn reconnect gateway", user=caller)[0] == article
    assert AuditEntry.objects.filter(object_id=str(article.pk), actor=problem_manager,
                                     action="create").exists()


def test_the_article_follows_the_workaround_and_the_status(known_error, problem_manager):
    article = known_error_article(known_error)
    services.problem_update(actor=problem_manager, problem=known_error, priority=2)
    assert _versions(article) == ["published"]  # nothing it shows changed: no version
    services.problem_update(actor=problem_manager, problem=known_error,
                            workaround="Use the web mail until the fix is in.")
    article.refresh_from_db()
    assert _versions(article) == ["retired", "published"]
    assert "Use the web mail" in article.current_version.body
    analysed(known_error, problem_manager)
    article.refresh_from_db()
    assert "The cause is being investigated." in article.current_version.body
    assert article.versions.count() == 3


def test_withdrawing_or_closing_retires_it_and_publishing_again_brings_it_back(
        known_error, problem_manager, caller):
    article = known_error_article(known_error)
    services.problem_set_known_error(actor=problem_manager, problem=known_error,
                                     known_error=False)
    article.refresh_from_db()
    assert article.state == ArticleState.RETIRED and not articles_search("vpn", user=caller)
    services.problem_set_known_error(actor=problem_manager, problem=known_error,
                                     known_error=True)
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED
    assert Article.objects.count() == 1  # the same article, not a second one
    problem = analysed(known_error, problem_manager)
    services.problem_resolve(actor=problem_manager, problem=problem,
                             resolution="IKE lifetime raised on the gateways.")
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED
    assert "A permanent fix has been put in place" in article.current_version.body
    services.problem_close(actor=problem_manager, problem=problem)
    article.refresh_from_db()
    assert article.state == ArticleState.RETIRED


def test_a_refused_known_error_publishes_nothing(problem_manager, problem):
    with pytest.raises(DomainError) as error:
        services.problem_set_known_error(actor=problem_manager, problem=problem,
                                         known_error=True)
    assert "workaround" in error.value.fields
    assert not Article.objects.exists()


def test_the_problem_page_links_its_article(client, known_error, problem_manager):
    client.force_login(problem_manager)
    article = known_error_article(known_error)
    page = client.get(f"/desk/problems/{known_error.number}/").content.decode()
    assert f'href="/desk/knowledge/{article.number}/"' in page
    assert "Published for everyone in the knowledge base" in page
    services.problem_set_known_error(actor=problem_manager, problem=known_error,
                                     known_error=False)
    page = client.get(f"/desk/problems/{known_error.number}/").content.decode()
    assert "is retired" in page
