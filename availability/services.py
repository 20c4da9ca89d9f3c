"""Writes of the availability app: outages recorded, edited and ended by hand,
maintenance windows, each service's target, and the outages that follow major incidents.

Every function is atomic, acts as ``actor``, checks the CMDB edit permission and writes
an audit entry. Overlaps: an outage recorded or edited by hand may not overlap another
outage of the same service (refused, naming the other one: edit that one instead).
Outages opened by major incidents are kept one per incident even when they overlap (two
major incidents on one service at once), and the calculation counts overlapping time
once."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission
from audit.context import as_actor, current_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from cmdb.models import ConfigurationItem
from incidents.models import OPEN_STATES, Incident, IncidentState
from itsm.errors import DomainError

from .models import TARGET_MAX, AvailabilityTarget, MaintenanceWindow, Outage

# Whoever may edit CIs manages their availability data (the asset manager role).
MANAGE = "cmdb.change_configurationitem"
OUTAGE_FIELDS = ("service", "started_at", "ended_at", "description", "source_incident")
OUTAGE_EDITABLE = ("started_at", "ended_at", "description")
WINDOW_FIELDS = ("service", "starts_at", "ends_at", "reason")
WINDOW_EDITABLE = ("starts_at", "ends_at", "reason")
DESCRIPTION_MAX = 2000
REASON_MAX = MaintenanceWindow._meta.get_field("reason").max_length
# An outage that ends the instant it started (declared and resolved at once) still ends
# after its start, as the table requires.
TARGET_PLACES = Decimal("0.001")  # as the column stores it
SMALLEST_OUTAGE = datetime.timedelta(microseconds=1)


def _refuse(field: str, message: str, code: str | None = None) -> NoReturn:
    raise DomainError(message, code=code, fields={field: [message]})


def _check_unknown(changes: dict[str, Any], editable: tuple[str, ...]) -> None:
    unknown = set(changes) - set(editable)
    if unknown:
        raise DomainError(_("These fields cannot be changed here: %(names)s") % {
            "names": ", ".join(sorted(unknown))},
            fields={name: [_("Not editable.")] for name in sorted(unknown)})


def _locked_service(service: Any) -> ConfigurationItem:
    """The business service, locked: writes for one service queue behind each other, so
    the overlap check cannot race."""
    if not isinstance(service, ConfigurationItem):
        _refuse("service", _("Choose a business service."))
    locked = (ConfigurationItem.objects.select_for_update(of=("self",))
              .select_related("ci_class")
              .filter(pk=service.pk).first())
    if locked is None:
        _refuse("service", _("This service no longer exists."))
    if not locked.ci_class.is_service:
        _refuse("service", _("%(name)s is not a business service (its class is %(cls)s).") % {
            "name": locked.name, "cls": locked.ci_class.name}, code="not_a_service")
    return locked


def _check_moment(value: Any, field: str, label: str, *, required: bool) -> None:
    if value is None:
        if required:
            _refuse(field, _("%(label)s: required.") % {"label": label})
        return
    if not isinstance(value, datetime.datetime):
        _refuse(field, _("%(label)s: enter a date and time.") % {"label": label})
    if timezone.is_naive(value):
        _refuse(field, _("%(label)s: the time needs a time zone.") % {"label": label})


def _clean_text(value: Any, field: str, limit: int, *, required: bool, missing: str) -> str:
    text = (value or "").strip()
    if required and not text:
        _refuse(field, missing)
    if len(text) > limit:
        _refuse(field, _("At most %(limit)d characters.") % {"limit": limit})
    return text


# --- Outages --------------------------------------------------------------------------

def _check_outage(outage: Outage, *, now: datetime.datetime) -> None:
    _check_moment(outage.started_at, "started_at", _("Start"), required=True)
    _check_moment(outage.ended_at, "ended_at", _("End"), required=False)
    if outage.started_at > now:
        _refuse("started_at", _("An outage cannot start in the future."))
    if outage.ended_at is not None:
        if outage.ended_at <= outage.started_at:
            _refuse("ended_at", _("The end must be after the start."), code="ends_before_start")
        if outage.ended_at > now:
            _refuse("ended_at", _("An outage cannot end in the future: leave the end empty "
                                  "while it goes on."))
    outage.description = _clean_text(outage.description, "description", DESCRIPTION_MAX,
                                      required=False, missing="")


def _refuse_overlap(outage: Outage) -> None:
    """Refuse a hand-recorded outage that overlaps another outage of its service."""
    others = Outage.objects.filter(service_id=outage.service_id).exclude(pk=outage.pk)
    if outage.ended_at is not None:
        others = others.filter(started_at__lt=outage.ended_at)
    clash = others.exclude(ended_at__lte=outage.started_at).order_by("started_at").first()
    if clash is None:
        return
    until = (timezone.localtime(clash.ended_at).strftime("%Y-%m-%d %H:%M")
             if clash.ended_at else _("ongoing"))
    message = _("It overlaps the outage from %(start)s to %(end)s: edit that one "
                "instead.") % {"start": timezone.localtime(clash.started_at).strftime(
                    "%Y-%m-%d %H:%M"), "end": until}
    raise DomainError(message, code="overlapping_outage",
                      fields={"started_at": [message], "ended_at": [message]})


def _creator(actor: Any) -> Any:
    return actor.pk if actor is not None else current_actor().user_id


@transaction.atomic
@as_actor
def outage_record(*, actor: Any, service: ConfigurationItem, started_at: datetime.datetime,
                  ended_at: datetime.datetime | None = None, description: str = "") -> Outage:
    """Record an outage by hand (``ended_at`` empty while it goes on)."""
    require_permission(actor, MANAGE)
    service = _locked_service(service)
    outage = Outage(service=service, started_at=started_at, ended_at=ended_at,
                    description=description, created_by_id=_creator(actor))
    _check_outage(outage, now=timezone.now())
    _refuse_overlap(outage)
    outage.save()
    audit_record(action=AuditAction.CREATE, target=outage,
                 changes=diff({}, snapshot(outage, OUTAGE_FIELDS)),
                 message=_("Outage of %(service)s recorded") % {"service": service.name})
    return outage


@transaction.atomic
@as_actor
def outage_update(*, actor: Any, outage: Outage, **changes: Any) -> Outage:
    """Correct an outage's start, end or description (an outage from a major incident
    too: its times are what the incident recorded, not always when the service fell)."""
    require_permission(actor, MANAGE)
    _check_unknown(changes, OUTAGE_EDITABLE)
    _locked_service(outage.service)
    outage = Outage.objects.select_for_update().get(pk=outage.pk)
    before = snapshot(outage, changes)
    for name, value in changes.items():
        setattr(outage, name, value)
    _check_outage(outage, now=timezone.now())
    _refuse_overlap(outage)
    changed = diff(before, snapshot(outage, changes))
    if changed:
        outage.save()
        audit_record(action=AuditAction.UPDATE, target=outage, changes=changed)
    return outage


@transaction.atomic
@as_actor
def outage_end(*, actor: Any, outage: Outage,
               ended_at: datetime.datetime | None = None) -> Outage:
    """End an ongoing outage (now, unless ``ended_at`` says when)."""
    require_permission(actor, MANAGE)
    locked = Outage.objects.select_for_update().get(pk=outage.pk)
    if locked.ended_at is not None:
        _refuse("ended_at", _("This outage has already ended."), code="already_ended")
    return outage_update(actor=actor, outage=locked,
                         ended_at=ended_at if ended_at is not None else timezone.now())


@transaction.atomic
@as_actor
def outage_delete(*, actor: Any, outage: Outage) -> None:
    """Remove an outage recorded by mistake. One from a major incident stays (correct
    its times instead): the incident is the record of what happened."""
    require_permission(actor, MANAGE)
    outage = Outage.objects.select_for_update(of=("self",)).select_related(
        "source_incident").get(pk=outage.pk)
    if outage.source_incident_id is not None:
        _refuse("source_incident", _("This outage comes from %(number)s: correct its times "
                                     "instead of removing it.") % {
                                         "number": outage.source_incident.number},
                code="from_incident")
    audit_record(action=AuditAction.DELETE, target=outage,
                 changes={name: [audit_value(value), None] for name, value in
                          snapshot(outage, OUTAGE_FIELDS).items()})
    outage.delete()


# --- Maintenance windows --------------------------------------------------------------

def _check_window(window: MaintenanceWindow) -> None:
    _check_moment(window.starts_at, "starts_at", _("Start"), required=True)
    _check_moment(window.ends_at, "ends_at", _("End"), required=True)
    if window.ends_at <= window.starts_at:
        _refuse("ends_at", _("The end must be after the start."), code="ends_before_start")
    window.reason = _clean_text(window.reason, "reason", REASON_MAX, required=True,
                                missing=_("Say what the maintenance is for."))


@transaction.atomic
@as_actor
def maintenance_window_create(*, actor: Any, service: ConfigurationItem,
                              starts_at: datetime.datetime, ends_at: datetime.datetime,
                              reason: str) -> MaintenanceWindow:
    """Plan (or record) a maintenance window. Windows may overlap: their union is what
    counts."""
    require_permission(actor, MANAGE)
    service = _locked_service(service)
    window = MaintenanceWindow(service=service, starts_at=starts_at, ends_at=ends_at,
                               reason=reason, created_by_id=_creator(actor))
    _check_window(window)
    window.save()
    audit_record(action=AuditAction.CREATE, target=window,
                 changes=diff({}, snapshot(window, WINDOW_FIELDS)),
                 message=_("Maintenance window of %(service)s added") % {
                     "service": service.name})
    return window


@transaction.atomic
@as_actor
def maintenance_window_update(*, actor: Any, window: MaintenanceWindow,
                              **changes: Any) -> MaintenanceWindow:
    require_permission(actor, MANAGE)
    _check_unknown(changes, WINDOW_EDITABLE)
    window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
    before = snapshot(window, changes)
    for name, value in changes.items():
        setattr(window, name, value)
    _check_window(window)
    changed = diff(before, snapshot(window, changes))
    if changed:
        window.save()
        audit_record(action=AuditAction.UPDATE, target=window, changes=changed)
    return window


@transaction.atomic
@as_actor
def maintenance_window_delete(*, actor: Any, window: MaintenanceWindow) -> None:
    require_permission(actor, MANAGE)
    window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
    audit_record(action=AuditAction.DELETE, target=window,
                 changes={name: [audit_value(value), None] for name, value in
                          snapshot(window, WINDOW_FIELDS).items()})
    window.delete()


# --- Targets --------------------------------------------------------------------------

def _target_value(value: Any) -> Decimal:
    try:
        percent = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        _refuse("target_percent", _("Enter a percentage, for example 99.5."))
    if not percent.is_finite() or percent <= 0 or percent > TARGET_MAX:
        _refuse("target_percent", _("The target must be above 0 and at most 100 (%)."),
                code="target_out_of_range")
    if percent.as_tuple().exponent < -3:  # type: ignore[operator]
        _refuse("target_percent", _("At most three decimal places."))
    return percent.quantize(TARGET_PLACES)


def percent_text(value: Decimal | None) -> str | None:
    """``99.5`` for 99.500, ``100`` for 100.000."""
    return None if value is None else f"{value.normalize():f}"


@transaction.atomic
@as_actor
def availability_target_set(*, actor: Any, service: ConfigurationItem,
                            target_percent: Any) -> AvailabilityTarget | None:
    """Set the service's monthly availability target in percent; None (or an empty
    value) removes it."""
    require_permission(actor, MANAGE)
    service = _locked_service(service)
    current = AvailabilityTarget.objects.filter(service=service).first()
    before = current.target_percent if current is not None else None
    if target_percent is None or str(target_percent).strip() == "":
        if current is not None:
            current.delete()
            audit_record(action=AuditAction.UPDATE, target=service,
                         changes={"availability_target": [percent_text(before), None]})
        return None
    percent = _target_value(target_percent)
    if current is None:
        current = AvailabilityTarget.objects.create(service=service, target_percent=percent)
    elif current.target_percent != percent:
        current.target_percent = percent
        current.save()
    if before != percent:
        audit_record(action=AuditAction.UPDATE, target=service,
                     changes={"availability_target": [percent_text(before),
                                                      percent_text(percent)]})
    return current


# --- Outages that follow major incidents ------------------------------------------------

def _open_outages(incident: Incident) -> list[Outage]:
    return list(Outage.objects.select_for_update().filter(source_incident=incident,
                                                          ended_at__isnull=True))


def _open_for(incident: Incident, at: datetime.datetime) -> None:
    service = incident.service
    if service is None or not service.ci_class.is_service:
        return
    if Outage.objects.filter(source_incident=incident, ended_at__isnull=True).exists():
        return
    outage = Outage.objects.create(
        service=service, started_at=at, source_incident=incident,
        description=f"{incident.number}: {incident.title}"[:DESCRIPTION_MAX],
        created_by_id=current_actor().user_id)
    audit_record(action=AuditAction.CREATE, target=outage,
                 changes=diff({}, snapshot(outage, OUTAGE_FIELDS)),
                 message=_("Outage opened by major incident %(number)s") % {
                     "number": incident.number})


def _end_open(incident: Incident, at: datetime.datetime, why: str) -> None:
    for outage in _open_outages(incident):
        outage.ended_at = max(at, outage.started_at + SMALLEST_OUTAGE)
        outage.save(update_fields=["ended_at", "updated_at"])
        audit_record(action=AuditAction.UPDATE, target=outage,
                     changes={"ended_at": [None, audit_value(outage.ended_at)]},
                     message=why)


def _reopen(incident: Incident) -> None:
    if _open_outages(incident):
        return
    latest = (Outage.objects.select_for_update().filter(source_incident=incident)
              .order_by("-started_at", "-id").first())
    if latest is None:
        _open_for(incident, incident.major_declared_at or timezone.now())
        return
    ended = latest.ended_at
    latest.ended_at = None
    latest.save(update_fields=["ended_at", "updated_at"])
    audit_record(action=AuditAction.UPDATE, target=latest,
                 changes={"ended_at": [audit_value(ended), None]},
                 message=_("Reopened with major incident %(number)s") % {
                     "number": incident.number})


@transaction.atomic
def outage_follow_incident(*, incident: Incident, event: str, details: dict[str, Any]) -> None:
    """Keep the outages of a major incident in step with it: declared major opens one
    (from the declaration), resolved, cancelled or stood down ends it, reopened reopens
    it, a change of service moves it. Idempotent: each step checks what is there."""
    now = timezone.now()
    if event == "updated":
        changes = details.get("changes") or {}
        if "is_major" in changes:
            if incident.is_major and incident.state in OPEN_STATES:
                _open_for(incident, incident.major_declared_at or now)
            elif not incident.is_major:
                _end_open(incident, now, _("Ended: %(number)s stood down as a major "
                                           "incident") % {"number": incident.number})
        elif "service" in changes and incident.is_major:
            _end_open(incident, now, _("Ended: %(number)s moved to another service") % {
                "number": incident.number})
            if incident.state in OPEN_STATES:
                _open_for(incident, now)
    elif event == "transitioned" and incident.is_major:
        source, target = details.get("from"), details.get("to")
        if target == IncidentState.RESOLVED:
            _end_open(incident, incident.resolved_at or now, _("Ended: %(number)s resolved")
                      % {"number": incident.number})
        elif target in (IncidentState.CANCELLED, IncidentState.CLOSED):
            _end_open(incident, incident.closed_at or now, _("Ended: %(number)s %(state)s") % {
                "number": incident.number, "state": incident.get_state_display().lower()})
        elif source == IncidentState.RESOLVED and target in OPEN_STATES:
            _reopen(incident)


def incident_observer(event: str, ticket: Any, details: dict[str, Any]) -> None:
    """The ticket observer (inside the transaction of the change it follows, so the
    outage commits or rolls back with it). Cheap for everything but major incidents."""
    if not isinstance(ticket, Incident):
        return
    if event == "updated" and not ({"is_major", "service"} & set(details.get("changes") or {})):
        return
    if event == "transitioned" and not ticket.is_major:
        return
    if event in ("updated", "transitioned"):
        outage_follow_incident(incident=ticket, event=event, details=details)
