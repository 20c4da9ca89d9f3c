"""The portal's knowledge pages: search, browse by category, read an article and say
whether it helped; and "These articles may help" on the report form (htmx, as the person
types). Only published articles for the person's audience are ever shown."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from itsm.errors import DomainError

from . import selectors, services
from .forms import FeedbackForm
from .markdown import render_markdown
from .models import Category, Feedback
from .search import articles_search

RESULTS = 20
SUGGESTIONS = 3
POPULAR = 8


@login_required
def knowledge_home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    results = articles_search(query, user=request.user, limit=RESULTS) if query else []
    categories = [c for c in selectors.categories_with_counts(request.user)
                  if c.article_count]
    popular = [] if query else list(selectors.readable_articles(request.user)
                                    .order_by("-view_count", "title")[:POPULAR])
    return render(request, "knowledge/portal/home.html", {
        "q": query, "results": results, "categories": categories, "popular": popular,
        "searched": bool(query)})


@login_required
def knowledge_category(request: HttpRequest, slug: str) -> HttpResponse:
    category = get_object_or_404(Category, slug=slug)
    articles = list(selectors.readable_articles(request.user).filter(
        category__in=[category, *category.children.all()]).order_by("title"))
    return render(request, "knowledge/portal/category.html",
                  {"category": category, "articles": articles})


def _readable(request: HttpRequest, number: str):  # type: ignore[no-untyped-def]
    article = selectors.readable_articles(request.user).filter(number=number).first()
    if article is None:
        raise Http404
    return article


@login_required
def knowledge_article(request: HttpRequest, number: str) -> HttpResponse:
    article = _readable(request, number)
    services.article_viewed(article)
    mine = Feedback.objects.filter(article=article, user=request.user).first()
    return render(request, "knowledge/portal/article.html", {
        "article": article, "version": article.current_version,
        "body": render_markdown(article.current_version.body),
        "attachments": list(article.attachments.all()), "mine": mine,
        "form": FeedbackForm(initial={"comment": mine.comment} if mine else None)})


@login_required
@require_POST
def knowledge_feedback(request: HttpRequest, number: str) -> HttpResponse:
    article = _readable(request, number)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say whether the article helped (yes or no)."))
        return redirect(article.get_portal_url())
    try:
        services.feedback_record(actor=request.user, article=article,
                                 helpful=form.cleaned_data["helpful"],
                                 comment=form.cleaned_data["comment"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Thank you for your feedback."))
    return redirect(article.get_portal_url())


@login_required
def knowledge_suggest(request: HttpRequest) -> HttpResponse:
    """"These articles may help" on the report form: the title and the details as typed."""
    text = " ".join(request.GET.get(name, "") for name in ("title", "description", "q"))
    results = articles_search(text, user=request.user, limit=SUGGESTIONS) \
        if request.GET.get("title", request.GET.get("q", "")).strip() else []
    return render(request, "knowledge/portal/_suggestions.html", {"results": results})
