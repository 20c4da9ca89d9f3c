"""Risk assessment of a change: the questionnaire change managers keep (questions with
weighted answers), the settings that turn points into a level, and the assessment itself.

A change's points are the weights of its answers plus computed factors, each explained
(key, label, points, detail) and stored on the change (``risk_factors``):

- ``criticality``: the highest business criticality among the affected CIs and services
  and what depends on them (``cmdb.selectors.ci_impact``, upstream, 3 links), naming the CI;
- ``users``: the "users" attribute of the business services reached (affected ones, and
  those upstream of affected CIs), summed, in bands;
- ``outage``: an expected outage, more points the longer it is;
- ``failure_rate``: the implementer team's share of failed or backed-out changes among
  those closed with a result in ``ChangeSettings.failure_rate_days`` (from 3 changes);
- ``caused_incidents``: earlier changes to the same CIs that caused incidents, within
  ``ChangeSettings.caused_incidents_days``, named;
- ``emergency``: an emergency change.

Queries of an assessment: the questionnaire (1), the affected CIs and services (2), the
impact walk of each (``ci_impact``: 6 each), the business services' user counts (1), the
team's history (1) and the earlier changes (1), then the writes. Nothing else runs per CI.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from cmdb.models import ConfigurationItem, Criticality
from cmdb.selectors import ci_impact
from itsm.errors import Conflict, DomainError
from tickets.services import ticket_comment, ticket_event

from .models import (
    Change,
    ChangeRiskAnswer,
    ChangeSettings,
    ChangeState,
    ChangeType,
    RiskAnswer,
    RiskLevel,
    RiskQuestion,
)

MANAGE = "changes.manage_changes"
DESK = "accounts.access_desk"
ASSESSABLE_STATES = (ChangeState.NEW, ChangeState.ASSESS, ChangeState.AUTHORIZE)
IMPACT_DEPTH = 3
MAX_SCORE = 32767  # risk_score is a PositiveSmallIntegerField
MIN_ANSWERS = 2
BUSINESS_SERVICE = "business_service"
QUESTION_FIELDS = ("text", "help_text", "is_active", "order")
SETTINGS_FIELDS = ("moderate_from", "high_from", "very_high_from", "failure_rate_days",
                   "caused_incidents_days", "review_window_hours", "emergency_retro_hours",
                   "conflict_depth")

# Points of the computed factors. Kept here, in one place, so the explanation on the page
# and the docs can say what each band is worth.
CRITICALITY_POINTS = {Criticality.CRITICAL: 25, Criticality.HIGH: 15,
                      Criticality.MEDIUM: 5}  # low: 0
USER_BANDS = ((10_000, 20), (1_000, 15), (100, 10), (1, 5))  # (at least users, points)
OUTAGE_BANDS = ((240, 20), (60, 15), (15, 10), (0, 5))  # (over minutes, points)
OUTAGE_UNKNOWN_POINTS = 10
FAILURE_RATE_BANDS = ((0.5, 20), (0.25, 15), (0.1, 10), (0.0, 5))  # (from rate, points)
MIN_HISTORY = 3
CAUSED_POINTS_EACH, CAUSED_POINTS_MAX = 10, 30
EMERGENCY_POINTS = 10


@dataclass(frozen=True)
class Factor:
    """One reason for points: what it is, how many, and why (for people)."""

    key: str
    label: str
    points: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)



def risk_level(score: int, settings: ChangeSettings | None = None) -> str:
    settings = settings or ChangeSettings.current()
    if score >= settings.very_high_from:
        return RiskLevel.VERY_HIGH
    if score >= settings.high_from:
        return RiskLevel.HIGH
    if score >= settings.moderate_from:
        return RiskLevel.MODERATE
    return RiskLevel.LOW


# --- The questionnaire -----------------------------------------------------------------

def active_questions() -> list[RiskQuestion]:
    """Active questions in order, each with its answers (two queries)."""
    return list(RiskQuestion.objects.filter(is_active=True).prefetch_related("answers"))


def _answer_rows(answers: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Answers as given (text, weight, optional id and order), checked: at least two,
    each with a text and a weight from 0 to 100."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, answer in enumerate(answers):
        text = str(answer.get("text") or "").strip()
        if not text:
            continue  # an empty row is not an answer
        try:
            weight = int(answer.get("weight") if answer.get("weight") is not None else 0)
        except (TypeError, ValueError):
            weight = -1
        if not 0 <= weight <= 100:
            problems.append(_("“%(text)s”: points are a whole number from 0 to 100.")
                            % {"text": text})
        rows.append({"id": answer.get("id") or None, "text": text[:200], "weight": weight,
                     "order": int(answer.get("order") or (index + 1) * 10)})
    if len(rows) < MIN_ANSWERS:
        problems.insert(0, _("A question needs at least two answers."))
    if problems:
        raise DomainError(problems[0], code="bad_answers", fields={"answers": problems})
    return rows


def _answers_audit(question: RiskQuestion) -> list[str]:
    return [f"{answer.text} ({answer.weight})" for answer in question.answers.all()]


def _write_answers(question: RiskQuestion, rows: list[dict[str, Any]]) -> None:
    """Make the question's answers these rows: update those named by id, add the new,
    delete the rest (refused for an answer a change's assessment still uses)."""
    existing = {answer.pk: answer for answer in question.answers.all()}
    keep: set[int] = set()
    for row in rows:
        pk = int(row["id"]) if row["id"] else None
        if pk is not None and pk not in existing:
            raise DomainError(_("An answer of another question was given."),
                              code="foreign_answer", fields={"answers": [
                                  _("Answer %(id)s is not one of this question's.")
                                  % {"id": pk}]})
        answer = existing[pk] if pk is not None else RiskAnswer(question=question)
        answer.text, answer.weight, answer.order = row["text"], row["weight"], row["order"]
        validated(answer, exclude=["question"])
        answer.save()
        keep.add(answer.pk)
    dropped = [pk for pk in existing if pk not in keep]
    if dropped:
        used = ChangeRiskAnswer.objects.filter(answer_id__in=dropped).exists()
        if used:
            raise Conflict(
                _("An answer you removed was given in a change's assessment; change its "
                  "text or points instead, or deactivate the question."),
                code="answer_in_use", fields={"answers": [
                    _("Answers given in assessments cannot be removed.")]})
        RiskAnswer.objects.filter(pk__in=dropped).delete()


@transaction.atomic
@as_actor
def risk_question_create(*, actor: Any, text: str, answers: Iterable[Mapping[str, Any]],
                         help_text: str = "", order: int | None = None,
                         is_active: bool = True) -> RiskQuestion:
    """Add a question with its weighted answers (at least two)."""
    require_permission(actor, MANAGE)
    rows = _answer_rows(answers)
    if order is None:
        last = RiskQuestion.objects.order_by("-order").values_list("order", flat=True).first()
        order = (last or 0) + 10
    question = RiskQuestion(text=(text or "").strip(), help_text=help_text or "",
                            order=order, is_active=is_active)
    validated(question)
    question.save()
    _write_answers(question, rows)
    audit_record(action=AuditAction.CREATE, target=question, changes=diff(
        {}, {**snapshot(question, QUESTION_FIELDS), "answers": _answers_audit(question)}))
    return question


@transaction.atomic
@as_actor
def risk_question_update(*, actor: Any, question: RiskQuestion,
                         answers: Iterable[Mapping[str, Any]] | None = None,
                         **fields: Any) -> RiskQuestion:
    """Change a question (text, help, order, active) and, given ``answers``, make its
    answers those (rows with ``id`` update an answer, rows without add one, answers not
    listed are removed)."""
    require_permission(actor, MANAGE)
    unknown = set(fields) - set(QUESTION_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Unknown field.")] for name in unknown})
    question = RiskQuestion.objects.select_for_update().get(pk=question.pk)
    before = {**snapshot(question, QUESTION_FIELDS), "answers": _answers_audit(question)}
    for name, value in fields.items():
        setattr(question, name, value.strip() if isinstance(value, str) else value)
    validated(question)
    question.save()
    if answers is not None:
        _write_answers(question, _answer_rows(answers))
    changed = diff(before, {**snapshot(question, QUESTION_FIELDS),
                            "answers": _answers_audit(question)})
    if changed:
        audit_record(action=AuditAction.UPDATE, target=question, changes=changed)
    return question


@transaction.atomic
@as_actor
def risk_question_delete(*, actor: Any, question: RiskQuestion) -> None:
    """Delete a question never answered; one that was is deactivated instead."""
    require_permission(actor, MANAGE)
    if ChangeRiskAnswer.objects.filter(question=question).exists():
        raise Conflict(_("This question was answered in assessments: deactivate it instead."),
                       code="question_in_use", fields={"is_active": [
                           _("Deactivate a question that was answered.")]})
    audit_record(action=AuditAction.DELETE, target=question, changes=diff(
        {**snapshot(question, QUESTION_FIELDS), "answers": _answers_audit(question)}, {}))
    question.delete()


@transaction.atomic
@as_actor
def risk_questions_reorder(*, actor: Any, ids: list[int]) -> None:
    """Put the questions in this order (10, 20, …); questions not named follow."""
    require_permission(actor, MANAGE)
    questions = {q.pk: q for q in RiskQuestion.objects.select_for_update()}
    unknown = [pk for pk in ids if pk not in questions]
    if unknown:
        raise DomainError(_("Unknown question."), fields={"ids": [
            _("No question %(id)s.") % {"id": pk} for pk in unknown]})
    ordered = [*dict.fromkeys(ids), *[pk for pk in questions if pk not in ids]]
    before = {pk: q.order for pk, q in questions.items()}
    for position, pk in enumerate(ordered, start=1):
        questions[pk].order = position * 10
    moved = [questions[pk] for pk in ordered if questions[pk].order != before[pk]]
    RiskQuestion.objects.bulk_update(moved, ["order"])
    for question in moved:
        audit_record(action=AuditAction.UPDATE, target=question,
                     changes={"order": [before[question.pk], question.order]})


def risk_question_move(*, actor: Any, question: RiskQuestion, up: bool) -> None:
    """One place up or down among all questions."""
    ids = list(RiskQuestion.objects.values_list("pk", flat=True))
    index = ids.index(question.pk)
    other = index - 1 if up else index + 1
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
    risk_questions_reorder(actor=actor, ids=ids)


@transaction.atomic
@as_actor
def change_settings_update(*, actor: Any, **fields: Any) -> ChangeSettings:
    """Edit the settings of change enablement (thresholds must rise)."""
    require_permission(actor, MANAGE)
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Unknown field.")] for name in unknown})
    settings = ChangeSettings.objects.select_for_update().first()
    creating = settings is None
    settings = settings or ChangeSettings()
    before = {} if creating else snapshot(settings, SETTINGS_FIELDS)
    for name, value in fields.items():
        setattr(settings, name, value)
    validated(settings)
    settings.save()
    changed = diff(before, snapshot(settings, SETTINGS_FIELDS))
    if changed:
        audit_record(action=AuditAction.CREATE if creating else AuditAction.UPDATE,
                     target=settings, changes=changed)
    return settings


# --- The factors -----------------------------------------------------------------------

def _chosen_answers(answers: Mapping[int, int], questions: list[RiskQuestion], *,
                    strict: bool) -> list[tuple[RiskQuestion, RiskAnswer]]:
    """(question, answer) for each active question answered with one of its own answers.
    ``strict``: every active question must be, and nothing else may be given."""
    answers = {int(q): int(a) for q, a in answers.items() if a not in (None, "")}
    by_id = {question.pk: question for question in questions}
    problems: dict[str, list[str]] = {}
    chosen = []
    for question in questions:
        answer_id = answers.get(question.pk)
        own = {answer.pk: answer for answer in question.answers.all()}
        if answer_id is None:
            problems[f"question_{question.pk}"] = [_("Answer this question.")]
        elif answer_id not in own:
            problems[f"question_{question.pk}"] = [_("Choose one of this question's answers.")]
        else:
            chosen.append((question, own[answer_id]))
    for question_id in answers:
        if question_id not in by_id:
            problems[f"question_{question_id}"] = [_("Not an active risk question.")]
    if strict and problems:
        raise DomainError(_("Answer every risk question with one of its answers."),
                          code="bad_risk_answers", fields=problems)
    return chosen


def _band(value: float, bands: tuple[tuple[float, int], ...], *, above: bool) -> int:
    for bound, points in bands:
        if (value > bound) if above else (value >= bound):
            return points
    return 0


def _impact_factors(change: Change) -> tuple[list[Factor], list[int]]:
    """Criticality and users behind the affected CIs and services, and their ids."""
    cis = list(change.cis.select_related("ci_class").only(
        "id", "name", "criticality", "attributes", "ci_class__key", "ci_class__name"))
    services = list(change.services.select_related("ci_class").only(
        "id", "name", "criticality", "attributes", "ci_class__key", "ci_class__name"))
    roots = {ci.pk: ci for ci in [*services, *cis]}
    if not roots:
        return [
            Factor("criticality", _("Criticality"), 0,
                   _("No affected CI or service is named on the change.")),
            Factor("users", _("Users behind it"), 0,
                   _("No affected CI or service is named on the change.")),
        ], []
    # worst: (criticality, distance, ci name, affected root name); lower is worse.
    worst: tuple[int, int, str, str] | None = None
    business: set[int] = {pk for pk, ci in roots.items() if ci.ci_class.key == BUSINESS_SERVICE}
    for root in roots.values():
        for node, distance in ci_impact(root, direction="up", depth=IMPACT_DEPTH).nodes:
            candidate = (node.criticality, distance, node.name, root.name)
            if worst is None or candidate[:2] < worst[:2]:
                worst = candidate
            if node.ci_class.key == BUSINESS_SERVICE:
                business.add(node.pk)
    factors = []
    if worst is None:  # the roots themselves are always among the nodes; kept for safety
        factors.append(Factor("criticality", _("Criticality"), 0, _("Nothing found.")))
    else:
        criticality, distance, name, root_name = worst
        label = str(Criticality(criticality).label) if criticality in Criticality.values \
            else str(criticality)
        detail = (_("Highest: %(level)s, %(ci)s (affected by the change).")
                  % {"level": label, "ci": name} if distance == 0 else
                  _("Highest: %(level)s, %(ci)s (depends on %(root)s, %(n)d link(s) up).")
                  % {"level": label, "ci": name, "root": root_name, "n": distance})
        factors.append(Factor("criticality", _("Criticality"),
                              CRITICALITY_POINTS.get(criticality, 0), detail))
    factors.append(_users_factor(business, roots))
    return factors, sorted(roots)


def _user_count(value: Any) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return 0


def _users_factor(business: set[int], roots: dict[int, ConfigurationItem]) -> Factor:
    label = _("Users behind it")
    if not business:
        return Factor("users", label, 0, _("No business service is reached."))
    known = {pk: (ci.name, ci.attributes) for pk, ci in roots.items() if pk in business}
    missing = business - known.keys()
    if missing:  # upstream services: the walk loads no attributes, so read them once
        known.update((pk, (name, attributes)) for pk, name, attributes in
                     ConfigurationItem.objects.filter(pk__in=missing)
                     .values_list("pk", "name", "attributes"))
    counted = sorted(((name, _user_count((attributes or {}).get("users")))
                      for name, attributes in known.values()), key=lambda item: -item[1])
    total = sum(users for _name, users in counted)
    names = ", ".join(f"{name} ({users})" for name, users in counted[:5])
    if len(counted) > 5:
        names += ", …"
    detail = ngettext("%(users)d users of %(n)d business service: %(names)s.",
                      "%(users)d users of %(n)d business services: %(names)s.",
                      len(counted)) % {"users": total, "n": len(counted), "names": names}
    return Factor("users", label, _band(total, USER_BANDS, above=False), detail)


def _outage_factor(change: Change) -> Factor:
    label = _("Outage expected")
    if not change.outage_expected:
        return Factor("outage", label, 0, _("No outage expected."))
    if not change.outage_minutes:
        return Factor("outage", label, OUTAGE_UNKNOWN_POINTS,
                      _("An outage is expected; its length is not given."))
    minutes = change.outage_minutes
    return Factor("outage", label, _band(minutes, OUTAGE_BANDS, above=True),
                  ngettext("An outage of %(n)d minute is expected.",
                           "An outage of %(n)d minutes is expected.", minutes) % {"n": minutes})


def _failure_rate_factor(change: Change, settings: ChangeSettings, *, by: str) -> Factor:
    """How often the implementer team's (``by="team"``) or the category's changes failed
    lately: the success rates of the change reports, fed back into the risk."""
    from .metrics import failure_rate

    key, label, scope_id, missing = {
        "team": ("failure_rate", _("Team's change failure rate"), change.assignment_group_id,
                 _("No implementer team is set.")),
        "category": ("category_failure_rate", _("Category's change failure rate"),
                     change.category_id, _("No category is set.")),
    }[by]
    if not scope_id:
        return Factor(key, label, 0, missing)
    days = settings.failure_rate_days
    rate = failure_rate(days=days, **{f"{by}_id": scope_id})
    if rate.total < MIN_HISTORY:
        return Factor(key, label, 0, ngettext(
            "Not enough history: %(n)d change closed with a result in the last %(days)d "
            "days (at least %(min)d needed).",
            "Not enough history: %(n)d changes closed with a result in the last %(days)d "
            "days (at least %(min)d needed).", rate.total) % {
                "n": rate.total, "days": days, "min": MIN_HISTORY})
    points = _band(rate.rate, FAILURE_RATE_BANDS, above=False) if rate.failed else 0
    return Factor(key, label, points, _(
        "%(failed)d of %(total)d changes failed or were backed out in the last %(days)d "
        "days (%(percent).0f %%).") % {"failed": rate.failed, "total": rate.total,
                                       "days": days, "percent": 100 * rate.rate})


def _caused_incidents_factor(change: Change, ci_ids: list[int],
                             settings: ChangeSettings) -> Factor:
    label = _("Earlier changes caused incidents")
    days = settings.caused_incidents_days
    if not ci_ids:
        return Factor("caused_incidents", label, 0,
                      _("No affected CI or service is named on the change."))
    since = timezone.now() - datetime.timedelta(days=days)
    earlier = list(
        Change.objects.filter(Q(cis__in=ci_ids) | Q(services__in=ci_ids),
                              caused_incidents__isnull=False)
        .exclude(pk=change.pk)
        .annotate(when=Coalesce("actual_start", "planned_start", "created_at"))
        .filter(when__gte=since)
        .values("pk", "number")
        .annotate(incidents=Count("caused_incidents", distinct=True))
        .order_by("-pk")[:20])
    if not earlier:
        return Factor("caused_incidents", label, 0, _(
            "No change to these CIs caused an incident in the last %(days)d days.")
            % {"days": days})
    names = ", ".join(ngettext("%(number)s (%(n)d incident)", "%(number)s (%(n)d incidents)",
                               row["incidents"]) % {"number": row["number"], "n": row["incidents"]}
                      for row in earlier)
    return Factor("caused_incidents", label,
                  min(CAUSED_POINTS_EACH * len(earlier), CAUSED_POINTS_MAX),
                  _("In the last %(days)d days: %(changes)s.") % {"days": days, "changes": names})


def _emergency_factor(change: Change) -> Factor:
    label = _("Emergency change")
    if change.type == ChangeType.EMERGENCY:
        return Factor("emergency", label, EMERGENCY_POINTS,
                      _("An emergency change: expedited authorisation, little time to test."))
    return Factor("emergency", label, 0, _("Not an emergency change."))


def _factors(change: Change, chosen: list[tuple[RiskQuestion, RiskAnswer]],
             settings: ChangeSettings) -> list[Factor]:
    factors = [Factor(f"question_{question.pk}", question.text, answer.weight, answer.text)
               for question, answer in chosen]
    impact, ci_ids = _impact_factors(change)
    factors.extend(impact)
    factors.append(_outage_factor(change))
    factors.append(_failure_rate_factor(change, settings, by="team"))
    factors.append(_failure_rate_factor(change, settings, by="category"))
    factors.append(_caused_incidents_factor(change, ci_ids, settings))
    factors.append(_emergency_factor(change))
    return factors


def risk_factors(change: Change, answers: Mapping[int, int]) -> list[Factor]:
    """Every factor of ``change`` with these answers (question id → answer id); answers
    that do not fit their question are left out (``change_assess_risk`` refuses them)."""
    return _factors(change, _chosen_answers(answers, active_questions(), strict=False),
                    ChangeSettings.current())


def risk_preview(change: Change, answers: Mapping[int, int]) -> dict[str, Any]:
    """What an assessment with these answers would give, without writing: the factors,
    the points and the level."""
    settings = ChangeSettings.current()
    factors = _factors(change, _chosen_answers(answers, active_questions(), strict=False),
                       settings)
    score = min(sum(factor.points for factor in factors), MAX_SCORE)
    return {"factors": factors, "score": score, "level": risk_level(score, settings)}


def summary_line(level: str, score: int, factors: list[Factor]) -> str:
    top = sorted((f for f in factors if f.points), key=lambda f: -f.points)[:3]
    reasons = ", ".join(f"{f.label} {f.points}" for f in top)
    return _("Risk assessed: %(level)s, %(score)d points%(reasons)s.") % {
        "level": RiskLevel(level).label, "score": score,
        "reasons": f" ({reasons})" if reasons else ""}


@transaction.atomic
@as_actor
def change_assess_risk(*, actor: Any, change: Change, answers: Mapping[int, int]) -> Change:
    """Assess the change's risk with these answers (question id → answer id): store the
    answers, the level, the points and the factors, audited, with a work note."""
    require_permission(actor, DESK)
    change = Change.objects.select_for_update().get(pk=change.pk)
    if change.state not in ASSESSABLE_STATES:
        raise DomainError(
            _("The risk is assessed while the change is new, assessed or awaiting "
              "authorisation, not when it is %(state)s.") % {
                "state": change.get_state_display().lower()},
            code="not_assessable", fields={"state": [_("Too late to assess the risk.")]})
    if change.type == ChangeType.STANDARD:
        raise DomainError(_("A standard change carries the risk its template was approved "
                            "with."), code="not_assessable",
                          fields={"type": [_("Standard changes are not assessed.")]})
    settings = ChangeSettings.current()
    chosen = _chosen_answers(answers, active_questions(), strict=True)
    factors = _factors(change, chosen, settings)
    score = min(sum(factor.points for factor in factors), MAX_SCORE)
    before = snapshot(change, ("risk", "risk_score"))
    ChangeRiskAnswer.objects.filter(change=change).delete()
    ChangeRiskAnswer.objects.bulk_create(
        ChangeRiskAnswer(change=change, question=question, answer=answer)
        for question, answer in chosen)
    change.risk = risk_level(score, settings)
    change.risk_score = score
    change.risk_factors = [factor.as_dict() for factor in factors]
    change.risk_assessed_at = timezone.now()
    change.save(update_fields=["risk", "risk_score", "risk_factors", "risk_assessed_at",
                               "updated_at"])
    changed = diff(before, snapshot(change, ("risk", "risk_score")))
    audit_record(action=AuditAction.UPDATE, target=change, changes=changed,
                 message=_("Risk assessed"))
    ticket_comment(ticket=change, actor=actor, internal=True,
                   body=summary_line(change.risk, score, factors))
    if changed:
        ticket_event("updated", change, {"changes": changed})
    return change


def stored_answers(change: Change) -> dict[int, int]:
    """The change's current answers: question id → answer id."""
    return dict(ChangeRiskAnswer.objects.filter(change=change)
                .values_list("question_id", "answer_id"))
