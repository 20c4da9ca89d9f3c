"""The knowledge REST API under ``/api/v1/knowledge/``: articles (list, filter, search
with ``q``, read, create, edit the working draft, retire, confirm a review, feedback),
versions (submit, approve, reject, publish) and categories. Desk people see every article
in any state; everyone else sees the published articles for their audience. Every write
calls ``knowledge.services``; refusals come back as ``{code, message, fields}``."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from itsm.api.pagination import IdCursorPagination

from .. import selectors, services
from ..filtersets import ArticleFilterSet
from ..models import Article, ArticleVersion, Category
from ..search import articles_search
from .serializers import (
    ArticleDetailSerializer,
    ArticleSerializer,
    ArticleWriteSerializer,
    CategorySerializer,
    FeedbackSerializer,
    FeedbackWriteSerializer,
    RetireSerializer,
    ReviewSerializer,
    VersionSerializer,
)

TAG = "Knowledge"
DESK = "accounts.access_desk"
SEARCH_LIMIT = 50


class KnowledgePermission(permissions.BasePermission):
    """Signed in to read; each write needs its permission (``write_permissions`` by
    action). The services check again (four eyes included)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        needed = getattr(view, "write_permissions", {}).get(view.action)
        if needed and not user.has_perm(needed):
            self.message = NEEDS.get(needed, "You do not have permission to do this.")
            return False
        return True


NEEDS = {
    services.AUTHOR: "Writing articles needs knowledge.add_article (desk agents, resolvers).",
    services.REVIEW: "Reviewing needs knowledge.review_article (knowledge managers).",
    services.PUBLISH: "Publishing and retiring need knowledge.publish_article (knowledge "
                      "managers).",
    DESK: "Versions are for service desk staff.",
}
PERMISSIONS = [permissions.IsAuthenticated, KnowledgePermission]


def _versions_newest_first() -> Prefetch:
    return Prefetch("versions", ArticleVersion.objects.select_related("author", "reviewer")
                    .order_by("-number"))


