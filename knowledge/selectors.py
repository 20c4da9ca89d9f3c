"""Reads of the knowledge base."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import Article, Category


def articles() -> QuerySet[Article]:
    """Every article, for the desk (any state), with what lists show."""
    return Article.objects.select_related("category", "category__parent", "current_version",
                                          "owning_team")


def readable_articles(user: Any) -> QuerySet[Article]:
    """Published articles ``user`` may read (staff-only ones for desk people)."""
    return articles().filter(Article.visible_to(user))


def categories_with_counts(user: Any) -> list[Category]:
    from django.db.models import Count, Q

    visible = Article.visible_to(user)
    ids = Article.objects.filter(visible).values("pk")  # only articles they may read
    return list(Category.objects.select_related("parent").annotate(
        article_count=Count("articles", filter=Q(articles__pk__in=ids))).order_by("name"))
