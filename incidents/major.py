"""Major incidents: declare and stand down, stakeholder updates and who receives them,
subscriptions, and the post-incident review (its fields and follow-up actions).

Every function here is a service: atomic, acting as ``actor``, permission-checked,
audited. Reads (eligible managers, the portal banner, the review's timeline) are in
:mod:`incidents.major_selectors`."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission
from audit.context import as_actor, current_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from itsm.errors import Conflict, DomainError, NotPermitted
from notifications.services import notify
from tickets import services as tickets
from tickets.models import Activity, ActivityKind

from . import major_selectors as selectors
from .models import (
    OPEN_STATES,
    Incident,
    IncidentState,
    PostIncidentReview,
    ReviewAction,
    ReviewStatus,
    StakeholderUpdate,
)

MANAGE = "incidents.manage_major_incidents"
DESK = "accounts.access_desk"
REASON_MAX = 300
UPDATE_MAX = 5000
# Updates may still be posted once the incident is resolved ("service restored"), not
# once it is closed.
UPDATABLE_STATES = (*OPEN_STATES, IncidentState.RESOLVED)


def _display(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return (profile.name if profile is not None else "") or user.get_username()


def _entry(incident: Incident, body: str, *, kind: str = ActivityKind.SYSTEM,
           public: bool = True) -> Activity:
    """An entry in the incident's activity stream, by whoever is acting."""
    actor = current_actor()
    return Activity.objects.create(
        content_type=ContentType.objects.get_for_model(Incident), object_id=incident.pk,
        kind=kind, public=public, author_id=actor.user_id, author_label=actor.label,
        body=body)


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _required_text(value: str | None, field: str, message: str,
                   limit: int | None = None) -> str:
    text = (value or "").strip()
    if not text:
        raise DomainError(message, fields={field: [_("Required.")]})
    if limit is not None and len(text) > limit:
        problem = _("At most %(limit)d characters.") % {"limit": limit}
        raise DomainError(problem, fields={field: [problem]})
    return text


def _desk_url(incident: Incident) -> str:
    return reverse("incidents:detail", kwargs={"key": incident.number})


def _portal_url(incident: Incident) -> str:
    return reverse("portal:incident_detail", kwargs={"pk": incident.pk})


def manager_is_eligible(user: Any) -> bool:
    """A major incident manager is an active desk user allowed to run major incidents."""
    return bool(user is not None and user.is_active and user.has_perm(DESK)
                and user.has_perm(MANAGE))


# --- Declare and stand down ----------------------------------------------------------

@transaction.atomic
@as_actor
def incident_declare_major(*, actor: Any, incident: Incident, manager: Any,
                           reason: str) -> Incident:
    """Run ``incident`` as a major incident under ``manager``. Tells the manager and the
    incident managers; the caller sees a public entry, the desk a work note with why."""
    require_permission(actor, MANAGE)
    problems: dict[str, list[str]] = {}
    text = (reason or "").strip()
    if not text:
        problems["reason"] = [_("Say why this is a major incident.")]
    elif len(text) > REASON_MAX:
        problems["reason"] = [_("At most %(limit)d characters.") % {"limit": REASON_MAX}]
    if manager is None:
        problems["manager"] = [_("Choose the major incident manager.")]
    elif not manager_is_eligible(manager):
        problems["manager"] = [_("%(name)s cannot manage major incidents: choose someone "
                                 "with the incident manager role.") % {
                                     "name": _display(manager)}]
    if problems:
        raise DomainError(next(iter(problems.values()))[0], fields=problems)
    incident = _locked(incident)
    if incident.is_major:
        raise Conflict(_("%(number)s is already a major incident.") % {
            "number": incident.number}, code="already_major",
            fields={"is_major": [_("Already a major incident.")]})
    if incident.state not in OPEN_STATES:
        raise DomainError(_("Only an open incident can be declared major."), code="not_open",
                          fields={"state": [_("The incident is %(state)s.") % {
                              "state": incident.get_state_display()}]})
    if incident.parent_id is not None:
        problem = _("%(number)s is a child of %(parent)s: declare the parent major instead.") % {
            "number": incident.number, "parent": incident.parent.number}
        raise DomainError(problem, code="is_child", fields={"parent": [problem]})
    before = snapshot(incident, ("is_major", "major_manager", "major_declared_at"))
    incident.is_major = True
    incident.major_manager = manager
    incident.major_declared_at = timezone.now()
    incident.save(update_fields=["is_major", "major_manager", "major_declared_at",
                                 "updated_at"])
    changes = diff(before, snapshot(incident, before))
    audit_record(action=AuditAction.UPDATE, target=incident, changes=changes,
                 message=_("Declared a major incident: %(reason)s") % {"reason": text})
    # Fields changed outside the ticket services: tell the observers (service outages).
    tickets.ticket_event("updated", incident, {"changes": changes})
    _entry(incident, _("Declared a major incident. We are treating it with the highest "
                       "priority and will post regular updates."))
    _entry(incident, _("Major incident declared. Manager: %(manager)s. Why: %(reason)s") % {
        "manager": _display(manager), "reason": text}, kind=ActivityKind.WORK_NOTE,
        public=False)
    recipients = [manager, *selectors.major_managers()]
    notify([user for user in recipients if actor is None or user.pk != actor.pk],
           kind="major.declared",
           subject=_("Major incident %(number)s: %(title)s") % {
               "number": incident.number, "title": incident.title},
           body=_("%(manager)s manages it. Why: %(reason)s") % {
               "manager": _display(manager), "reason": text},
           url=_desk_url(incident))
    return incident


