"""CAB meetings: create one for a date range, build its agenda from the changes awaiting
authorisation planned in that range (and those their policy sends to the CAB), add and
remove items, record a decision per change (approved or rejected at the CAB overrides
the change's open approval round), keep the minutes, mark the meeting held.

Services: atomic, acting as ``actor``, audited. Creating a meeting and shaping its agenda
need *manage changes*; decisions, minutes and holding need the chair or a change
manager."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from itsm.errors import Conflict, DomainError, NotPermitted

from . import approval_selectors as selectors
from . import approvals
from .models import (
    CabAgendaItem,
    CabDecision,
    CabMeeting,
    CabMeetingStatus,
    Change,
    ChangeState,
)

MANAGE = selectors.MANAGE
MEETING_FIELDS = ("title", "starts_at", "ends_at", "location", "agenda_from", "agenda_to",
                  "chair")
ORDER_STEP = 10
NOTES_MAX = 5000


def _refuse(field: str, message: str, *, code: str | None = None,
            error: type[DomainError] = DomainError) -> DomainError:
    return error(message, code=code, fields={field: [message]})


def _check_meeting(values: dict[str, Any]) -> None:
    problems: dict[str, list[str]] = {}
    if not (values.get("title") or "").strip():
        problems["title"] = [_("Give the meeting a title.")]
    for name in ("starts_at", "ends_at", "agenda_from", "agenda_to"):
        if not isinstance(values.get(name), datetime.datetime):
            problems[name] = [_("Required.")]
    if not problems:
        if values["ends_at"] <= values["starts_at"]:
            problems["ends_at"] = [_("The meeting must end after it starts.")]
        if values["agenda_to"] <= values["agenda_from"]:
            problems["agenda_to"] = [_("The end of the range must be after its start.")]
    chair = values.get("chair")
    if chair is not None and not (chair.is_active and (
            chair.has_perm(MANAGE) or chair.has_perm("changes.approve_change"))):
        problems["chair"] = [_("The chair must be an active change manager or CAB member.")]
    if problems:
        raise DomainError(next(iter(problems.values()))[0], fields=problems)


def _locked(meeting: CabMeeting) -> CabMeeting:
    return CabMeeting.objects.select_for_update().get(pk=meeting.pk)


def _require_planned(meeting: CabMeeting) -> None:
    if meeting.status != CabMeetingStatus.PLANNED:
        raise _refuse("status", _("The meeting is %(status)s: its agenda is closed.") % {
            "status": meeting.get_status_display().lower()}, code="meeting_closed",
            error=Conflict)


def _require_runner(actor: Any, meeting: CabMeeting) -> None:
    if actor is not None and not selectors.can_run_meeting(actor, meeting):
        raise NotPermitted(_("Only the chair or a change manager can do this."))


@transaction.atomic
@as_actor
def cab_meeting_create(*, actor: Any, title: str, starts_at: datetime.datetime,
                       ends_at: datetime.datetime, agenda_from: datetime.datetime,
                       agenda_to: datetime.datetime, location: str = "",
                       chair: Any = None) -> CabMeeting:
    require_permission(actor, MANAGE)
    values = {"title": title, "starts_at": starts_at, "ends_at": ends_at,
              "agenda_from": agenda_from, "agenda_to": agenda_to, "chair": chair}
    _check_meeting(values)
    meeting = CabMeeting(title=title.strip(), starts_at=starts_at, ends_at=ends_at,
                         agenda_from=agenda_from, agenda_to=agenda_to,
                         location=(location or "").strip(), chair=chair, created_by=actor)
    validated(meeting)
    meeting.save()
    audit_record(action=AuditAction.CREATE, target=meeting,
                 changes=diff({}, snapshot(meeting, MEETING_FIELDS)))
    return meeting


@transaction.atomic
@as_actor
def cab_meeting_update(*, actor: Any, meeting: CabMeeting, **changes: Any) -> CabMeeting:
    require_permission(actor, MANAGE)
    unknown = set(changes) - set(MEETING_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %(names)s") % {
            "names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in sorted(unknown)})
    meeting = _locked(meeting)
    _require_planned(meeting)
    values = {name: getattr(meeting, name) for name in MEETING_FIELDS}
    values.update(changes)
    _check_meeting(values)
    before = snapshot(meeting, MEETING_FIELDS)
    for name, value in changes.items():
        setattr(meeting, name, value.strip() if isinstance(value, str) else value)
    validated(meeting)
    changed = diff(before, snapshot(meeting, MEETING_FIELDS))
    if changed:
        meeting.save()
        audit_record(action=AuditAction.UPDATE, target=meeting, changes=changed)
    return meeting


def _next_order(meeting: CabMeeting) -> int:
    last = meeting.items.aggregate(last=Max("order"))["last"]
    return (last or 0) + ORDER_STEP


@transaction.atomic
@as_actor
def cab_agenda_build(*, actor: Any, meeting: CabMeeting) -> list[CabAgendaItem]:
    """Add every change awaiting authorisation planned to start in the meeting's range,
    and those whose policy asks for a CAB decision, that are not on the agenda yet, in
    order of planned start. Returns the items added (none when run again)."""
    require_permission(actor, MANAGE)
    meeting = _locked(meeting)
    _require_planned(meeting)
    in_range = Q(planned_start__gte=meeting.agenda_from, planned_start__lt=meeting.agenda_to)
    changes = list(Change.objects.filter(state=ChangeState.AUTHORIZE)
                   .filter(in_range | Q(cab_required=True))
                   .exclude(cab_items__meeting=meeting)
                   .order_by(F("planned_start").asc(nulls_last=True), "pk"))
    order = _next_order(meeting)
    items = []
    for change in changes:
        items.append(CabAgendaItem(meeting=meeting, change=change, order=order))
        order += ORDER_STEP
    CabAgendaItem.objects.bulk_create(items)
    if items:
        audit_record(action=AuditAction.UPDATE, target=meeting,
                     changes={"agenda": [None, [c.number for c in changes]]},
                     message=_("Agenda built: %(count)d changes added") % {"count": len(items)})
    return list(meeting.items.filter(change__in=changes).select_related("change")
                .order_by("order", "id"))


@transaction.atomic
@as_actor
def cab_item_add(*, actor: Any, meeting: CabMeeting, change: Change) -> CabAgendaItem:
    require_permission(actor, MANAGE)
    meeting = _locked(meeting)
    _require_planned(meeting)
    if not change.is_open:
        raise _refuse("change", _("%(number)s is %(state)s.") % {
            "number": change.number, "state": change.get_state_display().lower()})
    if meeting.items.filter(change=change).exists():
        raise _refuse("change", _("%(number)s is already on the agenda.") % {
            "number": change.number}, code="already_on_agenda", error=Conflict)
    item = CabAgendaItem.objects.create(meeting=meeting, change=change,
                                        order=_next_order(meeting))
    audit_record(action=AuditAction.UPDATE, target=meeting,
                 changes={"agenda": [None, {"added": change.number}]})
    return item


@transaction.atomic
@as_actor
def cab_item_remove(*, actor: Any, item: CabAgendaItem) -> None:
    require_permission(actor, MANAGE)
    item = CabAgendaItem.objects.select_for_update().select_related("meeting", "change").get(
        pk=item.pk)
    _require_planned(item.meeting)
    if item.decision != CabDecision.PENDING:
        raise _refuse("decision", _("A decision was recorded for %(number)s: it stays on the "
                                    "agenda.") % {"number": item.change.number},
                      code="decided", error=Conflict)
    audit_record(action=AuditAction.UPDATE, target=item.meeting,
                 changes={"agenda": [{"removed": item.change.number}, None]})
    item.delete()


@transaction.atomic
@as_actor
def cab_record_decision(*, actor: Any, item: CabAgendaItem, decision: str,
                        notes: str = "") -> CabAgendaItem:
    """The CAB's decision on one change. Approved or rejected overrides the change's open
    approval round (by the chair or change manager recording it); deferred or more
    information needed is recorded only."""
    item = CabAgendaItem.objects.select_for_update().select_related("meeting", "change").get(
        pk=item.pk)
    meeting = item.meeting
    _require_runner(actor, meeting)
    if meeting.status == CabMeetingStatus.CANCELLED:
        raise _refuse("status", _("The meeting was cancelled."), code="meeting_closed",
                      error=Conflict)
    choices = [c for c in CabDecision.values if c != CabDecision.PENDING]
    if decision not in choices:
        raise _refuse("decision", _("Choose approved, rejected, deferred or more "
                                    "information needed."))
    if item.decision in (CabDecision.APPROVED, CabDecision.REJECTED):
        raise _refuse("decision", _("The CAB already decided %(number)s (%(decision)s).") % {
            "number": item.change.number, "decision": item.get_decision_display().lower()},
            code="already_decided", error=Conflict)
    text = (notes or "").strip()
    if len(text) > NOTES_MAX:
        raise _refuse("notes", _("At most %(limit)d characters.") % {"limit": NOTES_MAX})
    if decision in (CabDecision.REJECTED, CabDecision.INFO_REQUESTED) and not text:
        raise _refuse("notes", _("Say why, for the record and for the requester."))
    if decision in (CabDecision.APPROVED, CabDecision.REJECTED):
        if selectors.open_round(item.change) is not None:
            approvals.override_round(
                actor=actor, change=item.change, approved=decision == CabDecision.APPROVED,
                reason=_("CAB %(meeting)s: %(notes)s") % {
                    "meeting": meeting, "notes": text or _("approved")})
        else:
            approvals._note(item.change, _("CAB %(meeting)s: %(decision)s. %(notes)s") % {
                "meeting": meeting, "decision": CabDecision(decision).label, "notes": text})
    before = snapshot(item, ("decision", "notes"))
    item.decision = decision
    item.notes = text
    item.decided_at = timezone.now()
    item.save(update_fields=["decision", "notes", "decided_at"])
    audit_record(action=AuditAction.UPDATE, target=meeting,
                 changes={"decision": [None, {"change": item.change.number,
                                              **diff(before, snapshot(item, before))}]},
                 message=_("CAB decision on %(number)s") % {"number": item.change.number})
    return item


@transaction.atomic
@as_actor
def cab_minutes_save(*, actor: Any, meeting: CabMeeting, minutes: str) -> CabMeeting:
    meeting = _locked(meeting)
    _require_runner(actor, meeting)
    text = (minutes or "").strip()
    if text == meeting.minutes:
        return meeting
    before = meeting.minutes
    meeting.minutes = text
    meeting.save(update_fields=["minutes"])
    audit_record(action=AuditAction.UPDATE, target=meeting,
                 changes={"minutes": [audit_value(before[:500]), text[:500]]})
    return meeting


@transaction.atomic
@as_actor
def cab_meeting_hold(*, actor: Any, meeting: CabMeeting) -> CabMeeting:
    """Mark the meeting held (the agenda and decisions are then final)."""
    meeting = _locked(meeting)
    _require_runner(actor, meeting)
    _require_planned(meeting)
    meeting.status = CabMeetingStatus.HELD
    meeting.save(update_fields=["status"])
    audit_record(action=AuditAction.UPDATE, target=meeting,
                 changes={"status": [CabMeetingStatus.PLANNED, CabMeetingStatus.HELD]})
    return meeting
