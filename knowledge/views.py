"""Desk pages of the knowledge base: the article list with its filters, an article with
its versions, feedback and history, the editor, the review and publishing buttons, the
search panel of the incident page (htmx) and "Create article from this incident"."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from audit.models import AuditEntry
from desk.access import DeskAccessMixin
from incidents.models import Incident
from itsm.errors import DomainError, NotPermitted
from itsm.forms import add_domain_error

from . import selectors, services
from .access import AuthorMixin
from .filtersets import ArticleFilterSet
from .forms import ArticleForm, ReviewForm
from .markdown import render_markdown
from .models import Article, ArticleState, ArticleVersion, Feedback, VersionState
from .search import articles_search

PAGE_SIZE = 50
HISTORY_SIZE = 50
FEEDBACK_SHOWN = 20
PANEL_RESULTS = 5

STATE_TONE = {"draft": "blue", "review": "amber", "approved": "green", "published": "green",
              "retired": "grey"}


def _permissions(user: Any) -> dict[str, bool]:
    return {"can_author": user.has_perm(services.AUTHOR),
            "can_review": user.has_perm(services.REVIEW),
            "can_publish": user.has_perm(services.PUBLISH)}


class ArticleListView(DeskAccessMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.get("q", "").strip()
        filterset = ArticleFilterSet(request.GET or None, queryset=selectors.articles())
        if query:
            found = articles_search(query, user=request.user, limit=PAGE_SIZE)
            page = None
            rows = found
        else:
            articles = filterset.qs if filterset.is_bound and filterset.is_valid() \
                else selectors.articles()
            page = Paginator(articles.order_by("title", "id"), PAGE_SIZE).get_page(
                request.GET.get("page"))
            rows = list(page.object_list)
        params = request.GET.copy()
        params.pop("page", None)
        return render(request, "knowledge/article_list.html", {
            "filter": filterset, "rows": rows, "page": page, "q": query,
            "querystring": params.urlencode(), "now": timezone.now(),
            "tone": STATE_TONE, **_permissions(request.user)})


def _history(article: Article, versions: list[ArticleVersion]) -> list[AuditEntry]:
    types = ContentType.objects.get_for_models(Article, ArticleVersion)
    rows = list(AuditEntry.objects.filter(
        Q(content_type=types[Article], object_id=str(article.pk))
        | Q(content_type=types[ArticleVersion], object_id__in=[str(v.pk) for v in versions])
    ).order_by("-at", "-id")[:HISTORY_SIZE])
    labels = {str(v.pk): f"v{v.number}" for v in versions}
    for entry in rows:
        entry.subject = labels.get(entry.object_id, "") \
            if entry.content_type_id == types[ArticleVersion].pk else ""  # type: ignore[attr-defined]
        entry.lines = [(field, values[0], values[1])  # type: ignore[attr-defined]
                       for field, values in (entry.changes or {}).items()
                       if isinstance(values, list) and len(values) == 2
                       and field not in ("body",)]
    return rows


class ArticleDetailView(DeskAccessMixin, View):
    def get(self, request: HttpRequest, number: str) -> HttpResponse:
        article = get_object_or_404(selectors.articles().prefetch_related("owners"),
                                    number=number)
        versions = list(article.versions.select_related("author", "reviewer")
                        .order_by("-number"))
        wanted = request.GET.get("version", "")
        working = next((v for v in versions if v.state in
                        (VersionState.DRAFT, VersionState.REVIEW, VersionState.APPROVED)), None)
        shown = next((v for v in versions if str(v.number) == wanted), None) \
            or article.current_version or working or (versions[0] if versions else None)
        feedback = list(Feedback.objects.filter(article=article).exclude(comment="")
                        .select_related("user", "version")[:FEEDBACK_SHOWN])
        return render(request, "knowledge/article_detail.html", {
            "article": article, "versions": versions, "shown": shown, "working": working,
            "body": render_markdown(shown.body) if shown else "",
            "feedback": feedback, "history": _history(article, versions),
            "attachments": list(article.attachments.all()),
            "review_form": ReviewForm(), "tone": STATE_TONE,
            "review_required": services.review_required(article),
            "is_owner": any(o.pk == request.user.pk for o in article.owners.all()),
            "due": article.next_review_at is not None and article.next_review_at <= timezone.now()
            and article.state == ArticleState.PUBLISHED,
            **_permissions(request.user)})


class ArticleCreateView(AuthorMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "knowledge/article_form.html", {"form": ArticleForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ArticleForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                article = services.article_create(
                    actor=request.user, title=data["title"], summary=data["summary"],
                    body=data["body"], owners=data["owners"], **form.article_values())
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("%(number)s created as draft v1: submit it for "
                                            "review when it is ready.")
                                 % {"number": article.number})
                return redirect(article)
        return render(request, "knowledge/article_form.html", {"form": form}, status=400)


class ArticleEditView(AuthorMixin, View):
    """The article's fields and its working version's text (a new draft when the
    article has none: the published text stays until the draft is published)."""

    def _render(self, request: HttpRequest, article: Article, form: ArticleForm,
                status: int = 200) -> HttpResponse:
        return render(request, "knowledge/article_form.html", {
            "form": form, "article": article,
            "working": services._working(article)}, status=status)

    def get(self, request: HttpRequest, number: str) -> HttpResponse:
        article = get_object_or_404(Article, number=number)
        version = services._working(article) or article.current_version or \
            article.versions.order_by("-number").first()
        return self._render(request, article,
                            ArticleForm(initial=ArticleForm.initial_from(article, version)))

    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        article = get_object_or_404(Article, number=number)
        form = ArticleForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.article_update(actor=request.user, article=article,
                                        owners=data["owners"], **form.article_values())
                version = services.version_draft(actor=request.user, article=article,
                                                 title=data["title"], summary=data["summary"],
                                                 body=data["body"])
            except NotPermitted as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Draft v%(n)s saved.") % {"n": version.number})
                return redirect(f"{article.get_absolute_url()}?version={version.number}")
        return self._render(request, article, form, status=400)


class VersionActionView(DeskAccessMixin, View):
    """submit, approve, reject, publish (one POST each); the services check permissions
    and four eyes, and their refusals are said on the article's page."""

    DONE = {
        "submit": _("v%(n)s is waiting for review."),
        "approve": _("v%(n)s approved: it can be published."),
        "reject": _("v%(n)s sent back to its author."),
        "publish": _("v%(n)s published."),
    }

    def post(self, request: HttpRequest, pk: int, step: str) -> HttpResponse:
        version = get_object_or_404(ArticleVersion.objects.select_related("article"), pk=pk)
        comment = request.POST.get("comment", "")
        calls = {
            "submit": lambda: services.version_submit_for_review(actor=request.user,
                                                                 version=version),
            "approve": lambda: services.version_approve(actor=request.user, version=version,
                                                        comment=comment),
            "reject": lambda: services.version_reject(actor=request.user, version=version,
                                                      comment=comment),
            "publish": lambda: services.version_publish(actor=request.user, version=version),
        }
        if step not in calls:
            raise PermissionDenied
        try:
            calls[step]()
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, self.DONE[step] % {"n": version.number})
        return redirect(f"{version.article.get_absolute_url()}?version={version.number}")


