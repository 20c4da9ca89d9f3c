"""Serializers of the knowledge API. They shape input and output; every write goes
through ``knowledge.services``, which decides what is allowed."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Team

from ..markdown import render_markdown
from ..models import Article, ArticleVersion, Audience, Category, Feedback

User = get_user_model()


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent", "description"]
        read_only_fields = fields


class VersionSerializer(serializers.ModelSerializer):
    article = serializers.CharField(source="article.number", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, default=None)
    reviewer = serializers.CharField(source="reviewer.username", read_only=True, default=None)
    body_html = serializers.SerializerMethodField(help_text="The body rendered (safe HTML).")

    class Meta:
        model = ArticleVersion
        fields = ["id", "article", "number", "state", "title", "summary", "body", "body_html",
                  "author", "reviewer", "reviewed_at", "review_comment", "submitted_at",
                  "published_at", "retired_at", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_body_html(self, version: ArticleVersion) -> str:
        return str(render_markdown(version.body))


class ArticleSerializer(serializers.ModelSerializer):
    category = CategorySerializer(read_only=True)
    owners = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    owning_team = serializers.CharField(source="owning_team.name", read_only=True,
                                        default=None)
    current_version = VersionSerializer(read_only=True,
                                        help_text="The published version (null: none).")
    rank = serializers.FloatField(read_only=True, required=False, default=None,
                                  help_text="Search relevance, with `q` only.")
    source = serializers.SerializerMethodField(
        help_text="The record the article is kept in step with ({type, id}), if any.")

    class Meta:
        model = Article
        fields = ["id", "number", "title", "state", "category", "audience", "keywords",
                  "owners", "owning_team", "review_required", "review_every_days",
                  "next_review_at", "view_count", "helpful_count", "not_helpful_count",
                  "current_version", "source", "rank", "created_at", "updated_at",
                  "retired_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "nullable": True,
                          "properties": {"type": {"type": "string"}, "id": {"type": "integer"}}})
    def get_source(self, article: Article) -> dict[str, Any] | None:
        if not article.source_type_id:
            return None
        content_type = article.source_type
        return {"type": f"{content_type.app_label}.{content_type.model}",
                "id": article.source_id}


class ArticleDetailSerializer(ArticleSerializer):
    versions = VersionSerializer(many=True, read_only=True, help_text="Newest first.")

    class Meta(ArticleSerializer.Meta):
        fields = [*ArticleSerializer.Meta.fields, "versions"]
        read_only_fields = fields


class _OwnersField(serializers.ListField):
    child = serializers.CharField(max_length=150)

    def to_internal_value(self, data: Any) -> list[Any]:
        names = super().to_internal_value(data)
        people = []
        for name in names:
            person = User.objects.filter(username__iexact=name, is_active=True).first()
            if person is None:
                raise serializers.ValidationError(
                    _("No active person with the username %(name)s.") % {"name": name})
            people.append(person)
        return people


class ArticleWriteSerializer(serializers.Serializer):
    """On create: the article and its first draft. On ``PATCH``: the fields given; any of
    title, summary, body writes the working draft (a new version when the article has
    none)."""

    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(max_length=500, required=False, allow_blank=True)
    body = serializers.CharField(help_text="Markdown.")
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(),
                                                  required=False, allow_null=True)
    audience = serializers.ChoiceField(choices=Audience.choices, required=False)
    keywords = serializers.CharField(max_length=300, required=False, allow_blank=True)
    owners = _OwnersField(required=False, help_text="Usernames. Default: you.")
    owning_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True)
    review_required = serializers.BooleanField(required=False)
    review_every_days = serializers.IntegerField(min_value=1, max_value=3650, required=False,
                                                 allow_null=True)


class ReviewSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True,
                                    help_text="Required to send a version back.")


class RetireSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True)


class FeedbackWriteSerializer(serializers.Serializer):
    helpful = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FeedbackSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True, default=None)
    version = serializers.IntegerField(source="version.number", read_only=True, default=None)

    class Meta:
        model = Feedback
        fields = ["id", "helpful", "comment", "user", "version", "created_at", "updated_at"]
        read_only_fields = fields
