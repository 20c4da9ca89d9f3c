"""Hierarchical escalation: telling people further up that an incident needs attention.

Levels (``Incident.escalation_level``):

* **0** – not escalated.
* **1** – the assignment group's manager has been told.
* **2** – the incident managers have been told (the active holders of the *Incident
  manager* role; when nobody holds it, the holders of its permission
  ``incidents.manage_major_incidents``, i.e. administrators, so an escalation is never
  lost). This is the last level.

A group without a manager (or with no group at all, or an inactive manager) goes straight
from 0 to 2: there is nobody to tell at level 1.

Functional escalation, moving the incident to another group, is a different thing: it is
``incidents.services.incident_assign`` (counted in ``reassignment_count``, audited).

The contract for callers, including the SLA engine
---------------------------------------------------
``incident_escalate(*, actor, incident, reason, source="manual", to_level=None)``

* ``actor``: the person escalating (needs desk access), or ``None`` for the system (the
  SLA engine, an automation). The audit entry and the work note name the current audit
  actor, e.g. "system (sla.tasks.…)" inside a task.
* ``reason``: required, at most 500 characters. It is shown on the timeline, in the
  audit entry and in the notification.
* ``source``: ``"manual"`` (a person in the desk or the API) or ``"sla"`` (the SLA
  engine). It is recorded in the audit entry.
* ``to_level``: the level the caller wants the incident to have reached (1 or 2). When
  the incident is already at or above it, nothing happens and the incident is returned
  unchanged: no audit entry, no work note, no notification. This is what makes a
  redelivered SLA task safe: the task passes the level its threshold stands for, e.g.
  ``to_level=1`` at the warning and ``to_level=2`` at the breach, and a second delivery is
  a no-op. Without ``to_level`` the incident moves one level up. With it, it moves
  straight to that level and everyone on the levels it passes is told.
* Refusals are ``DomainError`` naming the field: ``reason`` (missing or too long),
  ``source`` (unknown), ``to_level`` (not 1 or 2), ``state`` (code ``not_open``: the
  incident is resolved, closed or cancelled) and ``escalation_level`` (code
  ``max_escalation``: already at the last level). A task should treat ``not_open`` as
  "nothing to do". ``NotPermitted`` when a person without desk access tries.
* Everything happens in one transaction under a row lock on the incident: the level and
  ``escalated_at`` (the time of the latest escalation), the audit entry (the level before
  and after, the source, the reason and who was told), a work note on the timeline, and
  the inbox notifications (their emails leave after the commit).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import ROLES_BY_KEY
from accounts.services import require_permission
from audit.context import as_actor
from audit.models import AuditAction, AuditEntry
from audit.services import audit_record
from itsm.errors import DomainError
from notifications.services import notify
from tickets import services as tickets

from .models import OPEN_STATES, Incident

User = get_user_model()

MAX_LEVEL = 2
REASON_MAX_LENGTH = 500
INCIDENT_MANAGER_PERMISSION = "incidents.manage_major_incidents"


class EscalationLevel(models.IntegerChoices):
    NONE = 0, gettext_lazy("Not escalated")
    GROUP_MANAGER = 1, gettext_lazy("Group manager told")
    INCIDENT_MANAGER = 2, gettext_lazy("Incident manager told")


class EscalationSource(models.TextChoices):
    MANUAL = "manual", gettext_lazy("Manual")
    SLA = "sla", gettext_lazy("SLA")


@dataclass(frozen=True)
class EscalationStep:
    """One escalation as the audit log recorded it, for the detail page."""

    at: datetime.datetime
    by: str
    from_level: int
    to_level: int
    source: str
    reason: str
    told: list[str] = field(default_factory=list)

    @property
    def level_label(self) -> str:
        return str(EscalationLevel(self.to_level).label)


def person_name(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return profile.name if profile is not None else user.get_username()


def incident_managers() -> QuerySet:
    """Who level 2 tells: active holders of the Incident manager role; when nobody holds
    it, active holders of its permission (through a group or directly) and superusers."""
    people = User.objects.filter(is_active=True).select_related("profile")
    holders = people.filter(groups__name=ROLES_BY_KEY["incident_manager"].name).distinct()
    if holders.exists():
        return holders.order_by("pk")
    app_label, codename = INCIDENT_MANAGER_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label,
                                           codename=codename).first()
    return people.filter(Q(groups__permissions=permission) | Q(user_permissions=permission)
                         | Q(is_superuser=True)).distinct().order_by("pk")


def group_manager(incident: Incident) -> Any | None:
    """Who level 1 tells: the assignment group's manager, if the group has an active one."""
    group = incident.assignment_group
    manager = group.manager if group is not None else None
    return manager if manager is not None and manager.is_active else None


