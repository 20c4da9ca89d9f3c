"""The one code path that changes a ticket: create, update, transition, comment, attach,
watch. Each validates, writes, records the activity and the audit entry, and queues side
effects to run only after the transaction commits."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import validated
from audit.context import as_actor, current_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from itsm.errors import Conflict, DomainError, NotPermitted

from .models import Activity, ActivityKind, Attachment, Ticket, Watcher
from .numbering import ticket_number_next

T = TypeVar("T", bound=Ticket)

# Side-effect hooks (notifications, SLA timers…) registered by later apps. Each receives
# (event, ticket, details) after the transaction that caused it commits. ``details`` always
# holds ``actor_id``: who acted (None for the system), read while the service runs because
# the acting context is gone by the time the commit hooks run.
TicketHook = Callable[[str, Ticket, dict[str, Any]], None]
_hooks: list[TicketHook] = []


# Observers (SLA timers) receive the same events inside the transaction, as they happen:
# what they write commits or rolls back with the change that caused it.
_observers: list[TicketHook] = []


def register_ticket_hook(hook: TicketHook) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


def register_ticket_observer(observer: TicketHook) -> None:
    if observer not in _observers:
        _observers.append(observer)


def ticket_event(event: str, ticket: Ticket, details: dict[str, Any]) -> None:
    """Tell observers now and hooks after the commit. The services here call it; a
    practice's service that changes a ticket's fields without them (a priority set by
    hand) calls it too."""
    details = {**details, "actor_id": current_actor().user_id}
    for observer in list(_observers):
        observer(event, ticket, details)
    for hook in list(_hooks):
        transaction.on_commit(lambda hook=hook: hook(event, ticket, details))


# --- Activity -------------------------------------------------------------------------

def _activity(ticket: Ticket, kind: str, *, body: str = "", changes: dict | None = None,
              public: bool = False) -> Activity:
    actor = current_actor()
    return Activity.objects.create(
        content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk,
        kind=kind, public=public, author_id=actor.user_id, author_label=actor.label,
        body=body, changes=changes or {},
    )


def _require_visible(ticket: Ticket, actor: Any) -> None:
    if actor is not None and not ticket.is_visible_to(actor):
        raise NotPermitted(_("You cannot see this ticket."))


def _is_desk(actor: Any) -> bool:
    return actor is None or actor.has_perm("accounts.access_desk")


# --- Create, update, transition -------------------------------------------------------

# No savepoint of its own: a failure rolls back the caller's transaction with it (every
# caller lets the error out), and a create saves two round trips.
@transaction.atomic(savepoint=False)
@as_actor
def ticket_create(*, model: type[T], actor: Any, audit_message: str = "",
                  **fields: Any) -> T:
    """Create a ticket of ``model`` in its initial state: number, audit entry (with
    ``audit_message``, e.g. how it was routed) and the "Opened" activity."""
    fields.setdefault("requester", actor)
    if actor is not None and fields["requester"] != actor and not _is_desk(actor):
        raise NotPermitted(_("You can only raise tickets for yourself."))
    ticket = model(**fields)
    ticket.state = model.workflow.initial
    if actor is not None and actor != ticket.requester:
        ticket.opened_by = actor
    # Validate first, draw the number last: from the draw to the commit the number row
    # is locked, and every other create of this type waits (bench/incidents.py). Related
    # rows the caller read from the database are not looked up again (the foreign keys
    # still hold at commit).
    validated(ticket, exclude=["number", *_loaded_relations(ticket)])
    ticket.number = ticket_number_next(model.NUMBER_PREFIX)
    ticket.save()
    audit_record(action=AuditAction.CREATE, target=ticket,
                 changes=diff({}, snapshot(ticket, ("number", "state", *model.EDITABLE_FIELDS))),
                 message=audit_message)
    _activity(ticket, ActivityKind.SYSTEM, body=_("Opened"), public=True)
    ticket_event("created", ticket, {})
    return ticket


def _loaded_relations(ticket: Ticket) -> list[str]:
    """Foreign keys of ``ticket`` set to rows read from the database."""
    names = []
    for field in ticket._meta.concrete_fields:
        if field.many_to_one and field.is_cached(ticket):
            related = field.get_cached_value(ticket)
            if related is not None and not related._state.adding and related.pk is not None:
                names.append(field.name)
    return names


@transaction.atomic
@as_actor
def ticket_update(*, ticket: T, actor: Any, **changes: Any) -> T:
    model = type(ticket)
    unknown = set(changes) - set(model.EDITABLE_FIELDS)
    if unknown:
        raise DomainError(
            _("These fields cannot be changed here: %(names)s")
            % {"names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in unknown},
        )
    if not _is_desk(actor):
        raise NotPermitted(_("Only the service desk can edit tickets."))
    ticket = model.objects.select_for_update().get(pk=ticket.pk)
    before = snapshot(ticket, changes)
    for name, value in changes.items():
        setattr(ticket, name, value)
    validated(ticket)
    changed = diff(before, snapshot(ticket, changes))
    if changed:
        ticket.save()
        audit_record(action=AuditAction.UPDATE, target=ticket, changes=changed)
        _activity(ticket, ActivityKind.FIELD_CHANGE, changes=changed)
        ticket_event("updated", ticket, {"changes": changed})
    return ticket


@transaction.atomic
@as_actor
def ticket_transition(
    *, ticket: T, to_state: str, actor: Any, note: str = "", **values: Any
) -> T:
    """Move ``ticket`` to ``to_state`` as the declared workflow allows. ``values`` are
    fields set with the move (a resolution code, a hold reason) and seen by its guards."""
    model = type(ticket)
    ticket = model.objects.select_for_update().get(pk=ticket.pk)
    _require_visible(ticket, actor)
    transition = model.workflow.check(ticket, to_state, actor, values)
    field_names = [*values, "state", *transition.stamps]
    before = snapshot(ticket, field_names)
    for name, value in values.items():
        setattr(ticket, name, value)
    ticket.state = to_state
    now = timezone.now()
    for stamp in transition.stamps:
        setattr(ticket, stamp, now)
    validated(ticket)
    ticket.save()
    changed = diff(before, snapshot(ticket, field_names))
    audit_record(action=AuditAction.TRANSITION, target=ticket, changes=changed,
                 message=transition.label)
    _activity(ticket, ActivityKind.FIELD_CHANGE, body=note, changes=changed, public=True)
    ticket_event("transitioned", ticket, {"from": transition.source, "to": transition.target})
    return ticket


# --- Comments and work notes ----------------------------------------------------------

@transaction.atomic
@as_actor
def ticket_comment(*, ticket: Ticket, actor: Any, body: str, internal: bool = False) -> Activity:
    body = body.strip()
    if not body:
        raise DomainError(_("Write something first."), fields={"body": [_("Required.")]})
    _require_visible(ticket, actor)
    if internal and not _is_desk(actor):
        raise NotPermitted(_("Only the service desk can write work notes."))
    kind = ActivityKind.WORK_NOTE if internal else ActivityKind.COMMENT
    entry = _activity(ticket, kind, body=body, public=not internal)
    audit_record(action=AuditAction.UPDATE, target=ticket,
                 changes={kind: [None, body[:500]]})
    ticket_event("commented", ticket, {"activity_id": entry.pk, "internal": internal})
    return entry


def ticket_activity_for(ticket: Ticket, user: Any) -> list[Activity]:
    """The stream as ``user`` may see it: requesters see only public entries."""
    entries = Activity.objects.filter(
        content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk
    ).select_related("author", "author__profile")
    if not _is_desk(user):
        entries = entries.filter(public=True)
    return list(entries)


# --- Attachments ----------------------------------------------------------------------

def _mime_type(upload: UploadedFile) -> str:
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    guessed = mimetypes.guess_type(upload.name or "")[0]
    allowed = settings.ATTACHMENT_ALLOWED_TYPES
    # Trust the name's type over the browser's when they disagree: it is what a
    # downloader's system will open the file as.
    mime = guessed or declared or "application/octet-stream"
    if mime not in allowed:
        raise DomainError(
            _("Files of type %(type)s cannot be attached.") % {"type": mime},
            code="unsupported_type", fields={"file": [_("This type of file is not allowed.")]},
        )
    return mime


@transaction.atomic
@as_actor
def attachment_add(*, ticket: Ticket, actor: Any, upload: UploadedFile) -> Attachment:
    _require_visible(ticket, actor)
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise DomainError(
            _("The file is larger than the %(limit)s limit.") % {"limit": filesizeformat(limit)},
            code="too_large", fields={"file": [_("File too large.")]},
        )
    if upload.size == 0:
        raise DomainError(_("The file is empty."), fields={"file": [_("File is empty.")]})
    mime = _mime_type(upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    actor_now = current_actor()
    attachment = Attachment(
        content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk,
        filename=(upload.name or "file").rsplit("/", 1)[-1][:255], mime_type=mime,
        size=upload.size, sha256=digest.hexdigest(), uploaded_by_id=actor_now.user_id,
    )
    attachment.file.save(attachment.filename, upload, save=False)
    # If the row cannot be written, do not leave the stored file behind.
    name = attachment.file.name
    try:
        attachment.save()
    except Exception:
        attachment.file.storage.delete(name)
        raise
    audit_record(action=AuditAction.UPDATE, target=ticket,
                 changes={"attachments": [None, {"added": attachment.filename,
                                                 "size": attachment.size}]})
    _activity(ticket, ActivityKind.SYSTEM, body=_("Attached %(name)s") % {
        "name": attachment.filename}, public=True)
    return attachment


def attachment_can_download(attachment: Attachment, user: Any) -> bool:
    target = attachment.target
    return target is not None and target.is_visible_to(user)


# --- Watchers -------------------------------------------------------------------------

@transaction.atomic
@as_actor
def watcher_add(*, ticket: Ticket, actor: Any, user: Any) -> Watcher:
    if actor is not None and actor != user and not _is_desk(actor):
        raise NotPermitted(_("Only the service desk can add other watchers."))
    if actor is not None and actor == user and not _is_desk(actor):
        _require_visible(ticket, actor)
    try:
        with transaction.atomic():
            watcher = Watcher.objects.create(
                content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk,
                user=user,
            )
    except IntegrityError as error:
        raise Conflict(_("%(name)s is already watching.") % {"name": user.get_username()},
                       fields={"user": [_("Already watching.")]}) from error
    audit_record(action=AuditAction.UPDATE, target=ticket,
                 changes={"watchers": [None, audit_value(user)]})
    return watcher


@transaction.atomic
@as_actor
def watcher_remove(*, ticket: Ticket, actor: Any, user: Any) -> None:
    if actor is not None and actor != user and not _is_desk(actor):
        raise NotPermitted(_("Only the service desk can remove other watchers."))
    deleted, _rows = Watcher.objects.filter(
        content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk, user=user
    ).delete()
    if not deleted:
        raise DomainError(_("%(name)s is not watching.") % {"name": user.get_username()},
                          fields={"user": [_("Not watching.")]})
    audit_record(action=AuditAction.UPDATE, target=ticket,
                 changes={"watchers": [audit_value(user), None]})
