"""Approvals of changes: the route (which policy applies), rounds of approval with one
task per approver, votes under the round's rule (any / all / majority / N of M), asking
for and providing information, the change manager's override, and what a decision does
to the change (authorised and scheduled, or sent back). Also the policies themselves and
the sweep of emergency changes whose approval after the fact is overdue.

Every write here is a service: atomic, acting as ``actor``, permission-checked where a
permission applies, audited. Refusals name the field (``decision``, ``comment``,
``approvers``, ``required_count``…). Reads are in :mod:`changes.approval_selectors`."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, TeamMembership
from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction, AuditEntry
from audit.services import audit_record, audit_value, diff, snapshot
from itsm.errors import Conflict, DomainError, NotPermitted
from notifications.services import notify
from tickets import services as tickets

from . import approval_selectors as selectors
from .models import (
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalRule,
    ApprovalState,
    ApproverTask,
    Change,
    ChangeSettings,
    ChangeState,
    ChangeType,
    RiskLevel,
)

MANAGE = selectors.MANAGE
DESK = selectors.DESK
APPROVE, REJECT, INFO = "approve", "reject", "info"
DECISIONS = (APPROVE, REJECT, INFO)
COMMENT_MAX = 2000
# Past authorisation: an approval arriving now is an approval after the fact.
AFTER_AUTHORISATION = (ChangeState.SCHEDULED, ChangeState.IMPLEMENT, ChangeState.REVIEW,
                       ChangeState.CLOSED)
RETRO_NOTICE_KEY = "retro_overdue_notified"


def _transition(**kwargs: Any) -> Change:
    from .services import change_transition  # services import this module

    return change_transition(**kwargs)


def _refuse(field: str, message: str, *, code: str | None = None,
            error: type[DomainError] = DomainError) -> DomainError:
    return error(message, code=code, fields={field: [message]})


def _text(value: str | None, field: str, message: str, limit: int = COMMENT_MAX) -> str:
    text = (value or "").strip()
    if not text:
        raise _refuse(field, message)
    if len(text) > limit:
        raise _refuse(field, _("At most %(limit)d characters.") % {"limit": limit})
    return text


def _note(change: Change, body: str, *, public: bool = False) -> None:
    """A line on the change's timeline, by whoever is acting (a work note unless public)."""
    tickets.ticket_comment(ticket=change, actor=None, body=body, internal=not public)


def _locked_change(change: Change) -> Change:
    return Change.objects.select_for_update().get(pk=change.pk)


def _people(change: Change) -> list[Any]:
    return [user for user in (change.requester, change.assignee) if user is not None]


# --- The route --------------------------------------------------------------------------

def approval_route(change: Change) -> ApprovalPolicy | None:
    """The first active policy, in order, whose types (empty: all) hold the change's type
    and whose risk levels (empty: all) hold its risk."""
    for policy in ApprovalPolicy.objects.filter(is_active=True).order_by("order", "id"):
        if policy.change_types and change.type not in policy.change_types:
            continue
        if policy.risk_levels and change.risk not in policy.risk_levels:
            continue
        return policy
    return None


def required_for(rule: str, approvers: int, count: int | None = None) -> int:
    """How many approvals a round of ``approvers`` people needs under ``rule``."""
    if rule == ApprovalRule.ALL:
        return approvers
    if rule == ApprovalRule.MAJORITY:
        return approvers // 2 + 1
    if rule == ApprovalRule.N_OF_M:
        return max(1, min(count or 1, approvers))
    return min(1, approvers)


def _candidates(policy: ApprovalPolicy | None) -> list[tuple[Any, Team | None]]:
    """(person, team they were asked through) for the policy, each person once: people
    named on it first, then the active members of its active teams as of now."""
    found: dict[int, tuple[Any, Team | None]] = {}
    if policy is None:
        for user in selectors.change_managers():
            found.setdefault(user.pk, (user, None))
        return list(found.values())
    for user in policy.people.filter(is_active=True).select_related("profile").order_by("pk"):
        found.setdefault(user.pk, (user, None))
    memberships = (TeamMembership.objects
                   .filter(team__in=policy.groups.filter(is_active=True), user__is_active=True)
                   .select_related("user__profile", "team").order_by("team__name", "user_id"))
    for membership in memberships:
        found.setdefault(membership.user_id, (membership.user, membership.team))
    return list(found.values())


