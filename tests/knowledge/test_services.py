import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from incidents import services as incident_services
from incidents.models import IncidentState
from itsm.errors import DomainError, NotPermitted
from knowledge import services
from knowledge.models import Article, ArticleState, Audience, Feedback, VersionState
from notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_lifecycle_draft_review_approve_publish(author, manager):
    article = services.article_create(actor=author, title="Reset your password",
                                      summary="Self-service reset.", body="1. Go to the page")
    assert article.number.startswith("KB") and article.state == ArticleState.DRAFT
    assert list(article.owners.all()) == [author]
    version = article.versions.get()
    services.version_submit_for_review(actor=author, version=version)
    article.refresh_from_db()
    assert article.state == ArticleState.REVIEW
    services.version_approve(actor=manager, version=version, comment="Clear.")
    services.version_publish(actor=manager, version=version)
    article.refresh_from_db()
    version.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED and article.current_version == version
    assert version.state == VersionState.PUBLISHED and version.reviewer == manager
    assert article.next_review_at is not None
    assert AuditEntry.objects.filter(object_id=str(version.pk),
                                     message="Published").exists()


def test_publishing_a_draft_without_review_is_refused_with_the_field(author, manager):
    article = services.article_create(actor=author, title="T", body="B")
    with pytest.raises(DomainError) as error:
        services.version_publish(actor=manager, version=article.versions.get())
    assert error.value.code == "review_required" and "review" in error.value.fields


def test_without_review_required_a_draft_is_published(author, manager):
    article = services.article_create(actor=author, title="T", body="B",
                                      review_required=False)
    services.version_publish(actor=manager, version=article.versions.get())
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED


def test_four_eyes_the_author_does_not_approve(manager):
    article = services.article_create(actor=manager, title="T", body="B")
    version = article.versions.get()
    services.version_submit_for_review(actor=manager, version=version)
    with pytest.raises(NotPermitted) as error:
        services.version_approve(actor=manager, version=version)
    assert "reviewer" in error.value.fields


def test_reject_needs_a_comment_and_sends_back_to_draft(author, manager):
    article = services.article_create(actor=author, title="T", body="B")
    version = article.versions.get()
    services.version_submit_for_review(actor=author, version=version)
    with pytest.raises(DomainError) as error:
        services.version_reject(actor=manager, version=version, comment=" ")
    assert "comment" in error.value.fields
    services.version_reject(actor=manager, version=version, comment="Add screenshots.")
    version.refresh_from_db()
    article.refresh_from_db()
    assert version.state == VersionState.DRAFT and version.review_comment == "Add screenshots."
    assert article.state == ArticleState.DRAFT


def test_requester_cannot_write(reader):
    with pytest.raises(NotPermitted):
        services.article_create(actor=reader, title="T", body="B")


def test_missing_title_names_the_field(author):
    with pytest.raises(DomainError) as error:
        services.article_create(actor=author, title="  ", body="B")
    assert "title" in error.value.fields


def test_a_published_article_stays_published_while_a_new_version_is_reviewed(
        author, manager, published):
    article = published(title="VPN", body="Old text")
    v1 = article.current_version
    v2 = services.version_draft(actor=author, article=article, title="VPN", body="New text")
    assert v2.number == 2 and v2.state == VersionState.DRAFT
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED and article.current_version == v1
    services.version_submit_for_review(actor=author, version=v2)
    article.refresh_from_db()
    assert article.state == ArticleState.PUBLISHED
    services.version_approve(actor=manager, version=v2)
    services.version_publish(actor=manager, version=v2)
    article.refresh_from_db()
    v1.refresh_from_db()
    assert article.current_version == v2 and v1.state == VersionState.RETIRED


def test_editing_a_version_in_review_sends_it_back_to_draft(author, manager):
    article = services.article_create(actor=author, title="T", body="B")
    version = article.versions.get()
    services.version_submit_for_review(actor=author, version=version)
    again = services.version_draft(actor=author, article=article, title="T", body="B2")
    assert again.pk == version.pk and again.state == VersionState.DRAFT


def test_retire_and_republish(author, manager, published):
    article = published(title="Old printer", body="x")
    services.article_retire(actor=manager, article=article)
    article.refresh_from_db()
    assert article.state == ArticleState.RETIRED and article.current_version is None
    with pytest.raises(DomainError):
        services.article_retire(actor=manager, article=article)


def test_feedback_one_vote_per_person_changeable(reader, published):
    article = published(title="Printers", body="x")
    services.feedback_record(actor=reader, article=article, helpful=True, comment="Thanks")
    services.feedback_record(actor=reader, article=article, helpful=False)
    article.refresh_from_db()
    assert Feedback.objects.filter(article=article).count() == 1
    assert (article.helpful_count, article.not_helpful_count) == (0, 1)
    with pytest.raises(DomainError) as error:
        services.feedback_record(actor=reader, article=article, helpful="maybe")
    assert "helpful" in error.value.fields


def test_feedback_on_a_staff_only_article_is_refused_for_a_requester(reader, published):
    article = published(title="Internal", body="x", audience=Audience.STAFF)
    with pytest.raises(DomainError):
        services.feedback_record(actor=reader, article=article, helpful=True)


def test_article_from_incident_needs_a_resolved_incident(author, reader):
    incident = incident_services.incident_create(actor=reader, title="Outlook crashes",
                                                 description="It crashes on start.")
    with pytest.raises(DomainError) as error:
        services.article_from_incident(actor=author, incident=incident)
    assert "incident" in error.value.fields
    incident.state, incident.resolution_code = IncidentState.RESOLVED, "solved"
    incident.resolution_notes = "Started Outlook in safe mode and removed the add-in."
    incident.save()
    article = services.article_from_incident(actor=author, incident=incident)
    version = article.versions.get()
    assert article.title == "Outlook crashes" and "safe mode" in version.body
    assert "It crashes on start." in version.body and incident.number in version.body


def test_sync_from_source_publishes_and_skips_unchanged(author):
    source = UserFactory(username="source-record")  # any saved record stands in
    article = services.article_sync_from_source(actor=author, source=source,
                                                title="Known error: tills freeze",
                                                body="Workaround: restart the till.")
    assert article.state == ArticleState.PUBLISHED
    version = article.current_version
    assert version.reviewer == author and "decision" in version.review_comment
    again = services.article_sync_from_source(actor=author, source=source,
                                              title="Known error: tills freeze",
                                              body="Workaround: restart the till.")
    assert again.pk == article.pk and again.versions.count() == 1
    changed = services.article_sync_from_source(actor=None, source=source,
                                                title="Known error: tills freeze",
                                                body="Fixed in 4.2; restart meanwhile.",
                                                audience="staff")
    assert changed.versions.count() == 2 and changed.audience == "staff"
    assert Article.objects.filter(source_id=source.pk).count() == 1
    services.article_retire_source(actor=None, source=source)
    changed.refresh_from_db()
    assert changed.state == ArticleState.RETIRED
    services.article_retire_source(actor=None, source=source)  # no error
    services.article_retire_source(actor=None, source=UserFactory())  # none: no error


def test_review_reminders_once_per_due_date(author, manager, published):
    article = published(title="MFA", body="x")
    Article.objects.filter(pk=article.pk).update(
        next_review_at=timezone.now() - datetime.timedelta(days=1))
    assert services.review_reminders_send() == 1
    assert services.review_reminders_send() == 0
    assert Notification.objects.filter(recipient=author, kind="knowledge.review_due").count() == 1
    services.article_reviewed(actor=author, article=article)
    article.refresh_from_db()
    assert article.next_review_at > timezone.now()
