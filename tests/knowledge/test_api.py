import pytest

from knowledge.models import Article, ArticleState, Audience, Category

pytestmark = pytest.mark.django_db
BASE = "/api/v1/knowledge"


def test_create_review_publish_through_the_api(api, author, manager):
    category = Category.objects.create(name="Network", slug="network")
    api.force_authenticate(author)
    created = api.post(f"{BASE}/articles/", {
        "title": "Connect to the VPN", "summary": "From home.", "body": "1. Open the client",
        "category": category.pk, "keywords": "remote access", "owners": ["kb.author"]},
        format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    number, version_id = data["number"], data["versions"][0]["id"]
    assert data["state"] == "draft" and data["category"]["slug"] == "network"
    assert api.post(f"{BASE}/versions/{version_id}/submit/").status_code == 200
    # publishing without approval: refused, the field named
    api.force_authenticate(manager)
    refused = api.post(f"{BASE}/versions/{version_id}/publish/")
    assert refused.status_code == 400
    assert refused.json()["code"] == "review_required" and "review" in refused.json()["fields"]
    assert api.post(f"{BASE}/versions/{version_id}/approve/", {"comment": "ok"},
                    format="json").status_code == 200
    published = api.post(f"{BASE}/versions/{version_id}/publish/")
    assert published.json()["state"] == "published"
    article = api.get(f"{BASE}/articles/{number}/").json()
    assert article["state"] == "published" and article["current_version"]["id"] == version_id
    assert "<ol>" in article["current_version"]["body_html"]


def test_four_eyes_and_reject_need_a_comment(api, manager, author):
    api.force_authenticate(manager)
    number = api.post(f"{BASE}/articles/", {"title": "T", "body": "B"},
                      format="json").json()["number"]
    version = Article.objects.get(number=number).versions.get()
    api.post(f"{BASE}/versions/{version.pk}/submit/")
    own = api.post(f"{BASE}/versions/{version.pk}/approve/")
    assert own.status_code == 403 and "reviewer" in own.json()["fields"]
    reviewer2 = type(manager).objects.create(username="kb.manager2")
    from accounts.services import _set_roles
    _set_roles(reviewer2, ["knowledge_manager"])
    api.force_authenticate(reviewer2)
    empty = api.post(f"{BASE}/versions/{version.pk}/reject/", {"comment": ""}, format="json")
    assert empty.status_code == 400 and "comment" in empty.json()["fields"]


def test_bad_input_names_the_field(api, author):
    api.force_authenticate(author)
    response = api.post(f"{BASE}/articles/", {"title": "", "body": "x", "audience": "all",
                                              "owners": ["nobody-here"]}, format="json")
    assert response.status_code == 400
    assert {"title", "audience", "owners"} <= set(response.json()["fields"])


def test_search_and_visibility(api, reader, author, published):
    public = published(title="Printer offline", body="Restart it")
    staff = published(title="Printer fleet runbook", body="x", audience=Audience.STAFF)
    api.force_authenticate(reader)
    found = api.get(f"{BASE}/articles/", {"q": "printer"}).json()["results"]
    assert [a["number"] for a in found] == [public.number]
    assert api.get(f"{BASE}/articles/", {"q": "C++ & 'quotes' OR -- ; %_"}).json()[
        "results"] == []
    assert api.get(f"{BASE}/articles/", {"q": ""}).status_code == 200
    assert api.get(f"{BASE}/articles/{staff.number}/").status_code == 404
    listed = api.get(f"{BASE}/articles/").json()["results"]
    assert {a["number"] for a in listed} == {public.number}
    assert api.get(f"{BASE}/versions/").status_code == 403
    assert api.post(f"{BASE}/articles/", {"title": "x", "body": "y"},
                    format="json").status_code == 403
    api.force_authenticate(author)
    assert len(api.get(f"{BASE}/articles/", {"q": "printer"}).json()["results"]) == 2
    assert len(api.get(f"{BASE}/articles/", {"state": "published"}).json()["results"]) == 2


def test_feedback_and_retire(api, reader, manager, published):
    article = published(title="MFA", body="x")
    api.force_authenticate(reader)
    bad = api.post(f"{BASE}/articles/{article.number}/feedback/", {"helpful": "perhaps"},
                   format="json")
    assert bad.status_code == 400 and "helpful" in bad.json()["fields"]
    ok = api.post(f"{BASE}/articles/{article.number}/feedback/",
                  {"helpful": True, "comment": "Clear"}, format="json")
    assert ok.status_code == 200 and ok.json()["helpful"] is True
    assert api.post(f"{BASE}/articles/{article.number}/retire/").status_code == 403
    api.force_authenticate(manager)
    retired = api.post(f"{BASE}/articles/{article.number}/retire/", {"reason": "Old"},
                       format="json")
    assert retired.json()["state"] == ArticleState.RETIRED
    again = api.post(f"{BASE}/articles/{article.number}/retire/")
    assert again.status_code == 400 and "state" in again.json()["fields"]


def test_patch_edits_a_new_draft_keeping_the_published_text(api, author, published):
    article = published(title="Wi-Fi", body="Old")
    api.force_authenticate(author)
    response = api.patch(f"{BASE}/articles/{article.number}/", {"body": "New",
                                                                "keywords": "wireless"},
                         format="json")
    data = response.json()
    assert response.status_code == 200 and data["keywords"] == "wireless"
    assert data["current_version"]["body"] == "Old"
    assert data["versions"][0]["body"] == "New" and data["versions"][0]["state"] == "draft"


def test_categories(api, reader):
    Category.objects.create(name="Email", slug="email")
    api.force_authenticate(reader)
    assert [c["slug"] for c in api.get(f"{BASE}/categories/").json()] == ["email"]


def test_in_the_schema(api, admin_user):
    api.force_authenticate(admin_user)
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/knowledge/articles/" in schema["paths"]
    assert "/api/v1/knowledge/versions/{id}/publish/" in schema["paths"]