@transaction.atomic
@as_actor
def incident_stand_down(*, actor: Any, incident: Incident, reason: str) -> Incident:
    """It is not a major incident after all: back to an ordinary incident, with why."""
    require_permission(actor, MANAGE)
    text = _required_text(reason, "reason", _("Say why the major incident stands down."),
                          REASON_MAX)
    incident = _locked(incident)
    if not incident.is_major:
        raise DomainError(_("%(number)s is not a major incident.") % {
            "number": incident.number}, code="not_major",
            fields={"is_major": [_("Not a major incident.")]})
    if incident.state not in OPEN_STATES:
        raise DomainError(_("A major incident stands down only while it is open."),
                          code="not_open", fields={"state": [_("The incident is %(state)s.")
                                                            % {"state":
                                                               incident.get_state_display()}]})
    if PostIncidentReview.objects.filter(incident=incident).exists():
        raise DomainError(_("%(number)s has a post-incident review: it stays a major "
                            "incident.") % {"number": incident.number}, code="has_review",
                          fields={"is_major": [_("A review exists.")]})
    manager = incident.major_manager
    before = snapshot(incident, ("is_major", "major_manager", "major_declared_at"))
    incident.is_major = False
    incident.major_manager = None
    incident.major_declared_at = None
    incident.save(update_fields=["is_major", "major_manager", "major_declared_at",
                                 "updated_at"])
    changes = diff(before, snapshot(incident, before))
    audit_record(action=AuditAction.UPDATE, target=incident, changes=changes,
                 message=_("Stood down as a major incident: %(reason)s") % {"reason": text})
    tickets.ticket_event("updated", incident, {"changes": changes})
    _entry(incident, _("No longer handled as a major incident."))
    _entry(incident, _("Major incident stood down. Why: %(reason)s") % {"reason": text},
           kind=ActivityKind.WORK_NOTE, public=False)
    if manager is not None and (actor is None or manager.pk != actor.pk):
        notify([manager], kind="major.stood_down",
               subject=_("%(number)s is no longer a major incident") % {
                   "number": incident.number}, body=text, url=_desk_url(incident))
    return incident


# --- Stakeholder updates and subscriptions --------------------------------------------

@transaction.atomic
@as_actor
def stakeholder_update_post(*, actor: Any, incident: Incident, body: str) -> StakeholderUpdate:
    """A timestamped public update. Subscribers (watchers, the callers of its child
    incidents and its own caller) receive it, the author excepted."""
    require_permission(actor, MANAGE)
    text = _required_text(body, "body", _("Write the update first."), UPDATE_MAX)
    incident = _locked(incident)
    if not incident.is_major:
        raise DomainError(_("Stakeholder updates are for major incidents."), code="not_major",
                          fields={"is_major": [_("Not a major incident.")]})
    if incident.state not in UPDATABLE_STATES:
        raise DomainError(_("%(number)s is closed: no more updates.") % {
            "number": incident.number}, code="closed",
            fields={"state": [_("The incident is %(state)s.") % {
                "state": incident.get_state_display()}]})
    who = current_actor()
    update = StakeholderUpdate.objects.create(
        incident=incident, body=text, author_id=who.user_id,
        author_label=_display(actor) if actor is not None else who.label)
    audit_record(action=AuditAction.UPDATE, target=incident,
                 changes={"stakeholder_update": [None, text[:500]]},
                 message=_("Stakeholder update posted"))
    # On the desk's timeline; the portal shows the update in its status box instead.
    _entry(incident, _("Stakeholder update: %(body)s") % {"body": text}, public=False)
    subject = _("Update on %(number)s: %(title)s") % {"number": incident.number,
                                                       "title": incident.title}
    by_url: dict[str, list[Any]] = {}
    for user, via in selectors.stakeholder_subscribers(incident):
        if actor is not None and user.pk == actor.pk:
            continue
        by_url.setdefault(_portal_url(via), []).append(user)
    for url, users in by_url.items():
        notify(users, kind="major.update", subject=subject, body=text, url=url)
    return update


