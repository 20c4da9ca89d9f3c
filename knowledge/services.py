"""The knowledge base's one code path. Every write is audited with its actor.

Versions move draft → review → approved → published → retired:

* ``version_draft`` writes the article's working version (a new one copied from the
  published text when there is none: editing a published article never touches it);
* ``version_submit_for_review``, then a reviewer who is not the author approves
  (``version_approve``) or sends it back (``version_reject``, with a comment);
* ``version_publish`` makes it the article's current version and retires the one before.
  With review required (the article's flag and ``KNOWLEDGE_REVIEW_REQUIRED``, both on by
  default) only an approved version is published.

Other practices keep an article in step with one of their records through
``article_sync_from_source`` / ``article_retire_source`` (known errors).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from itsm.errors import DomainError, NotPermitted
from tickets.numbering import ticket_number_next

from .models import (
    WORKING_STATES,
    Article,
    ArticleState,
    ArticleVersion,
    Audience,
    Category,
    Feedback,
    VersionState,
)

AUTHOR = "knowledge.add_article"
REVIEW = "knowledge.review_article"
PUBLISH = "knowledge.publish_article"
NUMBER_PREFIX = "KB"
ARTICLE_FIELDS = ("category", "audience", "keywords", "owning_team", "review_required",
                  "review_every_days")
CONTENT_FIELDS = ("title", "summary", "body")


def _refuse(field: str, message: str, code: str = "invalid") -> DomainError:
    return DomainError(message, code=code, fields={field: [message]})


def review_required(article: Article) -> bool:
    return bool(getattr(settings, "KNOWLEDGE_REVIEW_REQUIRED", True) and article.review_required)


def _next_review(article: Article, now: datetime.datetime) -> datetime.datetime | None:
    if not article.review_every_days:
        return None
    return now + datetime.timedelta(days=article.review_every_days)


def _working(article: Article) -> ArticleVersion | None:
    return article.versions.filter(state__in=WORKING_STATES).order_by("-number").first()


def _refresh_state(article: Article) -> None:
    """``Article.state`` from its versions: published while it has a current version,
    retired once retired, in review while its first version is reviewed, else draft."""
    if article.current_version_id:
        state = ArticleState.PUBLISHED
    elif article.retired_at:
        state = ArticleState.RETIRED
    elif article.versions.filter(state__in=(VersionState.REVIEW,
                                            VersionState.APPROVED)).exists():
        state = ArticleState.REVIEW
    else:
        state = ArticleState.DRAFT
    if state != article.state:
        audit_record(action=AuditAction.TRANSITION, target=article,
                     changes={"state": [article.state, state]})
        article.state = state
        article.save(update_fields=["state", "updated_at"])


def _lock(version: ArticleVersion) -> ArticleVersion:
    return ArticleVersion.objects.select_for_update().select_related("article").get(
        pk=version.pk)


def _clean_content(title: str, summary: str, body: str) -> dict[str, str]:
    title = (title or "").strip()
    if not title:
        raise _refuse("title", _("An article needs a title."), code="required")
    body = (body or "").strip()
    if not body:
        raise _refuse("body", _("Write the article's text."), code="required")
    return {"title": title, "summary": (summary or "").strip(), "body": body}


def _set_owners(article: Article, owners: Iterable[Any] | None) -> None:
    if owners is None:
        return
    before = sorted(article.owners.values_list("pk", flat=True))
    article.owners.set(list(owners))
    after = sorted(article.owners.values_list("pk", flat=True))
    if before != after:
        audit_record(action=AuditAction.UPDATE, target=article,
                     changes={"owners": [before, after]})


def _new_version(actor: Any, article: Article, content: dict[str, str],
                 state: str = VersionState.DRAFT) -> ArticleVersion:
    number = (article.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    version = validated(ArticleVersion(article=article, number=number, author=actor,
                                       state=state, **content))
    version.save()
    audit_record(action=AuditAction.CREATE, target=version,
                 changes=diff({}, snapshot(version, ("state", *CONTENT_FIELDS))))
    return version


@transaction.atomic
@as_actor
def article_create(*, actor: Any, title: str, body: str, summary: str = "",
                   category: Category | None = None, audience: str = Audience.EVERYONE,
                   keywords: str = "", owners: Iterable[Any] | None = None,
                   owning_team: Any = None, review_required: bool = True,
                   review_every_days: int | None = 365) -> Article:
    """A new article with its first draft (v1). The author owns it unless owners are
    named."""
    require_permission(actor, AUTHOR)
    content = _clean_content(title, summary, body)
    article = Article(title=content["title"], category=category, audience=audience,
                      keywords=(keywords or "").strip(), owning_team=owning_team,
                      review_required=review_required, review_every_days=review_every_days,
                      created_by=actor, number="KB-new")
    validated(article, exclude=["number"])
    article.number = ticket_number_next(NUMBER_PREFIX)
    article.save()
    audit_record(action=AuditAction.CREATE, target=article,
                 changes=diff({}, snapshot(article, ("number", "title", *ARTICLE_FIELDS))))
    owners = list(owners) if owners is not None else ([actor] if actor is not None else [])
    _set_owners(article, owners)
    _new_version(actor, article, content)
    return article


@transaction.atomic
@as_actor
def article_update(*, actor: Any, article: Article, owners: Iterable[Any] | None = None,
                   **changes: Any) -> Article:
    """The article's own fields (category, audience, keywords, owners, owning team, review
    settings), not its text: the text changes through versions."""
    require_permission(actor, AUTHOR)
    unknown = set(changes) - set(ARTICLE_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed: %(names)s")
                          % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Not editable.")] for name in unknown})
    article = Article.objects.select_for_update().get(pk=article.pk)
    before = snapshot(article, ARTICLE_FIELDS)
    for name, value in changes.items():
        setattr(article, name, value.strip() if isinstance(value, str) else value)
    validated(article)
    if "review_every_days" in changes and before["review_every_days"] != \
            article.review_every_days and article.state == ArticleState.PUBLISHED:
        article.next_review_at = _next_review(article, timezone.now())
    article.save()
    changed = diff(before, snapshot(article, ARTICLE_FIELDS))
    if changed:
        audit_record(action=AuditAction.UPDATE, target=article, changes=changed)
    _set_owners(article, owners)
    return article


@transaction.atomic
@as_actor
def version_draft(*, actor: Any, article: Article, title: str, body: str,
                  summary: str = "") -> ArticleVersion:
    """Write the article's working version. Editing a version in review or approved
    sends it back to draft (it must be reviewed again); with no working version, a new
    draft is made, so the published text stays as it is until the draft is published.
    Whoever writes a version becomes its author (and may not approve it)."""
    require_permission(actor, AUTHOR)
    article = Article.objects.select_for_update().get(pk=article.pk)
    content = _clean_content(title, summary, body)
    version = _working(article)
    if version is None:
        version = _new_version(actor, article, content)
    else:
        fields = ("state", "author", "reviewer", "reviewed_at", *CONTENT_FIELDS)
        before = snapshot(version, fields)
        for name, value in content.items():
            setattr(version, name, value)
        if any(before[name] != getattr(version, name) for name in CONTENT_FIELDS) or \
                version.state != VersionState.DRAFT:
            version.state, version.author = VersionState.DRAFT, actor
            version.reviewer, version.reviewed_at, version.submitted_at = None, None, None
            validated(version)
            version.save()
            audit_record(action=AuditAction.UPDATE, target=version,
                         changes=diff(before, snapshot(version, fields)))
    if not article.current_version_id and article.title != content["title"]:
        article.title = content["title"]
        article.save(update_fields=["title", "updated_at"])
    _refresh_state(article)
    return version


@transaction.atomic
@as_actor
def version_submit_for_review(*, actor: Any, version: ArticleVersion) -> ArticleVersion:
    require_permission(actor, AUTHOR)
    version = _lock(version)
    if version.state != VersionState.DRAFT:
        raise _refuse("state", _("Only a draft is submitted for review (this version is "
                                 "%(state)s).") % {"state": version.get_state_display()
                                                   .lower()}, code="not_draft")
    version.state, version.submitted_at = VersionState.REVIEW, timezone.now()
    version.review_comment = ""
    version.save(update_fields=["state", "submitted_at", "review_comment", "updated_at"])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes={"state": ["draft", "review"]}, message=_("Submitted for review"))
    _refresh_state(version.article)
    return version


def _check_reviewer(actor: Any, version: ArticleVersion) -> None:
    if version.state != VersionState.REVIEW:
        raise _refuse("state", _("Only a version in review is approved or sent back (this "
                                 "version is %(state)s).")
                      % {"state": version.get_state_display().lower()}, code="not_in_review")
    if actor is not None and version.author_id == actor.pk:
        message = _("You wrote this version: another reviewer must review it.")
        raise NotPermitted(message, code="four_eyes", fields={"reviewer": [message]})


@transaction.atomic
@as_actor
def version_approve(*, actor: Any, version: ArticleVersion, comment: str = "") -> ArticleVersion:
    """Four eyes: a reviewer who did not write the version approves it; it can then be
    published."""
    require_permission(actor, REVIEW)
    version = _lock(version)
    _check_reviewer(actor, version)
    version.state, version.reviewer, version.reviewed_at = (
        VersionState.APPROVED, actor, timezone.now())
    version.review_comment = (comment or "").strip()
    version.save(update_fields=["state", "reviewer", "reviewed_at", "review_comment",
                                "updated_at"])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes={"state": ["review", "approved"]},
                 message=_("Approved") + (f": {version.review_comment}"
                                          if version.review_comment else ""))
    _refresh_state(version.article)
    return version


@transaction.atomic
@as_actor
def version_reject(*, actor: Any, version: ArticleVersion, comment: str) -> ArticleVersion:
    """Send a version back to its author as a draft, saying what to change."""
    require_permission(actor, REVIEW)
    version = _lock(version)
    comment = (comment or "").strip()
    if not comment:
        raise _refuse("comment", _("Say what the author should change."), code="required")
    _check_reviewer(actor, version)
    version.state, version.reviewer, version.reviewed_at = (
        VersionState.DRAFT, actor, timezone.now())
    version.review_comment = comment
    version.save(update_fields=["state", "reviewer", "reviewed_at", "review_comment",
                                "updated_at"])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes={"state": ["review", "draft"]},
                 message=_("Sent back: %(comment)s") % {"comment": comment})
    _refresh_state(version.article)
    return version


def _publish(version: ArticleVersion, now: datetime.datetime) -> None:
    article = Article.objects.select_for_update().get(pk=version.article_id)
    for older in article.versions.filter(state=VersionState.PUBLISHED).exclude(pk=version.pk):
        older.state, older.retired_at = VersionState.RETIRED, now
        older.save(update_fields=["state", "retired_at", "updated_at"])
        audit_record(action=AuditAction.TRANSITION, target=older,
                     changes={"state": ["published", "retired"]},
                     message=_("Superseded by v%(n)s") % {"n": version.number})
    before = version.state
    version.state, version.published_at = VersionState.PUBLISHED, now
    version.save(update_fields=["state", "published_at", "updated_at"])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes={"state": [before, "published"]}, message=_("Published"))
    fields = ("title", "current_version", "next_review_at", "retired_at")
    previous = snapshot(article, fields)
    article.title, article.current_version = version.title, version
    article.retired_at = None
    article.next_review_at = _next_review(article, now)
    article.save(update_fields=[*fields, "updated_at"])
    changed = diff(previous, snapshot(article, fields))
    if changed:
        audit_record(action=AuditAction.UPDATE, target=article, changes=changed)
    _refresh_state(article)
    version.article = article


@transaction.atomic
@as_actor
def version_publish(*, actor: Any, version: ArticleVersion) -> ArticleVersion:
    """Make this version the article's published text (retiring the one before). With
    review required, only an approved version is published."""
    require_permission(actor, PUBLISH)
    version = _lock(version)
    if version.state not in WORKING_STATES:
        raise _refuse("state", _("This version is %(state)s: publish a draft or an approved "
                                 "version.") % {"state": version.get_state_display().lower()},
                      code="not_publishable")
    if review_required(version.article) and version.state != VersionState.APPROVED:
        raise _refuse("review", _("This article needs a review before it is published: "
                                  "submit the version for review and have another reviewer "
                                  "approve it."), code="review_required")
    _publish(version, timezone.now())
    return version


@transaction.atomic
@as_actor
def article_retire(*, actor: Any, article: Article, reason: str = "") -> Article:
    """Take the article out of the knowledge base: its published version is retired and
    it is no longer found. Publishing a new version brings it back."""
    require_permission(actor, PUBLISH)
    article = Article.objects.select_for_update().get(pk=article.pk)
    if article.state == ArticleState.RETIRED:
        raise _refuse("state", _("This article is already retired."), code="retired")
    _retire(article, timezone.now(), reason)
    return article


def _retire(article: Article, now: datetime.datetime, reason: str) -> None:
    for version in article.versions.filter(state=VersionState.PUBLISHED):
        version.state, version.retired_at = VersionState.RETIRED, now
        version.save(update_fields=["state", "retired_at", "updated_at"])
        audit_record(action=AuditAction.TRANSITION, target=version,
                     changes={"state": ["published", "retired"]}, message=_("Retired"))
    article.current_version, article.retired_at, article.next_review_at = None, now, None
    article.save(update_fields=["current_version", "retired_at", "next_review_at",
                                "updated_at"])
    audit_record(action=AuditAction.UPDATE, target=article,
                 changes={"retired_at": [None, now.isoformat()]},
                 message=_("Retired") + (f": {reason}" if reason else ""))
    _refresh_state(article)


@transaction.atomic
@as_actor
def article_reviewed(*, actor: Any, article: Article) -> Article:
    """An owner (or a publisher) confirms the published text is still right: the next
    review is due one period from now."""
    article = Article.objects.select_for_update().get(pk=article.pk)
    if actor is not None and not actor.has_perm(PUBLISH) and \
            not article.owners.filter(pk=actor.pk).exists():
        raise NotPermitted(_("Only the article's owners or a knowledge manager confirm its "
                             "review."))
    if article.state != ArticleState.PUBLISHED:
        raise _refuse("state", _("Only a published article is reviewed."), code="not_published")
    before = article.next_review_at
    article.next_review_at = _next_review(article, timezone.now())
    article.save(update_fields=["next_review_at", "updated_at"])
    audit_record(action=AuditAction.UPDATE, target=article,
                 changes=diff({"next_review_at": before},
                              {"next_review_at": article.next_review_at}),
                 message=_("Reviewed: still correct"))
    return article


@transaction.atomic
@as_actor
def article_attachment_add(*, actor: Any, article: Article, upload: Any) -> Any:
    """A file attached to the article (the tickets' ``Attachment`` model, which is
    generic; downloads check ``Article.is_visible_to``)."""
    import hashlib

    from tickets.models import Attachment
    from tickets.services import _mime_type

    require_permission(actor, AUTHOR)
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size > limit or upload.size == 0:
        raise _refuse("file", _("The file is empty or larger than the limit."),
                      code="bad_size")
    mime = _mime_type(upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        content_type=ContentType.objects.get_for_model(Article), object_id=article.pk,
        filename=(upload.name or "file").rsplit("/", 1)[-1][:255], mime_type=mime,
        size=upload.size, sha256=digest.hexdigest(),
        uploaded_by=actor if getattr(actor, "pk", None) else None)
    attachment.file.save(attachment.filename, upload, save=False)
    name = attachment.file.name
    try:
        attachment.save()
    except Exception:
        attachment.file.storage.delete(name)
        raise
    audit_record(action=AuditAction.UPDATE, target=article,
                 changes={"attachments": [None, {"added": attachment.filename,
                                                 "size": attachment.size}]})
    return attachment


# --- Readers ----------------------------------------------------------------------------


def article_viewed(article: Article) -> None:
    """Count a reading (a counter, not an audited change)."""
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


@transaction.atomic
@as_actor
def feedback_record(*, actor: Any, article: Article, helpful: Any,
                    comment: str = "") -> Feedback:
    """A reader's vote with an optional comment; voting again changes the vote."""
    if actor is None or not actor.is_authenticated:
        raise NotPermitted(_("Sign in to rate an article."))
    if helpful is None or helpful == "":
        raise _refuse("helpful", _("Say whether the article helped."), code="required")
    if isinstance(helpful, str):
        if helpful.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise _refuse("helpful", _("Helpful is yes or no."))
        helpful = helpful.lower() in ("true", "yes", "1")
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise _refuse("comment", _("Keep the comment under 2,000 characters."))
    article = Article.objects.select_for_update().get(pk=article.pk)
    if not article.is_visible_to(actor) or article.state != ArticleState.PUBLISHED:
        raise _refuse("article", _("This article is not published."), code="not_published")
    feedback = Feedback.objects.filter(article=article, user=actor).first()
    before = snapshot(feedback, ("helpful", "comment")) if feedback else {}
    if feedback is None:
        feedback = Feedback(article=article, user=actor)
    feedback.helpful, feedback.version_id = bool(helpful), article.current_version_id
    if comment or not feedback.pk:
        feedback.comment = comment
    feedback.save()
    changed = diff(before, snapshot(feedback, ("helpful", "comment")))
    if changed:
        audit_record(action=AuditAction.CREATE if not before else AuditAction.UPDATE,
                     target=feedback, changes=changed)
    counts = article.feedback.aggregate(yes=Count("pk", filter=Q(helpful=True)),
                                        no=Count("pk", filter=Q(helpful=False)))
    Article.objects.filter(pk=article.pk).update(helpful_count=counts["yes"],
                                                 not_helpful_count=counts["no"])
    return feedback


