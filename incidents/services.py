"""The one code path that changes an incident: create (priority from the matrix, routing),
assign (counting reassignments, stamping acknowledgement), override priority (with a
reason), move along the lifecycle (hold reasons, resolution, the caller's reopen window),
respond, and close resolved incidents automatically."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, TeamMembership
from accounts.selectors import service_desk_team
from accounts.services import require_permission
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record
from itsm.config_cache import cached_config
from itsm.errors import DomainError, NotPermitted
from tickets import services as tickets

from .models import (
    OPEN_STATES,
    Category,
    Incident,
    IncidentSettings,
    IncidentState,
    PriorityMatrixEntry,
    RoutingRule,
)

# Kept in memory per process (itsm/config_cache.py); IncidentsConfig.ready connects the
# signals that mark them changed.
CATEGORY_CONFIG = "incidents.categories"
MATRIX_CONFIG = "incidents.priority_matrix"
ROUTING_CONFIG = "incidents.routing_rules"
# ITIL's default, used when the matrix table lacks a cell.
DEFAULT_MATRIX = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 2, (2, 2): 3, (2, 3): 4,
                  (3, 1): 3, (3, 2): 4, (3, 3): 4}


def incident_settings() -> IncidentSettings:
    return IncidentSettings.objects.first() or IncidentSettings()


def within_reopen_window(incident: Incident) -> bool:
    """May the caller still reopen this resolved incident (the configured window)?"""
    window = datetime.timedelta(days=incident_settings().reopen_window_days)
    return incident.resolved_at is None or timezone.now() - incident.resolved_at <= window


def priority_for(impact: int, urgency: int) -> int:
    if (impact, urgency) not in DEFAULT_MATRIX:
        raise DomainError(_("Impact and urgency go from 1 (high) to 3 (low)."),
                          fields={"impact": [_("1, 2 or 3.")], "urgency": [_("1, 2 or 3.")]})
    return priority_matrix().get((impact, urgency), DEFAULT_MATRIX[(impact, urgency)])


def priority_matrix() -> dict[tuple[int, int], int]:
    """The administrators' matrix cells, (impact, urgency) → priority."""
    return cached_config(MATRIX_CONFIG, lambda: {
        (entry.impact, entry.urgency): entry.priority
        for entry in PriorityMatrixEntry.objects.all()})


def active_categories() -> dict[int, Category]:
    """The active categories and subcategories by id (with their parents), from memory.
    Shared between requests: read them, never change them."""
    return cached_config(CATEGORY_CONFIG, lambda: {
        category.pk: category
        for category in Category.objects.filter(is_active=True).select_related("parent")})


# --- Routing --------------------------------------------------------------------------

def _rule_matches(rule: RoutingRule, incident: Incident) -> bool:
    if rule.category_id is not None and rule.category_id not in (incident.category_id,
                                                                 incident.subcategory_id):
        return False
    if rule.service_id is not None and rule.service_id != incident.service_id:
        return False
    if rule.ci_id is not None and rule.ci_id != incident.ci_id:
        return False
    if rule.caller_location or rule.caller_vip is not None:
        profile = getattr(incident.requester, "profile", None)  # read only when asked
        if profile is None:
            return False
        if rule.caller_location and profile.location.lower() != rule.caller_location.lower():
            return False
        if rule.caller_vip is not None and profile.vip != rule.caller_vip:
            return False
    if rule.keywords.strip():
        text = f"{incident.title} {incident.description}".lower()
        words = [w.strip().lower() for w in rule.keywords.split(",") if w.strip()]
        return any(word in text for word in words)
    return True


def routing_rules() -> list[RoutingRule]:
    """The active routing rules in their order, with their groups."""
    return cached_config(ROUTING_CONFIG, lambda: list(
        RoutingRule.objects.filter(is_active=True).select_related("assignment_group")))


def route(incident: Incident) -> tuple[Team | None, int, str]:
    """(group, priority bump, why): the first matching active rule; else the owner team
    of the CI, then of the service; else the service desk."""
    for rule in routing_rules():
        if _rule_matches(rule, incident):
            return rule.assignment_group, rule.priority_bump, _("routing rule “%(name)s”") % {
                "name": rule.name}
    for ci, label in ((incident.ci, _("the CI's owner team")),
                      (incident.service, _("the service's owner team"))):
        if ci is not None and ci.owner_team_id:
            return ci.owner_team, 0, label
    return service_desk_team(), 0, _("the service desk (no rule or owner matched)")