@transaction.atomic
@as_actor
def incident_subscribe(*, actor: Any, incident: Incident, user: Any = None) -> Any:
    """Receive the stakeholder updates of an ongoing major incident. Anyone may follow
    one shown on the portal banner; the desk may add someone else."""
    user = user if user is not None else actor
    if actor is not None and user.pk != actor.pk and not actor.has_perm(DESK):
        raise NotPermitted(_("Only the service desk can subscribe other people."))
    incident = _locked(incident)
    if not incident.is_major or incident.state not in OPEN_STATES:
        raise DomainError(_("Only ongoing major incidents have updates to follow."),
                          code="not_major", fields={"is_major": [_("Not an ongoing major "
                                                                   "incident.")]})
    if actor is not None and not actor.has_perm(DESK) and not (
        selectors.banner_incidents().filter(pk=incident.pk).exists()
        or incident.is_visible_to(actor)
    ):
        # Not on the banner and not theirs: behave as if it did not exist.
        raise NotPermitted(_("You cannot follow this incident."))
    if selectors.is_subscribed(incident, user):
        raise Conflict(_("%(name)s already gets updates on %(number)s.") % {
            "name": _display(user), "number": incident.number}, code="already_subscribed",
            fields={"user": [_("Already subscribed.")]})
    # The checks above replace watcher_add's own (which would require the incident to be
    # visible already); the audit entry still names ``actor``.
    return tickets.watcher_add(ticket=incident, actor=None, user=user)


@transaction.atomic
@as_actor
def incident_unsubscribe(*, actor: Any, incident: Incident, user: Any = None) -> None:
    """Stop receiving updates (remove the watcher)."""
    user = user if user is not None else actor
    tickets.watcher_remove(ticket=incident, actor=actor, user=user)


# --- Post-incident review -------------------------------------------------------------

REVIEW_FIELDS = ("summary", "root_cause", "lessons")
ACTION_FIELDS = ("description", "owner", "due_on", "done")


def _review_locked(review: PostIncidentReview) -> PostIncidentReview:
    return PostIncidentReview.objects.select_for_update().select_related("incident").get(
        pk=review.pk)


def _refuse_if_completed(review: PostIncidentReview) -> None:
    if review.status == ReviewStatus.COMPLETED:
        raise DomainError(_("The review is completed and can no longer be changed."),
                          code="review_completed",
                          fields={"status": [_("Completed.")]})


@transaction.atomic
@as_actor
def review_start(*, actor: Any, incident: Incident) -> PostIncidentReview:
    require_permission(actor, MANAGE)
    incident = _locked(incident)
    if not incident.is_major:
        raise DomainError(_("Only major incidents have a post-incident review."),
                          code="not_major", fields={"is_major": [_("Not a major incident.")]})
    if PostIncidentReview.objects.filter(incident=incident).exists():
        raise Conflict(_("%(number)s already has a review.") % {"number": incident.number},
                       code="review_exists", fields={"review": [_("Already started.")]})
    review = PostIncidentReview.objects.create(incident=incident, created_by=actor)
    audit_record(action=AuditAction.CREATE, target=review,
                 changes={"incident": [None, audit_value(incident)], "status": [None,
                                                                               review.status]})
    _entry(incident, _("Post-incident review started."), kind=ActivityKind.WORK_NOTE,
           public=False)
    return review