def _cancel_open_rounds(change: Change, reason: str) -> int:
    rounds = list(ApprovalRequest.objects.select_for_update()
                  .filter(change=change, state__in=selectors.OPEN_ROUND))
    now = timezone.now()
    for round_ in rounds:
        ApproverTask.objects.filter(request=round_, state__in=selectors.OPEN_TASK).update(
            state=ApprovalState.CANCELLED)
        before = round_.state
        round_.state = ApprovalState.CANCELLED
        round_.decided_at = now
        round_.save(update_fields=["state", "decided_at"])
        audit_record(action=AuditAction.UPDATE, target=round_,
                     changes={"state": [before, ApprovalState.CANCELLED]},
                     message=_("Approval round cancelled: %(reason)s") % {"reason": reason})
    return len(rounds)


@transaction.atomic
@as_actor
def approval_start(*, change: Change) -> ApprovalRequest:
    """Open a round of approval for a change entering "authorize" (called by the change
    transition inside its transaction, under its actor). An earlier open round is
    cancelled. The implementer and the requester are never asked unless no one else
    could approve. Each approver is told."""
    locked = _locked_change(change)
    _cancel_open_rounds(locked, _("a new round was started"))
    policy = approval_route(locked)
    candidates = _candidates(policy)
    own = {locked.requester_id, locked.assignee_id} - {None}
    approvers = [(user, team) for user, team in candidates if user.pk not in own]
    waived = not approvers and bool(candidates)
    if waived:
        approvers = candidates  # segregation of duties cannot be kept: say so below
    if not approvers:
        raise _refuse("approvers", _(
            "No one can approve %(number)s: the policy %(policy)s names no active person "
            "or team member.") % {"number": locked.number,
                                  "policy": policy.name if policy else _("Change manager")},
            code="no_approvers")
    if policy is not None:
        name, rule, count = policy.name, policy.rule, policy.required_count
    else:
        name, rule, count = _("Change manager"), ApprovalRule.ANY, None
    round_ = ApprovalRequest.objects.create(
        change=locked, policy=policy, policy_name=name[:100], rule=rule,
        required_count=required_for(rule, len(approvers), count))
    ApproverTask.objects.bulk_create([
        ApproverTask(request=round_, approver=user, via_team=team) for user, team in approvers])
    audit_record(action=AuditAction.CREATE, target=round_, changes={
        "change": [None, audit_value(locked)], "policy": [None, name], "rule": [None, rule],
        "required_count": [None, round_.required_count],
        "approvers": [None, [user.pk for user, _team in approvers]]},
        message=_("Segregation of duties waived: only the requester or implementer can "
                  "approve") if waived else "")

    updates: dict[str, Any] = {}
    if policy is not None and policy.cab:
        updates["cab_required"] = True
    if (policy is not None and policy.allow_retrospective
            and locked.type == ChangeType.EMERGENCY):
        hours = ChangeSettings.current().emergency_retro_hours
        updates["retro_approval_due"] = timezone.now() + datetime.timedelta(hours=hours)
    if updates:
        before = snapshot(locked, updates)
        for field, value in updates.items():
            setattr(locked, field, value)
            # The caller's copy too: it may save the change again after this returns.
            setattr(change, field, value)
        locked.save(update_fields=[*updates, "updated_at"])
        changed = diff(before, snapshot(locked, updates))
        audit_record(action=AuditAction.UPDATE, target=locked, changes=changed,
                     message=_("Set by the approval policy %(policy)s") % {"policy": name})
        tickets.ticket_event("updated", locked, {"changes": changed})

    names = ", ".join(selectors.display_name(user) for user, _team in approvers)
    note = _("Approval requested (%(policy)s, %(rule)s, %(count)d needed) from: %(names)s.") % {
        "policy": name, "rule": ApprovalRule(rule).label, "count": round_.required_count,
        "names": names}
    if waived:
        note += " " + _("Segregation of duties waived: no one but the requester or the "
                        "implementer can approve under this policy.")
    if "retro_approval_due" in updates:
        note += " " + _("It may be scheduled now and approved after the fact, by %(due)s.") % {
            "due": timezone.localtime(updates["retro_approval_due"]).strftime("%Y-%m-%d %H:%M")}
    _note(locked, note)
    _tell_approvers(locked, [user for user, _team in approvers],
                    _("Approval needed: %(number)s %(title)s"),
                    _("%(type)s change, risk %(risk)s. Approve, reject or ask for "
                      "information.") % {"type": locked.get_type_display(),
                                         "risk": locked.get_risk_display() or "—"})
    return round_