def suggest_assignee(group: Team) -> Any | None:
    """The member of ``group`` with the fewest open incidents (ties: the one who joined
    the team first). On-shift rosters arrive with the SLA calendars; until then every
    active member counts as on shift."""
    assigned = "user__incidents_incident_assigned"
    membership = (
        TeamMembership.objects.filter(team=group, user__is_active=True)
        .annotate(load=Count(assigned, filter=Q(**{f"{assigned}__state__in": OPEN_STATES})))
        .order_by("load", "joined_at", "pk").select_related("user").first()
    )
    return membership.user if membership is not None else None


# --- Create ---------------------------------------------------------------------------

def _check_categories(category: Any, subcategory: Any) -> None:
    if category is not None and category.parent_id is not None:
        raise DomainError(_("Choose a top-level category."),
                          fields={"category": [_("This is a subcategory.")]})
    if subcategory is not None and subcategory.parent_id != getattr(category, "pk", None):
        raise DomainError(_("The subcategory does not belong to the category."),
                          fields={"subcategory": [_("Choose one of the category's "
                                                    "subcategories.")]})


@transaction.atomic
@as_actor
def incident_create(*, actor: Any, title: str, impact: int = 3, urgency: int = 3,
                    parent: Incident | None = None, **fields: Any) -> Incident:
    """Log an incident. Its priority comes from the matrix; routing picks the group.
    With ``parent`` it is linked as that incident's child by the link rules, in the same
    transaction: a parent they refuse means no incident is created."""
    priority = priority_for(int(impact), int(urgency))
    if fields.get("assignment_group") and actor is not None and not actor.has_perm(
        "accounts.access_desk"
    ):
        raise NotPermitted(_("Only the service desk chooses the assignment group."))
    _check_categories(fields.get("category"), fields.get("subcategory"))
    probe = Incident(title=title, description=fields.get("description", ""),
                     requester=fields.get("requester") or actor,
                     category=fields.get("category"), subcategory=fields.get("subcategory"),
                     service=fields.get("service"), ci=fields.get("ci"))
    group, bump, why = (fields.pop("assignment_group"), 0, _("chosen by hand")) if fields.get(
        "assignment_group") else route(probe)
    # The create's audit entry says how it was routed (its changes hold the group).
    incident = tickets.ticket_create(
        model=Incident, actor=actor, title=title, impact=impact, urgency=urgency,
        priority=max(1, priority - bump), assignment_group=group, **fields,
        audit_message=_("Routed to %(group)s by %(why)s") % {
            "group": group.name, "why": why} if group is not None else "")
    if parent is not None:
        incident = incident_link_parent(actor=actor, incident=incident, parent=parent)
    return incident


# --- Assignment and escalation --------------------------------------------------------

@transaction.atomic
@as_actor
def incident_assign(*, actor: Any, incident: Incident, group: Team,
                    assignee: Any | None = None) -> Incident:
    """Give the incident to a group (and optionally a person in it). Moving it to
    another group is a functional escalation and is counted."""
    require_permission(actor, "accounts.access_desk")
    if assignee is not None and not group.members.filter(pk=assignee.pk).exists():
        raise DomainError(
            _("%(name)s is not a member of %(group)s.") % {"name": assignee.get_username(),
                                                           "group": group.name},
            fields={"assignee": [_("Choose a member of the group.")]})
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.state not in OPEN_STATES:
        raise DomainError(_("Only open incidents can be assigned."), code="not_open",
                          fields={"state": [_("The incident is %(state)s.") % {
                              "state": incident.get_state_display()}]})
    changes: dict[str, Any] = {"assignment_group": group, "assignee": assignee}
    if incident.assignment_group_id and incident.assignment_group_id != group.pk:
        Incident.objects.filter(pk=incident.pk).update(
            reassignment_count=incident.reassignment_count + 1)
        audit_record(action=AuditAction.UPDATE, target=incident,
                     changes={"reassignment_count": [incident.reassignment_count,
                                                     incident.reassignment_count + 1]},
                     message=_("Functional escalation: moved from %(old)s to %(new)s") % {
                         "old": incident.assignment_group.name, "new": group.name})
    incident = tickets.ticket_update(ticket=incident, actor=actor, **changes)
    if assignee is not None and incident.acknowledged_at is None:
        Incident.objects.filter(pk=incident.pk).update(acknowledged_at=timezone.now())
        incident.refresh_from_db()
    if assignee is not None and incident.state == IncidentState.NEW:
        incident = tickets.ticket_transition(ticket=incident, to_state=IncidentState.ASSIGNED,
                                             actor=actor)
    return incident