def _validate(reason: str, source: str, to_level: int | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why the incident is being escalated."),
                          fields={"reason": [_("A reason is required.")]})
    if len(reason) > REASON_MAX_LENGTH:
        raise DomainError(_("The reason is too long."), fields={"reason": [
            _("At most %(n)d characters.") % {"n": REASON_MAX_LENGTH}]})
    if source not in EscalationSource.values:
        raise DomainError(_("Unknown escalation source “%(source)s”.") % {"source": source},
                          fields={"source": [_("One of: %(values)s.") % {
                              "values": ", ".join(EscalationSource.values)}]})
    if to_level is not None and (isinstance(to_level, bool) or to_level not in range(
            1, MAX_LEVEL + 1)):
        raise DomainError(_("Escalation levels are 1 (group manager) and 2 (incident "
                            "manager)."), fields={"to_level": [_("1 or 2.")]})
    return reason


@transaction.atomic
@as_actor
def incident_escalate(*, actor: Any, incident: Incident, reason: str,
                      source: str = EscalationSource.MANUAL,
                      to_level: int | None = None) -> Incident:
    """Move the incident up the escalation levels and tell the people there. See the
    module's docstring for the contract (``to_level`` makes it idempotent)."""
    require_permission(actor, "accounts.access_desk")
    reason = _validate(reason, source, to_level)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    before = incident.escalation_level
    if to_level is not None and before >= to_level:
        return incident  # already there: a redelivered request changes nothing
    if incident.state not in OPEN_STATES:
        raise DomainError(
            _("Only open incidents can be escalated: %(number)s is %(state)s.") % {
                "number": incident.number, "state": incident.get_state_display()},
            code="not_open", fields={"state": [_("The incident is %(state)s.") % {
                "state": incident.get_state_display()}]})
    if before >= MAX_LEVEL:
        raise DomainError(
            _("%(number)s is already escalated to the incident manager, the last level.")
            % {"number": incident.number}, code="max_escalation",
            fields={"escalation_level": [_("Already at the last level (2).")]})

    target = to_level or before + 1
    manager = group_manager(incident)
    told: list[Any] = []
    if before < EscalationLevel.GROUP_MANAGER <= target:
        if manager is None:
            target = MAX_LEVEL  # nobody to tell at level 1: straight to the incident manager
        else:
            told.append(manager)
    if target >= EscalationLevel.INCIDENT_MANAGER:
        told.extend(incident_managers())
    # Nobody is told about their own escalation; each person once.
    recipients = list({user.pk: user for user in told
                       if actor is None or user.pk != actor.pk}.values())

    previous_at = incident.escalated_at
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(escalation_level=target, escalated_at=now,
                                                   updated_at=now)
    incident.refresh_from_db()
    level_label = str(EscalationLevel(target).label)
    audit_record(
        action=AuditAction.UPDATE, target=incident,
        changes={
            "escalation_level": [before, target],
            "escalated_at": [previous_at.isoformat() if previous_at else None,
                             now.isoformat()],
            "escalation_source": [None, source],
            "escalation_reason": [None, reason],
            "escalation_told": [None, [{"id": u.pk, "repr": person_name(u)} for u in recipients]],
        },
        message=_("Escalated to level %(level)d (%(label)s, %(source)s): %(reason)s") % {
            "level": target, "label": level_label, "source": source, "reason": reason})
    names = ", ".join(person_name(user) for user in recipients) or _("nobody")
    tickets.ticket_comment(
        ticket=incident, actor=actor, internal=True,
        body=_("Escalated to level %(level)d: %(label)s. Told: %(names)s.\nReason: "
               "%(reason)s") % {"level": target, "label": level_label.lower(),
                                "names": names, "reason": reason})
    notify(recipients, kind="incident.escalated",
           subject=_("%(number)s escalated to you: %(title)s") % {
               "number": incident.number, "title": incident.title},
           body=_("%(number)s (P%(priority)d, %(group)s) was escalated to level "
                  "%(level)d.\nReason: %(reason)s") % {
               "number": incident.number, "priority": incident.priority,
               "group": incident.assignment_group.name if incident.assignment_group_id
               else _("no group"), "level": target, "reason": reason},
           url=reverse("incidents:detail", kwargs={"key": incident.number}))
    return incident


def escalation_history(incident: Incident) -> list[EscalationStep]:
    """The incident's escalations, oldest first, from its audit entries (one query; none
    when it was never escalated)."""
    if not incident.escalation_level:
        return []
    entries = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), object_id=str(incident.pk),
        changes__has_key="escalation_level").select_related("actor__profile").order_by(
        "at", "id")
    steps = []
    for entry in entries:
        changes = entry.changes

        def after(key: str, changes: dict = changes) -> Any:
            value = changes.get(key)
            return value[1] if isinstance(value, list) and len(value) == 2 else None

        levels = changes.get("escalation_level") or [0, 0]
        steps.append(EscalationStep(
            at=entry.at, by=person_name(entry.actor) if entry.actor else entry.actor_label,
            from_level=levels[0], to_level=levels[1],
            source=after("escalation_source") or "", reason=after("escalation_reason") or "",
            told=[person.get("repr", "") for person in after("escalation_told") or []
                  if isinstance(person, dict)]))
    return steps