@transaction.atomic
@as_actor
def review_update(*, actor: Any, review: PostIncidentReview, **changes: Any) -> PostIncidentReview:
    """Edit the summary, root cause and lessons (a draft review only)."""
    require_permission(actor, MANAGE)
    unknown = set(changes) - set(REVIEW_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %(names)s") % {
            "names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in sorted(unknown)})
    review = _review_locked(review)
    _refuse_if_completed(review)
    before = snapshot(review, changes)
    for name, value in changes.items():
        setattr(review, name, (value or "").strip())
    changed = diff(before, snapshot(review, changes))
    if changed:
        review.save()
        audit_record(action=AuditAction.UPDATE, target=review, changes=changed)
    return review


@transaction.atomic
@as_actor
def review_complete(*, actor: Any, review: PostIncidentReview) -> PostIncidentReview:
    """Sign the review off: it needs a summary and a root cause, and the incident must
    be resolved (or closed) first."""
    require_permission(actor, MANAGE)
    review = _review_locked(review)
    _refuse_if_completed(review)
    problems: dict[str, list[str]] = {}
    if not review.summary.strip():
        problems["summary"] = [_("Write a summary before completing the review.")]
    if not review.root_cause.strip():
        problems["root_cause"] = [_("Record the root cause before completing the review.")]
    if review.incident.state in OPEN_STATES:
        problems["state"] = [_("%(number)s is still open: resolve it first.") % {
            "number": review.incident.number}]
    if problems:
        raise DomainError(next(iter(problems.values()))[0], code="review_incomplete",
                          fields=problems)
    review.status = ReviewStatus.COMPLETED
    review.completed_at = timezone.now()
    review.save()
    audit_record(action=AuditAction.UPDATE, target=review,
                 changes={"status": [ReviewStatus.DRAFT, ReviewStatus.COMPLETED]},
                 message=_("Post-incident review completed"))
    _entry(review.incident, _("Post-incident review completed."), kind=ActivityKind.WORK_NOTE,
           public=False)
    return review


def _check_action_values(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(values)
    if "description" in cleaned:
        cleaned["description"] = _required_text(
            cleaned["description"], "description", _("Describe the action."),
            ReviewAction._meta.get_field("description").max_length)
    owner = cleaned.get("owner")
    if owner is not None and not owner.is_active:
        raise DomainError(_("%(name)s is no longer active.") % {"name": _display(owner)},
                          fields={"owner": [_("Choose an active person.")]})
    due = cleaned.get("due_on")
    if due is not None and not isinstance(due, datetime.date):
        raise DomainError(_("The due date is not a date."), fields={"due_on": [_("A date.")]})
    return cleaned


def _tell_owner(action: ReviewAction, actor: Any) -> None:
    owner = action.owner
    if owner is None or (actor is not None and owner.pk == actor.pk):
        return
    incident = action.review.incident
    notify([owner], kind="major.review_action",
           subject=_("Action for you from the review of %(number)s") % {
               "number": incident.number},
           body=action.description + (_(" (due %(date)s)") % {"date": action.due_on.isoformat()}
                                      if action.due_on else ""),
           url=reverse("incidents:review", kwargs={"key": incident.number}))


@transaction.atomic
@as_actor
def review_action_add(*, actor: Any, review: PostIncidentReview, description: str,
                      owner: Any = None, due_on: datetime.date | None = None) -> ReviewAction:
    require_permission(actor, MANAGE)
    values = _check_action_values({"description": description, "owner": owner,
                                   "due_on": due_on})
    review = _review_locked(review)
    _refuse_if_completed(review)
    action = ReviewAction.objects.create(review=review, **values)
    audit_record(action=AuditAction.CREATE, target=action,
                 changes=diff({}, snapshot(action, ACTION_FIELDS)),
                 message=_("Review action added to %(number)s") % {
                     "number": review.incident.number})
    _tell_owner(action, actor)
    return action


@transaction.atomic
@as_actor
def review_action_update(*, actor: Any, action: ReviewAction, **changes: Any) -> ReviewAction:
    """Edit an action, or mark it done. Follow-up goes on after the review is completed,
    so this stays open then; the action's owner may mark it done."""
    unknown = set(changes) - set(ACTION_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %(names)s") % {
            "names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in sorted(unknown)})
    action = ReviewAction.objects.select_for_update().select_related(
        "review__incident").get(pk=action.pk)
    owner_marks_done = (actor is not None and set(changes) <= {"done"}
                        and action.owner_id == actor.pk)
    if not owner_marks_done:
        require_permission(actor, MANAGE)
    values = _check_action_values(changes)
    before = snapshot(action, values)
    for name, value in values.items():
        setattr(action, name, value)
    changed = diff(before, snapshot(action, values))
    if changed:
        action.save()
        audit_record(action=AuditAction.UPDATE, target=action, changes=changed)
        if "owner" in changed:
            _tell_owner(action, actor)
    return action


@transaction.atomic
@as_actor
def review_action_delete(*, actor: Any, action: ReviewAction) -> None:
    require_permission(actor, MANAGE)
    action = ReviewAction.objects.select_for_update().select_related(
        "review__incident").get(pk=action.pk)
    _refuse_if_completed(action.review)
    audit_record(action=AuditAction.DELETE, target=action,
                 changes={name: [audit_value(value), None]
                          for name, value in snapshot(action, ACTION_FIELDS).items()},
                 message=_("Review action removed from %(number)s") % {
                     "number": action.review.incident.number})
    action.delete()