@transaction.atomic
@as_actor
def incident_override_priority(*, actor: Any, incident: Incident, priority: int,
                               reason: str) -> Incident:
    require_permission(actor, "incidents.override_priority")
    if not reason.strip():
        raise DomainError(_("Say why the priority differs from the matrix."),
                          fields={"priority_override_reason": [_("A reason is required.")]})
    if priority not in (1, 2, 3, 4):
        raise DomainError(_("Priority goes from P1 to P4."), fields={"priority": [_("1–4.")]})
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    before = incident.priority
    Incident.objects.filter(pk=incident.pk).update(
        priority=priority, priority_overridden=True, priority_override_reason=reason.strip())
    incident.refresh_from_db()
    audit_record(action=AuditAction.UPDATE, target=incident,
                 changes={"priority": [before, priority]},
                 message=_("Priority set by hand: %(reason)s") % {"reason": reason.strip()})
    if before != priority:  # SLA timers follow the priority
        tickets.ticket_event("updated", incident, {"changes": {"priority": [before, priority]}})
    return incident


# --- Parent and children -------------------------------------------------------------

@transaction.atomic
@as_actor
def incident_link_parent(*, actor: Any, incident: Incident, parent: Incident | None) -> Incident:
    """Make ``incident`` a child of ``parent`` (None unlinks). One level only: a parent
    is not itself a child and a child has no children; both must be open."""
    require_permission(actor, "accounts.access_desk")
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if parent is None:
        if incident.parent_id is None:
            return incident
        return tickets.ticket_update(ticket=incident, actor=actor, parent=None)
    parent = Incident.objects.select_for_update().get(pk=parent.pk)
    problem = None
    if parent.pk == incident.pk:
        problem = _("An incident cannot be its own parent.")
    elif parent.parent_id is not None:
        problem = _("%(number)s is itself a child of another incident: link to that "
                    "parent instead.") % {"number": parent.number}
    elif parent.state not in OPEN_STATES:
        problem = _("%(number)s is no longer open.") % {"number": parent.number}
    elif incident.state not in OPEN_STATES:
        problem = _("Only open incidents can be linked to a parent.")
    elif incident.children.exists():
        problem = _("%(number)s has children of its own.") % {"number": incident.number}
    if problem:
        raise DomainError(problem, code="bad_parent", fields={"parent": [problem]})
    if incident.parent_id == parent.pk:
        return incident
    incident = tickets.ticket_update(ticket=incident, actor=actor, parent=parent)
    tickets.ticket_comment(ticket=parent, actor=actor, internal=True,
                           body=_("%(number)s linked as a child: %(title)s") % {
                               "number": incident.number, "title": incident.title})
    return incident


# --- Lifecycle ------------------------------------------------------------------------

@transaction.atomic
@as_actor
def incident_transition(*, actor: Any, incident: Incident, to_state: str, note: str = "",
                        **values: Any) -> Incident:
    """Move along the declared lifecycle. Reopening counts, clears the resolution stamp,
    and is allowed to the caller only within the reopen window."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    reopening = incident.state == IncidentState.RESOLVED and to_state == IncidentState.IN_PROGRESS
    confirming = incident.state == IncidentState.RESOLVED and to_state == IncidentState.CLOSED
    if confirming and actor is not None and not actor.has_perm("accounts.access_desk") and (
        actor.pk != incident.requester_id
    ):
        raise NotPermitted(_("Only the caller or the service desk can close this."))
    if reopening and actor is not None and not actor.has_perm("accounts.access_desk"):
        if actor.pk != incident.requester_id:
            raise NotPermitted(_("Only the caller or the service desk can reopen this."))
        if not within_reopen_window(incident):
            raise DomainError(
                _("This incident was resolved more than %(days)d days ago: please report a "
                  "new one.") % {"days": incident_settings().reopen_window_days},
                code="reopen_window_passed",
                fields={"state": [_("The reopen window has passed.")]})
    if to_state != IncidentState.ON_HOLD and incident.state == IncidentState.ON_HOLD:
        values.setdefault("hold_reason", "")
    incident = tickets.ticket_transition(ticket=incident, to_state=to_state, actor=actor,
                                         note=note, **values)
    if reopening:
        Incident.objects.filter(pk=incident.pk).update(
            reopened_count=incident.reopened_count + 1, resolved_at=None)
        incident.refresh_from_db()
    if to_state == IncidentState.RESOLVED:
        _resolve_children(actor, incident)
    return incident


def _resolve_children(actor: Any, parent: Incident) -> None:
    """Resolving a parent resolves its open children, in the same transaction, with the
    parent's resolution; each child's caller sees why. Closed ones are left alone."""
    note = _("Resolved with %(number)s") % {"number": parent.number}
    for child in parent.children.filter(state__in=OPEN_STATES).order_by("pk"):
        incident_transition(actor=actor, incident=child, to_state=IncidentState.RESOLVED,
                            note=note, resolution_code=parent.resolution_code,
                            resolution_notes=parent.resolution_notes)


@transaction.atomic
@as_actor
def incident_respond(*, actor: Any, incident: Incident, body: str,
                     internal: bool = False) -> Any:
    """A comment or work note. The desk's first public reply stamps the first response."""
    if incident.state in (IncidentState.CLOSED, IncidentState.CANCELLED):
        raise DomainError(_("This incident is closed: comments are no longer accepted."),
                          code="closed", fields={"body": [_("The incident is closed.")]})
    entry = tickets.ticket_comment(ticket=incident, actor=actor, body=body, internal=internal)
    if not internal and actor is not None and actor.has_perm("accounts.access_desk") and (
        actor.pk != incident.requester_id
    ):
        Incident.objects.filter(pk=incident.pk, first_response_at__isnull=True).update(
            first_response_at=timezone.now())
    current = Incident.objects.only("state", "resolved_at", "requester_id").get(pk=incident.pk)
    if (not internal and actor is not None and actor.pk == current.requester_id
            and current.state == IncidentState.RESOLVED and within_reopen_window(current)):
        # The caller answering a resolved incident means it is not fixed (email replies
        # arrive here too): reopen it, as the "not fixed" button does.
        incident_transition(actor=actor, incident=current, to_state=IncidentState.IN_PROGRESS,
                            note=_("Reopened: the caller replied."))
    return entry