def _tell_approvers(change: Change, users: Iterable[Any], subject: str, body: str) -> None:
    """Desk approvers get the change page; business approvers (no desk) the portal's."""
    desk, portal = [], []
    for user in users:
        (desk if user.has_perm(DESK) else portal).append(user)
    subject = subject % {"number": change.number, "title": change.title}
    if desk:
        notify(desk, kind="change.approval", subject=subject, body=body,
               url=selectors.change_url(change))
    if portal:
        notify(portal, kind="change.approval", subject=subject, body=body,
               url=selectors.portal_approval_url(change))


# --- Votes ------------------------------------------------------------------------------

@transaction.atomic
@as_actor
def approval_vote(*, actor: Any, task: ApproverTask, decision: str,
                  comment: str = "") -> ApproverTask:
    """The approver's decision on their task: approve, reject (why) or ask for
    information (what). Once per approver; the round's rule is then evaluated."""
    if decision not in DECISIONS:
        raise _refuse("decision", _("Choose approve, reject or ask for information."))
    # Locks in one order everywhere: the change, then its round, then the task.
    change = _locked_change(Change(pk=ApprovalRequest.objects.values_list(
        "change_id", flat=True).get(pk=task.request_id)))
    round_ = ApprovalRequest.objects.select_for_update().get(pk=task.request_id)
    task = ApproverTask.objects.select_for_update().get(pk=task.pk)
    if actor is None or task.approver_id != actor.pk:
        if actor is None or not ApproverTask.objects.filter(
                approver=actor, request__change=change).exists():
            raise NotPermitted(_("You are not an approver of this change."),
                               fields={"approver": [_("Not an approver of this change.")]})
        raise NotPermitted(_("This decision belongs to another approver."),
                           fields={"approver": [_("Another approver's task.")]})
    if round_.state not in selectors.OPEN_ROUND:
        raise _refuse("state", _("This approval round is %(state)s: it takes no more "
                                 "votes.") % {"state": round_.get_state_display().lower()},
                      code="round_closed", error=Conflict)
    if task.state in (ApprovalState.APPROVED, ApprovalState.REJECTED, ApprovalState.CANCELLED) \
            or (task.state == ApprovalState.INFO_REQUESTED and decision == INFO):
        raise _refuse("decision", _("You have already voted on %(number)s (%(state)s).") % {
            "number": change.number, "state": task.get_state_display().lower()},
            code="already_voted", error=Conflict)
    if decision == REJECT:
        text = _text(comment, "comment", _("Say why you reject the change."))
    elif decision == INFO:
        text = _text(comment, "comment", _("Say what information you need."))
    else:
        text = (comment or "").strip()[:COMMENT_MAX]

    before = task.state
    task.state = {APPROVE: ApprovalState.APPROVED, REJECT: ApprovalState.REJECTED,
                  INFO: ApprovalState.INFO_REQUESTED}[decision]
    task.comment = text
    task.decided_at = timezone.now() if decision != INFO else None
    task.save(update_fields=["state", "comment", "decided_at"])
    audit_record(action=AuditAction.UPDATE, target=task,
                 changes={"state": [before, task.state], "comment": [None, text[:500]]},
                 message=_("Vote on %(number)s") % {"number": change.number})
    who = selectors.display_name(actor)
    if decision == INFO:
        _note(change, _("%(who)s asks for information before deciding: %(text)s") % {
            "who": who, "text": text}, public=True)
        if round_.state == ApprovalState.PENDING:
            round_.state = ApprovalState.INFO_REQUESTED
            round_.save(update_fields=["state"])
            audit_record(action=AuditAction.UPDATE, target=round_,
                         changes={"state": [ApprovalState.PENDING,
                                            ApprovalState.INFO_REQUESTED]},
                         message=_("Information requested by %(who)s") % {"who": who})
        notify([u for u in _people(change) if u.pk != actor.pk], kind="change.info_requested",
               subject=_("Information requested on %(number)s") % {"number": change.number},
               body=_("%(who)s asks: %(text)s") % {"who": who, "text": text},
               url=selectors.change_url(change))
        return task
    _note(change, (_("%(who)s approved.") if decision == APPROVE
                   else _("%(who)s rejected.")) % {"who": who}
          + (f" {text}" if text else ""))
    _evaluate(round_, change)
    return task


