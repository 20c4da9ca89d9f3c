"""The knowledge pages and the API list read a bounded number of rows, whatever the
number of articles (no query per row)."""

import pytest

from knowledge.models import Category
from knowledge.search import articles_search

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(published, reader):
    category = Category.objects.create(name="Printing", slug="printing")
    return [published(title=f"Printer {n} offline", body="Restart the printer",
                      category=category, summary="Bring it back") for n in range(8)]


def count(django_assert_max_num_queries, limit, call):
    with django_assert_max_num_queries(limit):
        return call()


def test_desk_list_and_search(client, author, many, django_assert_max_num_queries):
    client.force_login(author)
    client.get("/desk/knowledge/")  # warm the session and permission caches
    page = count(django_assert_max_num_queries, 12, lambda: client.get("/desk/knowledge/"))
    assert page.status_code == 200 and "Printer 7 offline" in page.content.decode()
    count(django_assert_max_num_queries, 12, lambda: client.get("/desk/knowledge/?q=printer"))


def test_article_page(client, author, many, django_assert_max_num_queries):
    client.force_login(author)
    url = many[0].get_absolute_url()
    client.get(url)
    assert count(django_assert_max_num_queries, 20, lambda: client.get(url)).status_code == 200


def test_portal_pages(client, reader, many, django_assert_max_num_queries):
    client.force_login(reader)
    client.get("/portal/knowledge/")
    count(django_assert_max_num_queries, 14, lambda: client.get("/portal/knowledge/"))
    count(django_assert_max_num_queries, 12,
          lambda: client.get("/portal/knowledge/suggest/", {"title": "printer"}))


def test_api_list(api, author, many, django_assert_max_num_queries):
    api.force_authenticate(author)
    api.get("/api/v1/knowledge/articles/")
    response = count(django_assert_max_num_queries, 8,
                     lambda: api.get("/api/v1/knowledge/articles/"))
    assert len(response.json()["results"]) == 8


def test_search_is_one_query(reader, many, django_assert_max_num_queries):
    articles_search("printer", user=reader)  # the person's permissions, read once
    assert len(count(django_assert_max_num_queries, 1,
                     lambda: articles_search("printer offline", user=reader))) == 8