# --- From other records -------------------------------------------------------------------


def _first_sentence(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + "…"


@transaction.atomic
@as_actor
def article_from_incident(*, actor: Any, incident: Any) -> Article:
    """A draft article prefilled from a resolved (or closed) incident: its title, what
    was seen (the description) and how it was fixed (the resolution notes)."""
    from incidents.models import IncidentState

    require_permission(actor, AUTHOR)
    if incident.state not in (IncidentState.RESOLVED, IncidentState.CLOSED):
        raise _refuse("incident", _("Only a resolved or closed incident becomes an article "
                                    "(%(number)s is %(state)s).")
                      % {"number": incident.number,
                         "state": incident.get_state_display().lower()}, code="not_resolved")
    symptoms = (incident.description or "").strip() or incident.title
    resolution = (incident.resolution_notes or "").strip()
    body = (f"## Symptoms\n\n{symptoms}\n\n## Resolution\n\n{resolution}\n\n"
            f"_Written from {incident.number}._")
    summary = _first_sentence(resolution or symptoms)
    article = article_create(actor=actor, title=incident.title, summary=summary, body=body,
                             audience=Audience.STAFF)
    audit_record(action=AuditAction.UPDATE, target=article,
                 message=_("Drafted from %(number)s") % {"number": incident.number})
    return article


@transaction.atomic
@as_actor
def category_ensure(*, actor: Any, slug: str, name: str, description: str = "") -> Category:
    """The category with this slug, made (and audited) the first time another practice
    publishes into it; an existing one is left as the knowledge managers keep it."""
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        category = Category.objects.create(slug=slug, name=name, description=description)
        audit_record(action=AuditAction.CREATE, target=category,
                     changes=diff({}, snapshot(category, ("slug", "name"))))
    return category


def _source_key(source: Any) -> tuple[ContentType, int]:
    if source is None or getattr(source, "pk", None) is None:
        raise _refuse("source", _("The source record must be saved first."))
    return ContentType.objects.get_for_model(source), int(source.pk)


@transaction.atomic
@as_actor
def article_sync_from_source(*, actor: Any, source: Any, title: str, body: str,
                             category: Category | None = None,
                             audience: str = Audience.EVERYONE,
                             summary: str = "") -> Article:
    """Create or update the article kept in step with ``source`` (a known error, say) and
    publish its text directly: the source owner's decision is its review, and it is
    recorded as such. No new version when nothing changed. The caller has checked its
    own permissions (no knowledge permission is needed)."""
    content_type, source_id = _source_key(source)
    content = _clean_content(title, summary or _first_sentence(body, 300), body)
    if audience not in Audience.values:
        raise _refuse("audience", _("The audience is everyone or staff."))
    article = Article.objects.select_for_update().filter(
        source_type=content_type, source_id=source_id).first()
    now = timezone.now()
    if article is None:
        article = Article(title=content["title"], category=category, audience=audience,
                          source_type=content_type, source_id=source_id,
                          created_by=actor if getattr(actor, "pk", None) else None,
                          number=ticket_number_next(NUMBER_PREFIX))
        article.save()
        audit_record(action=AuditAction.CREATE, target=article,
                     changes=diff({}, snapshot(article, ("number", "title", "audience"))),
                     message=_("Kept in step with %(source)s") % {"source": str(source)})
        if getattr(actor, "pk", None):
            article.owners.add(actor)
    else:
        fields = ("category", "audience")
        before = snapshot(article, fields)
        article.category, article.audience = category, audience
        changed = diff(before, snapshot(article, fields))
        if changed:
            article.save(update_fields=[*fields, "updated_at"])
            audit_record(action=AuditAction.UPDATE, target=article, changes=changed)
    current = article.current_version
    if current is not None and all(getattr(current, f) == content[f]
                                   for f in CONTENT_FIELDS):
        return article
    working = _working(article)
    if working is not None and all(getattr(working, f) == content[f] for f in CONTENT_FIELDS):
        version = working
    else:
        version = _new_version(actor if getattr(actor, "pk", None) else None, article, content)
    version.reviewer = actor if getattr(actor, "pk", None) else None
    version.reviewed_at = now
    version.review_comment = _("Published from %(source)s: the owner's decision is its "
                               "review.") % {"source": str(source)}
    version.save(update_fields=["reviewer", "reviewed_at", "review_comment", "updated_at"])
    _publish(version, now)
    article.refresh_from_db()
    return article


@transaction.atomic
@as_actor
def article_retire_source(*, actor: Any, source: Any) -> Article | None:
    """Retire the article kept in step with ``source``, if there is one and it is not
    retired already; nothing otherwise."""
    content_type, source_id = _source_key(source)
    article = Article.objects.select_for_update().filter(
        source_type=content_type, source_id=source_id).first()
    if article is None or article.state == ArticleState.RETIRED:
        return article
    _retire(article, timezone.now(), _("%(source)s no longer applies") % {"source": str(source)})
    return article


# --- Review reminders ---------------------------------------------------------------------

REMINDER_BATCH = 200


def review_reminders_send(now: datetime.datetime | None = None) -> int:
    """Tell the owners of each published article whose review date has passed, once per
    due date (``review_reminded_for`` holds the date they were told about)."""
    from django.urls import reverse

    from notifications.services import notify

    now = now or timezone.now()
    sent = 0
    due = (Article.objects.filter(state=ArticleState.PUBLISHED, next_review_at__lte=now)
           .exclude(review_reminded_for=F("next_review_at"))
           .order_by("next_review_at", "id"))
    for article_id in list(due.values_list("pk", flat=True)[:REMINDER_BATCH]):
        with transaction.atomic():
            article = Article.objects.select_for_update().filter(pk=article_id).first()
            if article is None or article.next_review_at is None or \
                    article.review_reminded_for == article.next_review_at:
                continue
            owners = list(article.owners.filter(is_active=True))
            if not owners and article.owning_team_id:  # no owner left: the team
                owners = list(article.owning_team.members.filter(is_active=True))
            notify(owners, kind="knowledge.review_due",
                   subject=_("Review due: %(number)s %(title)s")
                   % {"number": article.number, "title": article.title},
                   body=_("This article was due for review on %(date)s. Check it is still "
                          "right: confirm it, or draft a new version.")
                   % {"date": article.next_review_at.date().isoformat()},
                   url=reverse("knowledge:article_detail", kwargs={"number": article.number}))
            article.review_reminded_for = article.next_review_at
            article.save(update_fields=["review_reminded_for"])
            audit_record(action=AuditAction.UPDATE, target=article,
                         message=_("Review reminder sent to %(n)s owner(s)") % {"n": len(owners)})
            sent += 1
    return sent