def _evaluate(round_: ApprovalRequest, change: Change) -> None:
    """Decide the round when its rule is met, or can no longer be met."""
    states = list(round_.tasks.values_list("state", flat=True))
    approvals = states.count(ApprovalState.APPROVED)
    undecided = sum(1 for state in states if state in selectors.OPEN_TASK)
    if approvals >= round_.required_count:
        _decide(round_, change, approved=True, reason=_(
            "%(rule)s: %(approvals)d of %(needed)d approvals.") % {
                "rule": round_.get_rule_display(), "approvals": approvals,
                "needed": round_.required_count})
    elif approvals + undecided < round_.required_count:
        reasons = "; ".join(
            f"{selectors.display_name(t.approver)}: {t.comment}" for t in
            round_.tasks.filter(state=ApprovalState.REJECTED).select_related(
                "approver__profile").order_by("decided_at", "id"))
        _decide(round_, change, approved=False, reason=reasons)
    elif (round_.state == ApprovalState.INFO_REQUESTED
          and ApprovalState.INFO_REQUESTED not in states):
        # The only questions were answered by deciding: back to waiting for votes.
        round_.state = ApprovalState.PENDING
        round_.save(update_fields=["state"])
        audit_record(action=AuditAction.UPDATE, target=round_,
                     changes={"state": [ApprovalState.INFO_REQUESTED, ApprovalState.PENDING]})


def _decide(round_: ApprovalRequest, change: Change, *, approved: bool, reason: str,
            overridden_by: Any = None) -> None:
    """Close the round and do what its outcome means for the change."""
    now = timezone.now()
    change = _locked_change(change)
    before = snapshot(round_, ("state", "retrospective", "overridden_by", "override_reason"))
    round_.state = ApprovalState.APPROVED if approved else ApprovalState.REJECTED
    round_.decided_at = now
    if approved and change.state in AFTER_AUTHORISATION:
        round_.retrospective = True
    if overridden_by is not None:
        round_.overridden_by = overridden_by
        round_.override_reason = reason
    round_.save(update_fields=["state", "decided_at", "retrospective", "overridden_by",
                               "override_reason"])
    # Whoever did not vote is no longer asked.
    ApproverTask.objects.filter(request=round_, state__in=selectors.OPEN_TASK).update(
        state=ApprovalState.CANCELLED)
    audit_record(action=AuditAction.UPDATE, target=round_,
                 changes=diff(before, snapshot(round_, before)),
                 message=(_("Overridden: %(reason)s") if overridden_by is not None
                          else "%(reason)s") % {"reason": reason[:400]})
    if approved:
        _authorise(round_, change, reason)
    else:
        _rejected(round_, change, reason)


