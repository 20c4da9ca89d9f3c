"""The knowledge base: categories, articles with versions, feedback.

An article's content lives in versions. A version moves draft → review → approved →
published → retired (``knowledge.services`` is the one code path). An article stays
published, on its ``current_version``, while a newer version is drafted and reviewed;
publishing a version retires the one before it. ``Article.state`` sums the article up
(draft, in review, published, retired) and is kept by the services.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from tickets.models import Attachment

DESK = "accounts.access_desk"


class Category(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="children", verbose_name=_("parent"))
    description = models.CharField(_("description"), max_length=300, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id and self.parent else \
            self.name


class Audience(models.TextChoices):
    EVERYONE = "everyone", _("Everyone")
    STAFF = "staff", _("Staff only")


class ArticleState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    REVIEW = "review", _("In review")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class VersionState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    REVIEW = "review", _("In review")
    APPROVED = "approved", _("Approved")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


# A version being worked on (at most one per article).
WORKING_STATES = (VersionState.DRAFT, VersionState.REVIEW, VersionState.APPROVED)


class Article(models.Model):
    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    # The title of the published version (else of the newest version): lists and links
    # read it without a join.
    title = models.CharField(_("title"), max_length=200)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="articles", verbose_name=_("category"))
    audience = models.CharField(_("audience"), max_length=10, choices=Audience.choices,
                                default=Audience.EVERYONE)
    keywords = models.CharField(_("keywords"), max_length=300, blank=True,
                                help_text=_("Words people search with that the text may "
                                            "not use (e.g. “VPN, remote access”)."))
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True,
                                    related_name="knowledge_articles_owned",
                                    verbose_name=_("owners"))
    owning_team = models.ForeignKey("accounts.Team", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("owning team"))
    review_required = models.BooleanField(
        _("review required"), default=True,
        help_text=_("A version is approved by a reviewer other than its author before it "
                    "is published."))
    review_every_days = models.PositiveIntegerField(
        _("review every (days)"), null=True, blank=True, default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Empty: no periodic review."))
    next_review_at = models.DateTimeField(_("next review"), null=True, blank=True,
                                          db_index=True)
    # The due date the owners were last reminded of: one reminder per due date.
    review_reminded_for = models.DateTimeField(null=True, blank=True, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=ArticleState.choices,
                             default=ArticleState.DRAFT, db_index=True)
    current_version = models.ForeignKey("ArticleVersion", null=True, blank=True,
                                        on_delete=models.SET_NULL, related_name="+",
                                        verbose_name=_("published version"))
    view_count = models.PositiveIntegerField(_("views"), default=0)
    helpful_count = models.PositiveIntegerField(_("helpful"), default=0)
    not_helpful_count = models.PositiveIntegerField(_("not helpful"), default=0)
    # An article kept in sync with another record (a known error): written by
    # ``article_sync_from_source``.
    source_type = models.ForeignKey(ContentType, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    source_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    attachments = GenericRelation(Attachment)

    class Meta:
        ordering = ["title", "id"]
        permissions = [
            ("review_article", _("Can review (approve or reject) knowledge article versions")),
            ("publish_article", _("Can publish and retire knowledge articles")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_type", "source_id"],
                                    condition=Q(source_type__isnull=False),
                                    name="knowledge_unique_article_source"),
            models.CheckConstraint(
                condition=Q(source_type__isnull=True, source_id__isnull=True)
                | Q(source_type__isnull=False, source_id__isnull=False),
                name="knowledge_article_source_pair"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("knowledge:article_detail", kwargs={"number": self.number})

    def get_portal_url(self) -> str:
        return reverse("knowledge_portal:article", kwargs={"number": self.number})

    @staticmethod
    def visible_to(user: Any) -> Q:
        """Which articles a person may read: published ones for their audience (staff-only
        articles for desk people only)."""
        if user is None or not getattr(user, "is_authenticated", False):
            return Q(pk__in=[])
        published = Q(state=ArticleState.PUBLISHED, current_version__isnull=False)
        if user.has_perm(DESK):
            return published
        return published & Q(audience=Audience.EVERYONE)

    def is_visible_to(self, user: Any) -> bool:
        """Readers see published articles for their audience; desk people see every
        article in the desk (attachments of drafts included)."""
        if user is not None and getattr(user, "is_authenticated", False) and \
                user.has_perm(DESK):
            return True
        return Article.objects.filter(Article.visible_to(user), pk=self.pk).exists()


class ArticleVersion(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    summary = models.CharField(_("summary"), max_length=500, blank=True,
                               help_text=_("One or two sentences: shown in search results."))
    body = models.TextField(_("body"), blank=True,
                            help_text=_("Markdown: # headings, - lists, 1. steps, **bold**, "
                                        "`code`, [links](https://…)."))
    state = models.CharField(_("state"), max_length=10, choices=VersionState.choices,
                             default=VersionState.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("author"))
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+",
                                 verbose_name=_("reviewer"))
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    review_comment = models.TextField(_("review comment"), blank=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["article", "-number"]
        constraints = [models.UniqueConstraint(fields=["article", "number"],
                                               name="knowledge_unique_article_version")]

    def __str__(self) -> str:
        return f"{self.article.number} v{self.number}"


class Feedback(models.Model):
    """A reader's vote (helpful or not) with an optional comment: one per person and
    article, changed by voting again."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    version = models.ForeignKey(ArticleVersion, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    helpful = models.BooleanField(_("helpful"))
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = _("feedback")
        constraints = [models.UniqueConstraint(fields=["article", "user"],
                                               condition=Q(user__isnull=False),
                                               name="knowledge_one_vote_per_user")]

    def __str__(self) -> str:
        return f"{self.article.number} {'+' if self.helpful else '-'}"
