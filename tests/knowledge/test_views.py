import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from incidents import services as incident_services
from incidents.models import IncidentState
from knowledge import services
from knowledge.models import Article, ArticleState, Audience, Category, Feedback

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_desk_create_edit_review_publish(client, author, manager):
    client.force_login(author)
    response = client.post("/desk/knowledge/new/", {
        "title": "Connect to Wi-Fi", "summary": "Join the staff network.",
        "body": "1. Pick **Aldermoor-Staff**\n2. Sign in", "audience": "everyone",
        "review_required": "on", "review_every_days": "180"})
    article = Article.objects.get()
    assert response.status_code == 302 and response.url == article.get_absolute_url()
    page = client.get(article.get_absolute_url()).content.decode()
    assert "<strong>Aldermoor-Staff</strong>" in page and "Submit for review" in page
    version = article.versions.get()
    client.post(f"/desk/knowledge/versions/{version.pk}/submit/")
    # the author may not approve; a manager may
    client.force_login(manager)
    page = client.get(article.get_absolute_url()).content.decode()
    assert "Approve" in page
    client.post(f"/desk/knowledge/versions/{version.pk}/approve/")
    client.post(f"/desk/knowledge/versions/{version.pk}/publish/")
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED
    # editing a published article makes v2, v1 stays published
    client.force_login(author)
    response = client.post(f"/desk/knowledge/{article.number}/edit/", {
        "title": "Connect to Wi-Fi", "summary": "", "body": "New steps",
        "audience": "everyone", "review_required": "on", "review_every_days": "180",
        "owners": "kb.author, kb.manager"})
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.versions.count() == 2 and article.current_version == version
    assert set(article.owners.values_list("username", flat=True)) == {"kb.author",
                                                                      "kb.manager"}


def test_desk_publish_without_review_says_why(client, author, manager):
    article = services.article_create(actor=author, title="T", body="B")
    client.force_login(manager)
    response = client.post(f"/desk/knowledge/versions/{article.versions.get().pk}/publish/",
                           follow=True)
    assert "needs a review before it is published" in response.content.decode()


def test_desk_form_errors_at_the_field(client, author):
    client.force_login(author)
    response = client.post("/desk/knowledge/new/", {"title": "T", "body": "",
                                                    "audience": "everyone"})
    assert response.status_code == 400 and "Write the article" in response.content.decode()


def test_desk_list_filters_and_search(client, author, published):
    published(title="Outlook keeps asking for a password", body="Clear the credentials")
    services.article_create(actor=author, title="Draft one", body="x")
    client.force_login(author)
    page = client.get("/desk/knowledge/?state=draft").content.decode()
    assert "Draft one" in page and "Outlook keeps" not in page
    page = client.get("/desk/knowledge/?q=outlook password").content.decode()
    assert "Outlook keeps" in page
    assert client.get("/desk/knowledge/?q=%25_%27 --").status_code == 200
    assert client.get("/desk/knowledge/?due=true").status_code == 200


def test_requester_cannot_open_the_desk_pages(client, reader):
    client.force_login(reader)
    assert client.get("/desk/knowledge/").status_code == 403


def test_incident_panel_and_create_from_incident(client, author, reader, published):
    article = published(title="Outlook crashes on start", body="Start in safe mode",
                        summary="Remove the broken add-in.")
    incident = incident_services.incident_create(actor=reader, title="Outlook crashes")
    client.force_login(author)
    page = client.get(f"/desk/incidents/{incident.number}/").content.decode()
    assert 'id="knowledge"' in page and "Create article from this incident" not in page
    panel = client.get("/desk/knowledge/panel/", {"q": "Outlook crashes"}).content.decode()
    assert article.number in panel and "Insert in reply" in panel
    assert "Remove the broken add-in." in panel
    response = client.post(f"/desk/knowledge/from-incident/{incident.number}/", follow=True)
    assert "Only a resolved or closed incident" in response.content.decode()
    incident.state, incident.resolution_code = IncidentState.RESOLVED, "solved"
    incident.resolution_notes = "Removed the add-in."
    incident.save()
    page = client.get(f"/desk/incidents/{incident.number}/").content.decode()
    assert "Create article from this incident" in page
    response = client.post(f"/desk/knowledge/from-incident/{incident.number}/")
    created = Article.objects.exclude(pk=article.pk).get()
    assert response.url == f"/desk/knowledge/{created.number}/edit/"


def test_portal_search_article_and_feedback(client, reader, published):
    category = Category.objects.create(name="Email", slug="email")
    article = published(title="Set up email on your phone", body="Install Outlook",
                        category=category)
    hidden = published(title="Email gateway runbook", body="x", audience=Audience.STAFF)
    client.force_login(reader)
    page = client.get("/portal/knowledge/", {"q": "email"}).content.decode()
    assert article.title in page and hidden.title not in page
    assert "Email" in client.get("/portal/knowledge/").content.decode()
    assert article.title in client.get("/portal/knowledge/category/email/").content.decode()
    assert client.get(f"/portal/knowledge/{hidden.number}/").status_code == 404
    assert client.get(f"/portal/knowledge/{article.number}/").status_code == 200
    client.post(f"/portal/knowledge/{article.number}/feedback/",
                {"helpful": "yes", "comment": "Worked"})
    article.refresh_from_db()
    assert article.helpful_count == 1 and article.view_count == 1
    assert Feedback.objects.get().comment == "Worked"
    assert client.get("/portal/knowledge/", {"q": "'; DROP --"}).status_code == 200


def test_portal_report_form_suggests_articles(client, reader, published):
    article = published(title="Printer shows offline", body="Restart the printer")
    client.force_login(reader)
    assert 'id="kb-suggest"' in client.get("/portal/incidents/report/").content.decode()
    part = client.get("/portal/knowledge/suggest/", {"title": "printer offline"}).content
    assert article.title in part.decode() and "These articles may help" in part.decode()
    assert client.get("/portal/knowledge/suggest/", {"title": ""}).content.strip() == b""


def test_attachment_visible_per_audience(client, author, reader, published, media):
    article = published(title="VPN", body="x")
    client.force_login(author)
    client.post(f"/desk/knowledge/{article.number}/attach/",
                {"file": SimpleUploadedFile("guide.pdf", b"%PDF-1.4", "application/pdf")})
    attachment = article.attachments.get()
    client.force_login(reader)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 200
    services.article_retire(actor=None, article=article)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404


def test_panel_links_staff_only_articles_to_the_desk(client, author, published):
    staff = published(title="Till sync runbook", body="x", audience=Audience.STAFF)
    client.force_login(author)
    panel = client.get("/desk/knowledge/panel/", {"q": "till sync"}).content.decode()
    assert f"/desk/knowledge/{staff.number}/" in panel and "Staff only" in panel
    assert f"/portal/knowledge/{staff.number}/" not in panel


def test_the_portal_nav_marks_only_the_knowledge_base_as_current(client, reader):
    import re

    client.force_login(reader)
    page = client.get("/portal/knowledge/").content.decode()
    current = re.findall(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', page)
    assert current == ["Knowledge base"]
    home = client.get("/portal/").content.decode()
    assert re.findall(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', home) == ["Home"]