def _authorise(round_: ApprovalRequest, change: Change, reason: str) -> None:
    before = snapshot(change, ("authorized_at",))
    change.authorized_at = timezone.now()
    change.save(update_fields=["authorized_at", "updated_at"])
    changed = diff(before, snapshot(change, before))
    audit_record(action=AuditAction.UPDATE, target=change, changes=changed,
                 message=_("Authorised after the fact") if round_.retrospective
                 else _("Authorised"))
    tickets.ticket_event("updated", change, {"changes": changed})
    text = (_("Authorised after the fact (%(policy)s). %(reason)s") if round_.retrospective
            else _("Authorised (%(policy)s). %(reason)s")) % {
        "policy": round_.policy_name, "reason": reason}
    _note(change, text)
    notify(_people(change), kind="change.approved",
           subject=_("%(number)s is approved") % {"number": change.number}, body=text,
           url=selectors.change_url(change))
    if change.state != ChangeState.AUTHORIZE:
        return
    try:
        with transaction.atomic():  # a refused guard leaves nothing half-written
            _transition(actor=None, change=change, to_state=ChangeState.SCHEDULED,
                        note=_("Scheduled: the approval rule was met."))
    except DomainError as error:
        problems = "; ".join(str(m) for messages in error.fields.values() for m in messages)
        _note(change, _("Approved, but it stays in Authorize until this is fixed: "
                        "%(problems)s") % {"problems": problems or error.message})


def _rejected(round_: ApprovalRequest, change: Change, reason: str) -> None:
    text = _("Rejected (%(policy)s): %(reason)s") % {"policy": round_.policy_name,
                                                    "reason": reason or "—"}
    if change.state == ChangeState.AUTHORIZE and change.type == ChangeType.NORMAL:
        try:
            with transaction.atomic():
                _transition(actor=None, change=change, to_state=ChangeState.ASSESS,
                            note=text + " " + _("Sent back to assessment."))
        except DomainError:
            _note(change, text, public=True)
    else:
        # An emergency change (or one already past authorisation) stays where it is: the
        # rejected round is its flag; change managers decide what to do (back out?).
        _note(change, text, public=True)
        notify(selectors.change_managers(), kind="change.rejected_flag",
               subject=_("Rejected %(type)s change %(number)s needs a decision") % {
                   "type": change.get_type_display().lower(), "number": change.number},
               body=text, url=selectors.change_url(change))
    notify(_people(change), kind="change.rejected",
           subject=_("%(number)s was rejected") % {"number": change.number}, body=text,
           url=selectors.change_url(change))


# --- Information ------------------------------------------------------------------------

@transaction.atomic
@as_actor
def approval_provide_info(*, actor: Any, change: Change, body: str) -> ApprovalRequest:
    """Answer the approvers' questions: a public comment on the change; the round and the
    tasks that asked go back to pending and those approvers are told."""
    if actor is not None and not selectors.can_provide_info(actor, change):
        raise NotPermitted(_("Only the requester, the implementer or the service desk can "
                             "answer the approvers."))
    text = _text(body, "body", _("Write the information the approvers asked for."), 5000)
    change = _locked_change(change)
    round_ = (ApprovalRequest.objects.select_for_update()
              .filter(change=change, state=ApprovalState.INFO_REQUESTED).first())
    if round_ is None:
        raise _refuse("state", _("No approver is waiting for information on %(number)s.") % {
            "number": change.number}, code="no_info_requested", error=Conflict)
    tickets.ticket_comment(ticket=change, actor=actor, body=text)
    asked = list(round_.tasks.filter(state=ApprovalState.INFO_REQUESTED)
                 .select_related("approver"))
    ApproverTask.objects.filter(pk__in=[t.pk for t in asked]).update(
        state=ApprovalState.PENDING)
    round_.state = ApprovalState.PENDING
    round_.save(update_fields=["state"])
    audit_record(action=AuditAction.UPDATE, target=round_,
                 changes={"state": [ApprovalState.INFO_REQUESTED, ApprovalState.PENDING]},
                 message=_("Information provided"))
    _tell_approvers(change, [t.approver for t in asked],
                    _("Information provided on %(number)s %(title)s"), text)
    return round_