@extend_schema(tags=[TAG])
class ArticleViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin,
                     viewsets.ReadOnlyModelViewSet):
    """Articles by number (KB0000012). With `q`, the published articles matching it, best
    first (no pages, at most `limit`, default 10, up to 50); otherwise a cursor-paged
    list filtered by `text`, `state`, `category`, `audience`, `owner`, `due`, `source`.
    An empty or punctuation-only `q` finds nothing."""

    serializer_class = ArticleSerializer
    filterset_class = ArticleFilterSet
    pagination_class = IdCursorPagination
    permission_classes = PERMISSIONS
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z]+\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]
    write_permissions = {"create": services.AUTHOR, "partial_update": services.AUTHOR,
                         "update": services.AUTHOR, "retire": services.PUBLISH}

    def get_queryset(self) -> QuerySet[Article]:
        user = self.request.user
        articles = selectors.articles().select_related(
            "current_version__article", "current_version__author",
            "current_version__reviewer").prefetch_related("owners")
        if not user.has_perm(DESK):
            articles = articles.filter(Article.visible_to(user))
        if self.action == "retrieve":
            articles = articles.prefetch_related(_versions_newest_first())
        return articles.order_by("id")

    def get_serializer_class(self) -> type:
        return ArticleDetailSerializer if self.action == "retrieve" else ArticleSerializer

    def _detail(self, article: Article, code: int = status.HTTP_200_OK) -> Response:
        record = selectors.articles().prefetch_related("owners", _versions_newest_first()) \
            .get(pk=article.pk)
        return Response(ArticleDetailSerializer(record).data, status=code)

    @extend_schema(parameters=[
        OpenApiParameter("q", str, description="Search words (ranked, published only)."),
        OpenApiParameter("limit", int, description="With q: how many (default 10, max 50)."),
    ])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if "q" not in request.query_params:
            return super().list(request, *args, **kwargs)
        try:
            limit = max(1, min(int(request.query_params.get("limit", 10)), SEARCH_LIMIT))
        except ValueError:
            limit = 10
        category = request.query_params.get("category")
        results = articles_search(request.query_params["q"], user=request.user, limit=limit,
                                  category=int(category) if category and category.isdigit()
                                  else None)
        return Response({"next": None, "previous": None,
                         "results": ArticleSerializer(results, many=True).data})

    @extend_schema(request=ArticleWriteSerializer, responses={201: ArticleDetailSerializer},
                   summary="Create an article with its first draft")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ArticleWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        article = services.article_create(actor=request.user, **body.validated_data)
        return self._detail(article, status.HTTP_201_CREATED)

    @extend_schema(request=ArticleWriteSerializer, responses=ArticleDetailSerializer,
                   summary="Edit the article's fields and its working draft")
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        article = self.get_object()
        body = ArticleWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        content = {name: data.pop(name) for name in ("title", "summary", "body")
                   if name in data}
        owners = data.pop("owners", None)
        if data or owners is not None:
            services.article_update(actor=request.user, article=article, owners=owners,
                                    **data)
        if content:
            version = services._working(article) or article.current_version or \
                article.versions.order_by("-number").first()
            base = {"title": version.title, "summary": version.summary,
                    "body": version.body} if version else {}
            services.version_draft(actor=request.user, article=article,
                                   **{**base, **content})
        return self._detail(article)

    @extend_schema(request=RetireSerializer, responses=ArticleDetailSerializer,
                   summary="Retire the article (no longer found)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def retire(self, request: Request, number: str | None = None) -> Response:
        body = RetireSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        article = services.article_retire(actor=request.user, article=self.get_object(),
                                          reason=body.validated_data.get("reason", ""))
        return self._detail(article)

    @extend_schema(request=None, responses=ArticleDetailSerializer,
                   summary="Confirm the published text is still right (next review date)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def reviewed(self, request: Request, number: str | None = None) -> Response:
        article = services.article_reviewed(actor=request.user, article=self.get_object())
        return self._detail(article)

    @extend_schema(request=FeedbackWriteSerializer, responses={200: FeedbackSerializer},
                   summary="Say whether the article helped (one vote per person)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def feedback(self, request: Request, number: str | None = None) -> Response:
        body = FeedbackWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = services.feedback_record(actor=request.user, article=self.get_object(),
                                          **body.validated_data)
        return Response(FeedbackSerializer(record).data)


@extend_schema(tags=[TAG])
class VersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Article versions (desk staff). A draft is submitted for review; a reviewer who is
    not its author approves it or sends it back with a comment; a publisher publishes it
    (with review required, only once approved: `400 review_required`, field `review`)."""

    serializer_class = VersionSerializer
    pagination_class = IdCursorPagination
    permission_classes = PERMISSIONS
    lookup_value_regex = r"\d+"
    write_permissions = {"list": DESK, "retrieve": DESK, "submit": services.AUTHOR,
                         "approve": services.REVIEW, "reject": services.REVIEW,
                         "publish": services.PUBLISH}

    def get_queryset(self) -> QuerySet[ArticleVersion]:
        versions = ArticleVersion.objects.select_related("article", "author", "reviewer")
        article = self.request.query_params.get("article")
        if article:
            versions = versions.filter(article__number__iexact=article)
        return versions.order_by("id")

    def _detail(self, version: ArticleVersion) -> Response:
        return Response(VersionSerializer(self.get_queryset().get(pk=version.pk)).data)

    @extend_schema(request=None, responses=VersionSerializer, summary="Submit for review")
    @action(detail=True, methods=["post"], filter_backends=[])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(services.version_submit_for_review(actor=request.user,
                                                               version=self.get_object()))

    @extend_schema(request=ReviewSerializer, responses=VersionSerializer,
                   summary="Approve a version in review (four eyes)")
    @action(detail=True, methods=["post"], filter_backends=[])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        body = ReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._detail(services.version_approve(
            actor=request.user, version=self.get_object(),
            comment=body.validated_data.get("comment", "")))

    @extend_schema(request=ReviewSerializer, responses=VersionSerializer,
                   summary="Send a version back to draft with a comment")
    @action(detail=True, methods=["post"], filter_backends=[])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        body = ReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._detail(services.version_reject(
            actor=request.user, version=self.get_object(),
            comment=body.validated_data.get("comment", "")))

    @extend_schema(request=None, responses=VersionSerializer, summary="Publish a version")
    @action(detail=True, methods=["post"], filter_backends=[])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        return self._detail(services.version_publish(actor=request.user,
                                                     version=self.get_object()))


@extend_schema(tags=[TAG])
class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Knowledge categories (edited in the admin)."""

    serializer_class = CategorySerializer
    permission_classes = PERMISSIONS
    pagination_class = None
    queryset = Category.objects.order_by("name")
