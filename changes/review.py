"""The post-implementation review of a change: its result, deviations and lessons, and the
incidents it caused (suggested from the incidents opened on its CIs during or shortly
after its window, marked by people). Marked incidents feed the risk of later changes to
the same CIs (``changes.risk``)."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from cmdb.models import Relationship
from incidents.models import Incident
from itsm.errors import Conflict, DomainError, NotPermitted
from tickets.services import ticket_comment, ticket_event

from .models import Change, ChangeResult, ChangeReview, ChangeSettings, ChangeState
from .risk import DESK, MANAGE

REVIEWABLE_STATES = (ChangeState.IMPLEMENT, ChangeState.REVIEW, ChangeState.CLOSED)
REVIEW_FIELDS = ("result", "deviations", "lessons", "reviewer", "completed_at")
MAX_SUGGESTIONS = 50


def _require_reviewable(change: Change) -> None:
    if change.state not in REVIEWABLE_STATES:
        raise DomainError(
            _("A change is reviewed once it is being implemented, not while it is "
              "%(state)s.") % {"state": change.get_state_display().lower()},
            code="not_reviewable", fields={"state": [_("Not implemented yet.")]})


@transaction.atomic
@as_actor
def change_review_save(*, actor: Any, change: Change, result: str, deviations: str = "",
                       lessons: str = "", complete: bool = False) -> ChangeReview:
    """Write the change's review; ``complete`` stamps it done (by ``actor``) and makes the
    change's result the review's. A completed review is edited by change managers only."""
    require_permission(actor, DESK)
    change = Change.objects.select_for_update().get(pk=change.pk)
    _require_reviewable(change)
    if result not in ChangeResult.values:
        raise DomainError(_("Say how the change went."), code="result_required",
                          fields={"result": [_("Choose a result.")]})
    review = ChangeReview.objects.select_for_update().filter(change=change).first()
    creating = review is None
    if review is not None and review.completed_at and actor is not None \
            and not actor.has_perm(MANAGE):
        raise NotPermitted(_("The review is completed: only change managers may edit it."))
    review = review or ChangeReview(change=change)
    before = {} if creating else snapshot(review, REVIEW_FIELDS)
    review.result = result
    review.deviations = (deviations or "").strip()
    review.lessons = (lessons or "").strip()
    completing = complete and review.completed_at is None
    if completing:
        review.completed_at = timezone.now()
        review.reviewer = actor
    validated(review, exclude=["change", "reviewer"])
    review.save()
    changed = diff(before, snapshot(review, REVIEW_FIELDS))
    if changed:
        audit_record(action=AuditAction.CREATE if creating else AuditAction.UPDATE,
                     target=change, changes={f"review.{k}": v for k, v in changed.items()},
                     message=_("Review completed") if completing else _("Review saved"))
    if review.completed_at and change.result != review.result:
        before_change = snapshot(change, ("result",))
        change.result = review.result
        change.save(update_fields=["result", "updated_at"])
        result_changed = diff(before_change, snapshot(change, ("result",)))
        audit_record(action=AuditAction.UPDATE, target=change, changes=result_changed,
                     message=_("Result set by the review"))
        ticket_event("updated", change, {"changes": result_changed})
    if completing:
        ticket_comment(ticket=change, actor=actor, internal=True, body=_(
            "Post-implementation review completed: %(result)s.") % {
                "result": review.get_result_display()})
    return review


def review_of(change: Change) -> ChangeReview | None:
    return ChangeReview.objects.filter(change=change).select_related(
        "reviewer__profile").first()


# --- Incidents caused ------------------------------------------------------------------

def suggestion_window(change: Change, hours: int | None = None
                      ) -> tuple[datetime.datetime, datetime.datetime] | None:
    """From the actual (else planned) start to the actual (else planned; else now) end
    plus the review window; None when the change has no start."""
    start = change.actual_start or change.planned_start
    if start is None:
        return None
    end = change.actual_end or change.planned_end or timezone.now()
    hours = ChangeSettings.current().review_window_hours if hours is None else hours
    return start, end + datetime.timedelta(hours=hours)


def _hours(delta: datetime.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return _("%(n).0f min") % {"n": hours * 60} if hours < 1 else _("%(n).1f h") % {"n": hours}


def caused_incident_suggestions(change: Change) -> list[Incident]:
    """Incidents on the change's CIs or services, or on CIs directly related to them,
    opened in its window (plus the review window), not yet marked; each with ``why``.
    Four queries: the settings, the change's CIs, their neighbours, the incidents."""
    window = suggestion_window(change)
    affected = {pk: name for pk, name in
                change.cis.order_by().values_list("pk", "name").union(
                    change.services.order_by().values_list("pk", "name"))}
    if window is None or not affected:
        return []
    start, until = window
    related: dict[int, int] = {}  # neighbour → the affected CI it is linked to
    for source, target in Relationship.objects.filter(
            Q(source_id__in=affected) | Q(target_id__in=affected)).values_list(
            "source_id", "target_id"):
        if source in affected and target not in affected:
            related.setdefault(target, source)
        elif target in affected and source not in affected:
            related.setdefault(source, target)
    reach = [*affected, *related]
    incidents = list(
        Incident.objects.filter(Q(ci_id__in=reach) | Q(service_id__in=reach),
                                created_at__gte=start, created_at__lte=until)
        .exclude(caused_by_changes=change)
        .select_related("ci", "service")
        .order_by("created_at", "pk")[:MAX_SUGGESTIONS])
    end = change.actual_end or change.planned_end
    for incident in incidents:
        if incident.ci_id in affected:
            hit = incident.ci
        elif incident.service_id in affected:
            hit = incident.service
        elif incident.ci_id in related:
            hit = incident.ci
        else:
            hit = incident.service
        if hit.pk in affected:
            where = _("on %(ci)s, affected by the change") % {"ci": hit.name}
        else:
            where = _("on %(ci)s, directly related to %(root)s") % {
                "ci": hit.name, "root": affected[related[hit.pk]]}
        if end is not None and incident.created_at > end:
            when = _("opened %(after)s after the window") % {
                "after": _hours(incident.created_at - end)}
        else:
            when = _("opened during the change window")
        incident.why = f"{where[:1].upper()}{where[1:]}; {when}."
    return incidents