# --- Override and cancel ----------------------------------------------------------------

@transaction.atomic
@as_actor
def override_round(*, actor: Any, change: Change, approved: bool, reason: str) -> ApprovalRequest:
    """Decide the open round regardless of votes (callers check who may: the change
    manager's override, the CAB's decision)."""
    change = _locked_change(change)
    round_ = (ApprovalRequest.objects.select_for_update()
              .filter(change=change, state__in=selectors.OPEN_ROUND)
              .order_by("-created_at", "-id").first())
    if round_ is None:
        raise _refuse("state", _("%(number)s has no approval round waiting for a "
                                 "decision.") % {"number": change.number},
                      code="no_open_round", error=Conflict)
    _decide(round_, change, approved=approved, reason=reason, overridden_by=actor)
    return round_


@transaction.atomic
@as_actor
def approval_override(*, actor: Any, change: Change, decision: str,
                      reason: str) -> ApprovalRequest:
    """The change manager approves or rejects the open round whatever the votes."""
    require_permission(actor, MANAGE)
    if decision not in (APPROVE, REJECT):
        raise _refuse("decision", _("Choose approve or reject."))
    text = _text(reason, "reason", _("Say why you override the approvers."))
    return override_round(actor=actor, change=change, approved=decision == APPROVE,
                          reason=text)


@transaction.atomic
@as_actor
def approvals_cancel(*, change: Change, reason: str = "") -> int:
    """Cancel the change's open rounds and their undecided tasks (the change left
    Authorize for Assess or was cancelled). Returns how many rounds."""
    return _cancel_open_rounds(change, reason or _("the change left authorisation"))


# --- Emergency changes approved after the fact ------------------------------------------

def _already_told(change: Change) -> bool:
    due = audit_value(change.retro_approval_due)
    entries = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Change), object_id=str(change.pk),
        changes__has_key=RETRO_NOTICE_KEY).values_list("changes", flat=True)
    return any(entry.get(RETRO_NOTICE_KEY, [None, None])[1] == due for entry in entries)


@transaction.atomic
@as_actor
def retro_overdue_flag(*, change: Change) -> bool:
    """Tell the change managers, once per due time, that an emergency change was not
    approved after the fact in time. The audit entry is the record of the notice."""
    change = _locked_change(change)
    if not change.retro_overdue or _already_told(change) or change.state == ChangeState.CANCELLED:
        return False
    audit_record(action=AuditAction.UPDATE, target=change,
                 changes={RETRO_NOTICE_KEY: [None, audit_value(change.retro_approval_due)]},
                 message=_("Approval after the fact overdue: change managers told"))
    due = timezone.localtime(change.retro_approval_due).strftime("%Y-%m-%d %H:%M")
    notify(selectors.change_managers(), kind="change.retro_overdue",
           subject=_("Emergency change %(number)s is still not approved") % {
               "number": change.number},
           body=_("It was to be approved after the fact by %(due)s.") % {"due": due},
           url=selectors.change_url(change))
    return True


def flag_overdue_retro() -> int:
    """The periodic sweep (``changes.tasks.flag_overdue_retro``): each overdue emergency
    change in its own transaction. Returns how many were flagged now."""
    overdue = (Change.objects.filter(retro_approval_due__lt=timezone.now(),
                                     authorized_at__isnull=True)
               .exclude(state=ChangeState.CANCELLED).order_by("retro_approval_due", "pk"))
    return sum(1 for change in overdue if retro_overdue_flag(change=change))


# --- Policies ---------------------------------------------------------------------------

POLICY_FIELDS = ("name", "order", "is_active", "change_types", "risk_levels", "rule",
                 "required_count", "cab", "allow_retrospective")
POLICY_RELATIONS = ("groups", "people")