AUTO_CLOSE_BATCH_SIZE = 200


def incidents_auto_close(now: datetime.datetime | None = None) -> int:
    """Close incidents resolved longer ago than the configured period (beat task)."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=incident_settings().auto_close_days)
    due = list(Incident.objects.filter(state=IncidentState.RESOLVED, resolved_at__lt=cutoff)
               .values_list("pk", flat=True)[:AUTO_CLOSE_BATCH_SIZE])
    closed = 0
    for pk in due:
        with transaction.atomic():
            incident = Incident.objects.select_for_update().get(pk=pk)
            if incident.state == IncidentState.RESOLVED:  # still, under the lock
                tickets.ticket_transition(ticket=incident, to_state=IncidentState.CLOSED,
                                          actor=None, note=_("Closed automatically."))
                closed += 1
    return closed


def open_incidents() -> Q:
    return Q(state__in=OPEN_STATES)


UPDATABLE_FIELDS = ("title", "description", "requester", "channel", "category", "subcategory",
                    "service", "ci", "cause_ci", "impact", "urgency")


@transaction.atomic
@as_actor
def incident_update(*, actor: Any, incident: Incident, **changes: Any) -> Incident:
    """Edit an incident's details. State, assignment and priority have their own moves
    (transition, assign, override) so their rules cannot be skipped; a new impact or
    urgency re-reads the matrix unless the priority was set by hand."""
    moved = {"state", "assignment_group", "assignee", "priority"} & set(changes)
    if moved:
        raise DomainError(
            _("%(fields)s cannot be changed by editing: use the transition, assign or "
              "priority actions.") % {"fields": ", ".join(sorted(moved))},
            code="use_action", fields={name: [_("Use its action.")] for name in moved})
    tickets_fields = {k: v for k, v in changes.items() if k in UPDATABLE_FIELDS}
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Unknown field.")] for name in unknown})
    if incident.state in (IncidentState.CLOSED, IncidentState.CANCELLED):
        raise DomainError(_("A closed incident cannot be edited."), code="closed")
    _check_categories(tickets_fields.get("category", incident.category),
                      tickets_fields.get("subcategory", incident.subcategory))
    impact = int(tickets_fields.get("impact", incident.impact))
    urgency = int(tickets_fields.get("urgency", incident.urgency))
    # Only a new impact or urgency re-reads the matrix: editing the title must not drop a
    # priority a routing rule raised.
    rereads = (impact, urgency) != (incident.impact, incident.urgency)
    priority = priority_for(impact, urgency)
    incident = tickets.ticket_update(ticket=incident, actor=actor, **tickets_fields)
    if rereads and not incident.priority_overridden and incident.priority != priority:
        before = incident.priority
        Incident.objects.filter(pk=incident.pk).update(priority=priority)
        incident.refresh_from_db()
        audit_record(action=AuditAction.UPDATE, target=incident,
                     changes={"priority": [before, priority]},
                     message=_("Priority from the matrix (impact %(i)d, urgency %(u)d)")
                     % {"i": impact, "u": urgency})
        tickets.ticket_event("updated", incident, {"changes": {"priority": [before, priority]}})
    return incident
