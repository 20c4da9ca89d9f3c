"""Known errors publish to the knowledge base: while a problem is a known error and not
closed, one article (kept in step through ``knowledge.services.article_sync_from_source``)
tells everyone its symptoms, the workaround and where the fix stands; withdrawing the
known error or closing the problem retires it. The article is for everyone: the
workaround is what callers of its incidents are sent already. The root cause stays on the
problem (it names internal systems and is the desk's business)."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Problem
from .workflow import ProblemState

CATEGORY_SLUG = "known-errors"

_LOOKING = gettext_lazy("The service desk is looking into it.")
_STATUS = {
    ProblemState.NEW: _LOOKING,
    ProblemState.ASSESS: _LOOKING,
    ProblemState.RCA: gettext_lazy("The cause is being investigated."),
    ProblemState.FIX_IN_PROGRESS: gettext_lazy("A permanent fix is being prepared."),
    ProblemState.RESOLVED: gettext_lazy("A permanent fix has been put in place. If you "
                                        "still see this, please report it."),
}


def article_text(problem: Problem) -> dict[str, str]:
    """The article's title, summary and body (Markdown) for this known error."""
    workaround = problem.workaround.strip()
    sections = []
    if problem.description.strip():
        sections += [f"**{_('What you may see')}**", problem.description.strip()]
    services = [service.name for service in problem.services.all()]
    if services:
        sections += [f"**{_('Affects')}**", ", ".join(services)]
    sections += [f"**{_('Workaround')}**", workaround,
                 f"**{_('Status')}**", str(_STATUS.get(problem.state, _LOOKING))]
    first = workaround.split("\n", 1)[0].strip()
    return {"title": _("Known error: %(title)s") % {"title": problem.title},
            "summary": (_("Workaround: %(first)s") % {"first": first})[:300],
            "body": "\n\n".join(sections)}


def known_error_article_sync(*, actor: Any, problem: Problem) -> Any:
    """Publish, update or retire the problem's known-error article, as its state says.
    Returns the article, or None when there is none. Called inside the problem's own
    write, so both commit (or roll back) together."""
    from knowledge import services as knowledge

    if problem.known_error and problem.state != ProblemState.CLOSED:
        category = knowledge.category_ensure(
            actor=actor, slug=CATEGORY_SLUG, name=_("Known errors"),
            description=_("Problems we know about, with the workaround until they are "
                          "fixed."))
        text = article_text(problem)
        return knowledge.article_sync_from_source(
            actor=actor, source=problem, title=text["title"], body=text["body"],
            summary=text["summary"], category=category)
    return knowledge.article_retire_source(actor=actor, source=problem)


def known_error_article(problem: Problem) -> Any:
    """The article kept in step with this problem, if any (retired ones too)."""
    from knowledge.models import Article

    return Article.objects.filter(source_type=ContentType.objects.get_for_model(Problem),
                                  source_id=problem.pk).select_related(
        "current_version").first()