class ArticleRetireView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        article = get_object_or_404(Article, number=number)
        try:
            services.article_retire(actor=request.user, article=article,
                                    reason=request.POST.get("reason", "").strip())
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("%(number)s retired: it is no longer found.")
                             % {"number": article.number})
        return redirect(article)


class ArticleReviewedView(DeskAccessMixin, View):
    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        article = get_object_or_404(Article, number=number)
        try:
            article = services.article_reviewed(actor=request.user, article=article)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Review recorded: next review %(date)s.") % {
                "date": article.next_review_at.date().isoformat()
                if article.next_review_at else _("never")})
        return redirect(article)


class ArticleAttachView(AuthorMixin, View):
    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        article = get_object_or_404(Article, number=number)
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a file to attach."))
        else:
            try:
                attachment = services.article_attachment_add(actor=request.user,
                                                             article=article, upload=upload)
            except DomainError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, _("Attached %(name)s.") % {
                    "name": attachment.filename})
        return redirect(article)


class SearchPanelView(DeskAccessMixin, View):
    """The knowledge panel of a ticket page (htmx): published articles for the desk,
    each with "Insert in reply"."""

    def get(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.get("q", "")
        results = articles_search(query, user=request.user, limit=PANEL_RESULTS)
        return render(request, "knowledge/_panel_results.html", {
            "results": results, "q": query, "target": request.GET.get("target", "id_body")})


class FromIncidentView(AuthorMixin, View):
    def post(self, request: HttpRequest, number: str) -> HttpResponse:
        incident = get_object_or_404(Incident, number=number)
        try:
            article = services.article_from_incident(actor=request.user, incident=incident)
        except NotPermitted as error:
            raise PermissionDenied(error.message) from error
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("incidents:detail", key=incident.number)
        messages.success(request, _("Draft %(number)s written from %(incident)s: check it, "
                                    "then submit it for review.")
                         % {"number": article.number, "incident": incident.number})
        return redirect("knowledge:article_edit", number=article.number)