def _lock_and_check(change: Change, actor: Any) -> Change:
    require_permission(actor, DESK)
    change = Change.objects.select_for_update().get(pk=change.pk)
    _require_reviewable(change)
    return change


@transaction.atomic
@as_actor
def change_mark_caused(*, actor: Any, change: Change, incident: Incident) -> Change:
    """Record that ``change`` caused ``incident`` (a work note on both)."""
    change = _lock_and_check(change, actor)
    if change.caused_incidents.filter(pk=incident.pk).exists():
        raise Conflict(_("%(number)s is already marked as caused by this change.")
                       % {"number": incident.number}, code="already_marked",
                       fields={"incident": [_("Already marked.")]})
    change.caused_incidents.add(incident)
    audit_record(action=AuditAction.UPDATE, target=change,
                 changes={"caused_incidents": [None, incident.number]},
                 message=_("Marked as caused by the change"))
    ticket_comment(ticket=change, actor=actor, internal=True, body=_(
        "Caused %(number)s: %(title)s") % {"number": incident.number, "title": incident.title})
    ticket_comment(ticket=incident, actor=actor, internal=True, body=_(
        "Caused by change %(number)s: %(title)s") % {"number": change.number,
                                                     "title": change.title})
    return change


@transaction.atomic
@as_actor
def change_unmark_caused(*, actor: Any, change: Change, incident: Incident) -> Change:
    """Take back a mark made by ``change_mark_caused``."""
    change = _lock_and_check(change, actor)
    if not change.caused_incidents.filter(pk=incident.pk).exists():
        raise Conflict(_("%(number)s is not marked as caused by this change.")
                       % {"number": incident.number}, code="not_marked",
                       fields={"incident": [_("Not marked.")]})
    change.caused_incidents.remove(incident)
    audit_record(action=AuditAction.UPDATE, target=change,
                 changes={"caused_incidents": [incident.number, None]},
                 message=_("No longer marked as caused by the change"))
    ticket_comment(ticket=change, actor=actor, internal=True, body=_(
        "No longer marked as causing %(number)s.") % {"number": incident.number})
    ticket_comment(ticket=incident, actor=actor, internal=True, body=_(
        "No longer marked as caused by change %(number)s.") % {"number": change.number})
    return change