def _policy_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - {*POLICY_FIELDS, *POLICY_RELATIONS}
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %(names)s") % {
            "names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in sorted(unknown)})
    cleaned = dict(values)
    for field, choices in (("change_types", ChangeType.values), ("risk_levels", RiskLevel.values)):
        if field in cleaned:
            given = list(cleaned[field] or [])
            wrong = [str(v) for v in given if v not in choices]
            if wrong:
                raise _refuse(field, _("Unknown: %(values)s. Choose from %(choices)s.") % {
                    "values": ", ".join(wrong), "choices": ", ".join(choices)})
            cleaned[field] = [v for v in choices if v in given]  # declared order, once
    return cleaned


def _check_policy(policy: ApprovalPolicy, groups: list[Team], people: list[Any]) -> None:
    problems: dict[str, list[str]] = {}
    if policy.rule == ApprovalRule.N_OF_M:
        if not policy.required_count or policy.required_count < 1:
            problems["required_count"] = [_("Say how many approvals are needed (N ≥ 1).")]
    else:
        policy.required_count = None  # only N of M uses it
    if not groups and not people:
        message = _("Name at least one approving team or person.")
        problems["groups"] = [message]
        problems["people"] = [message]
    inactive = [team.name for team in groups if not team.is_active]
    if inactive:
        problems["groups"] = [_("Inactive teams: %(names)s") % {"names": ", ".join(inactive)}]
    gone = [user.get_username() for user in people if not user.is_active]
    if gone:
        problems["people"] = [_("No longer active: %(names)s") % {"names": ", ".join(gone)}]
    if problems:
        raise DomainError(next(iter(problems.values()))[0], fields=problems)
    validated(policy)


def _relations_snapshot(groups: list[Team], people: list[Any]) -> dict[str, Any]:
    return {"groups": sorted(t.pk for t in groups), "people": sorted(u.pk for u in people)}


@transaction.atomic
@as_actor
def policy_create(*, actor: Any, **values: Any) -> ApprovalPolicy:
    require_permission(actor, MANAGE)
    cleaned = _policy_values(values)
    groups = list(cleaned.pop("groups", None) or [])
    people = list(cleaned.pop("people", None) or [])
    policy = ApprovalPolicy(**cleaned)
    _check_policy(policy, groups, people)
    policy.save()
    policy.groups.set(groups)
    policy.people.set(people)
    audit_record(action=AuditAction.CREATE, target=policy, changes=diff(
        {}, {**snapshot(policy, POLICY_FIELDS), **_relations_snapshot(groups, people)}))
    return policy


@transaction.atomic
@as_actor
def policy_update(*, actor: Any, policy: ApprovalPolicy, **changes: Any) -> ApprovalPolicy:
    require_permission(actor, MANAGE)
    cleaned = _policy_values(changes)
    policy = ApprovalPolicy.objects.select_for_update().get(pk=policy.pk)
    old_groups, old_people = list(policy.groups.all()), list(policy.people.all())
    groups = list(cleaned.pop("groups")) if "groups" in cleaned else old_groups
    people = list(cleaned.pop("people")) if "people" in cleaned else old_people
    before = {**snapshot(policy, POLICY_FIELDS), **_relations_snapshot(old_groups, old_people)}
    for name, value in cleaned.items():
        setattr(policy, name, value)
    _check_policy(policy, groups, people)
    policy.save()
    policy.groups.set(groups)
    policy.people.set(people)
    changed = diff(before, {**snapshot(policy, POLICY_FIELDS),
                            **_relations_snapshot(groups, people)})
    if changed:
        audit_record(action=AuditAction.UPDATE, target=policy, changes=changed)
    return policy


@transaction.atomic
@as_actor
def policy_delete(*, actor: Any, policy: ApprovalPolicy) -> None:
    """Rounds already raised keep the policy's name (their policy link is cleared)."""
    require_permission(actor, MANAGE)
    audit_record(action=AuditAction.DELETE, target=policy,
                 changes={"name": [policy.name, None]})
    policy.delete()
