"""The one code path that changes a problem: create (from incidents too), edit (the
analysis, the workaround, the permanent fix), link and unlink incidents (a known error's
workaround goes to the incident's caller), publish or withdraw the known error, move along
the lifecycle, and resolve together with the open linked incidents. Each write checks the
permission, locks the row, validates, writes the audit entry and the activity, and leaves
side effects to the ticket hooks after the commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission
from audit.context import as_actor, current_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value
from cmdb.models import ConfigurationItem
from incidents import services as incident_services
from incidents.models import OPEN_STATES as INCIDENT_OPEN_STATES
from incidents.models import Incident, IncidentState, ResolutionCode
from itsm.errors import DomainError
from tickets import services as tickets
from tickets.models import Activity, ActivityKind, Priority

from .models import Problem, ProblemIncident, ProblemState
from .publishing import known_error_article_sync
from .workflow import MANAGE, OPEN_STATES

DESK = "accounts.access_desk"
# Fields problem_update edits (the links to CIs and services besides). The state and the
# known-error flag have their own moves.
UPDATABLE_FIELDS = (
    "title", "description", "priority", "requester", "assignment_group", "assignee",
    "category", "root_cause", "cause_category", "cause_ci", "cause_not_found",
    "cause_not_found_reason", "workaround", "fix_change", "five_whys", "resolution",
)
LINK_FIELDS = ("services", "cis")


# --- Helpers ----------------------------------------------------------------------------

def _entry(ticket: Any, body: str, *, kind: str = ActivityKind.SYSTEM,
           public: bool = False, changes: dict | None = None) -> Activity:
    """An entry in a ticket's activity stream, by whoever is acting."""
    actor = current_actor()
    return Activity.objects.create(
        content_type=ContentType.objects.get_for_model(type(ticket)), object_id=ticket.pk,
        kind=kind, public=public, author_id=actor.user_id, author_label=actor.label,
        body=body, changes=changes or {})


def _locked(problem: Problem) -> Problem:
    return Problem.objects.select_for_update().get(pk=problem.pk)


def _require_open(problem: Problem, field_name: str = "state") -> None:
    if problem.state not in OPEN_STATES:
        raise DomainError(
            _("%(number)s is %(state)s: reopen it first.") % {
                "number": problem.number, "state": problem.get_state_display().lower()},
            code="not_open", fields={field_name: [_("The problem is not open.")]})


def _ci_list(items: Iterable[ConfigurationItem] | None) -> list[ConfigurationItem] | None:
    if items is None:
        return None
    return list(ConfigurationItem.objects.select_related("ci_class").filter(
        pk__in=[ci.pk for ci in items]))


def _check_services(items: Iterable[ConfigurationItem]) -> None:
    not_services = [ci.name for ci in items if not ci.ci_class.is_service]
    if not_services:
        raise DomainError(
            _("These are not services: %(names)s.") % {"names": ", ".join(not_services)},
            fields={"services": [_("Pick business or technical services.")]})


def _set_links(problem: Problem, *, cis: list[ConfigurationItem] | None,
               services: list[ConfigurationItem] | None) -> dict[str, list]:
    """Replace the given CI and service sets; return their changes for the audit."""
    changed: dict[str, list] = {}
    for name, items in (("cis", cis), ("services", services)):
        if items is None:
            continue
        items = list(dict.fromkeys(items))
        manager = getattr(problem, name)
        before = sorted(manager.values_list("pk", flat=True))
        after = sorted(item.pk for item in items)
        if before != after:
            old = [audit_value(i) for i in ConfigurationItem.objects.filter(pk__in=before)]
            manager.set(items)
            changed[name] = [old, [audit_value(i) for i in items]]
    return changed


def normalise_five_whys(value: Any) -> Any:
    """Trim each why and answer and drop empty rows; anything else is left for the
    model's validator to refuse."""
    if not isinstance(value, list):
        return value
    rows = []
    for item in value:
        if isinstance(item, dict) and all(isinstance(item.get(k, ""), str)
                                          for k in ("why", "answer")):
            why, answer = item.get("why", "").strip(), item.get("answer", "").strip()
            if why or answer:
                rows.append({"why": why, "answer": answer})
        else:
            rows.append(item)
    return rows


# --- Create and edit --------------------------------------------------------------------

@transaction.atomic
@as_actor
def problem_create(*, actor: Any, title: str, description: str = "", category: Any = None,
                   priority: int | None = None, services: Iterable[ConfigurationItem] = (),
                   cis: Iterable[ConfigurationItem] = (), incidents: Iterable[Incident] = (),
                   **fields: Any) -> Problem:
    """Record a problem in New. Without a priority it takes the highest of the incidents
    it starts with (P4 with none). The incidents are linked as
    :func:`problem_link_incident` links them."""
    require_permission(actor, MANAGE)
    unknown = set(fields) - set(UPDATABLE_FIELDS) - {"known_error"}
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Unknown field.")] for name in unknown})
    known_error = bool(fields.pop("known_error", False))
    incidents = list(dict.fromkeys(incidents))
    if priority is None:
        priority = min((i.priority for i in incidents), default=Priority.P4)
    service_list, ci_list = _ci_list(services) or [], _ci_list(cis) or []
    _check_services(service_list)
    if "five_whys" in fields:
        fields["five_whys"] = normalise_five_whys(fields["five_whys"])
    fields.setdefault("requester", actor)
    if fields["requester"] is None:
        raise DomainError(_("Say who raised the problem."),
                          fields={"requester": [_("Required.")]})
    problem = tickets.ticket_create(model=Problem, actor=actor, title=title,
                                    description=description, category=category,
                                    priority=priority, **fields)
    links = _set_links(problem, cis=ci_list, services=service_list)
    if links:
        audit_record(action=AuditAction.UPDATE, target=problem, changes=links)
    for incident in incidents:
        problem_link_incident(actor=actor, problem=problem, incident=incident)
    if known_error:
        problem = problem_set_known_error(actor=actor, problem=problem, known_error=True)
    return problem


@transaction.atomic
@as_actor
def problem_update(*, actor: Any, problem: Problem, **changes: Any) -> Problem:
    """Edit the statement, the analysis, the workaround or the fix. ``services`` and
    ``cis`` replace those sets. Every change is audited and on the activity stream."""
    require_permission(actor, MANAGE)
    moved = {"state", "known_error", "known_error_at"} & set(changes)
    if moved:
        raise DomainError(
            _("%(fields)s cannot be changed by editing: use the lifecycle or known-error "
              "actions.") % {"fields": ", ".join(sorted(moved))},
            code="use_action", fields={name: [_("Use its action.")] for name in moved})
    unknown = set(changes) - set(UPDATABLE_FIELDS) - set(LINK_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Unknown field.")] for name in unknown})
    problem = _locked(problem)
    if problem.state == ProblemState.CLOSED:
        raise DomainError(_("A closed problem cannot be edited."), code="closed",
                          fields={"state": [_("The problem is closed.")]})
    services = _ci_list(changes.pop("services", None))
    cis = _ci_list(changes.pop("cis", None))
    if services is not None:
        _check_services(services)
    if "five_whys" in changes:
        changes["five_whys"] = normalise_five_whys(changes["five_whys"])
    if problem.known_error and "workaround" in changes and not (
            changes["workaround"] or "").strip():
        raise DomainError(
            _("A known error keeps its workaround: withdraw the known error first."),
            code="known_error_needs_workaround",
            fields={"workaround": [_("Required while this is a known error.")]})
    if changes:
        problem = tickets.ticket_update(ticket=problem, actor=actor, **changes)
    links = _set_links(problem, cis=cis, services=services)
    if links:
        audit_record(action=AuditAction.UPDATE, target=problem, changes=links)
        _entry(problem, "", kind=ActivityKind.FIELD_CHANGE, changes=links)
        tickets.ticket_event("updated", problem, {"changes": links})
    if problem.known_error:  # its article follows the text (no new version if unchanged)
        known_error_article_sync(actor=actor, problem=problem)
    return problem


# --- Known error ----------------------------------------------------------------------

def _publish_workaround(problem: Problem, incident: Incident, actor: Any) -> bool:
    """Tell the caller of an open incident the known error's workaround (a public
    comment). False when the incident is not open."""
    if incident.state not in INCIDENT_OPEN_STATES or not problem.workaround.strip():
        return False
    incident_services.incident_respond(
        actor=actor, incident=incident, internal=False,
        body=_("This is a known error (%(number)s: %(title)s). Workaround:\n\n%(workaround)s")
        % {"number": problem.number, "title": problem.title,
           "workaround": problem.workaround.strip()})
    return True


@transaction.atomic
@as_actor
def problem_set_known_error(*, actor: Any, problem: Problem, known_error: bool) -> Problem:
    """Publish the problem as a known error (it needs its workaround) or withdraw it.
    Publishing sends the workaround to the callers of the open linked incidents."""
    require_permission(actor, MANAGE)
    problem = _locked(problem)
    _require_open(problem, "known_error")
    known_error = bool(known_error)
    if known_error == problem.known_error:
        return problem
    if known_error and not problem.workaround.strip():
        raise DomainError(_("Write the workaround before publishing the known error."),
                          code="workaround_required",
                          fields={"workaround": [_("Required for a known error.")]})
    problem = tickets.ticket_update(
        ticket=problem, actor=actor, known_error=known_error,
        known_error_at=timezone.now() if known_error else None)
    if known_error:
        for incident in problem.incidents.filter(state__in=INCIDENT_OPEN_STATES).order_by("pk"):
            _publish_workaround(problem, incident, actor)
    known_error_article_sync(actor=actor, problem=problem)
    return problem


# --- Incidents --------------------------------------------------------------------------

@transaction.atomic
@as_actor
def problem_link_incident(*, actor: Any, problem: Problem, incident: Incident) -> ProblemIncident:
    """Link an incident to the problem. When the problem is a known error, the
    incident's caller gets the workaround at once (if the incident is open)."""
    require_permission(actor, DESK)
    problem = _locked(problem)
    if problem.state == ProblemState.CLOSED:
        raise DomainError(_("%(number)s is closed: incidents are no longer linked to it.")
                          % {"number": problem.number}, code="closed",
                          fields={"incident": [_("The problem is closed.")]})
    try:
        with transaction.atomic():
            link = ProblemIncident.objects.create(
                problem=problem, incident=incident,
                linked_by=actor if actor is not None and actor.is_authenticated else None)
    except IntegrityError as error:
        raise DomainError(
            _("%(incident)s is already linked to %(problem)s.") % {
                "incident": incident.number, "problem": problem.number},
            code="already_linked", fields={"incident": [_("Already linked.")]}) from error
    audit_record(action=AuditAction.UPDATE, target=problem,
                 changes={"incidents": [None, audit_value(incident)]},
                 message=_("Linked %(number)s") % {"number": incident.number})
    audit_record(action=AuditAction.UPDATE, target=incident,
                 changes={"problems": [None, audit_value(problem)]},
                 message=_("Linked to %(number)s") % {"number": problem.number})
    _entry(problem, _("%(number)s linked: %(title)s") % {
        "number": incident.number, "title": incident.title})
    _entry(incident, _("Linked to problem %(number)s: %(title)s") % {
        "number": problem.number, "title": problem.title})
    if problem.known_error:
        _publish_workaround(problem, Incident.objects.get(pk=incident.pk), actor)
    return link


@transaction.atomic
@as_actor
def problem_unlink_incident(*, actor: Any, problem: Problem, incident: Incident) -> None:
    require_permission(actor, DESK)
    problem = _locked(problem)
    deleted, _rows = ProblemIncident.objects.filter(problem=problem, incident=incident).delete()
    if not deleted:
        raise DomainError(
            _("%(incident)s is not linked to %(problem)s.") % {
                "incident": incident.number, "problem": problem.number},
            code="not_linked", fields={"incident": [_("Not linked.")]})
    audit_record(action=AuditAction.UPDATE, target=problem,
                 changes={"incidents": [audit_value(incident), None]},
                 message=_("Unlinked %(number)s") % {"number": incident.number})
    audit_record(action=AuditAction.UPDATE, target=incident,
                 changes={"problems": [audit_value(problem), None]},
                 message=_("Unlinked from %(number)s") % {"number": problem.number})
    _entry(problem, _("%(number)s unlinked") % {"number": incident.number})
    _entry(incident, _("Unlinked from problem %(number)s") % {"number": problem.number})


# --- Lifecycle --------------------------------------------------------------------------

@transaction.atomic
@as_actor
def problem_transition(*, actor: Any, problem: Problem, to_state: str, note: str = "",
                       **values: Any) -> Problem:
    """Move along the declared lifecycle. ``values`` are fields set with the move (the
    resolution, the root cause) and seen by its guards. Reopening clears the resolved
    stamp."""
    require_permission(actor, MANAGE)
    problem = _locked(problem)
    unknown = set(values) - set(UPDATABLE_FIELDS)
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Unknown field.")] for name in unknown})
    reopening = problem.state == ProblemState.RESOLVED and to_state == ProblemState.RCA
    problem = tickets.ticket_transition(ticket=problem, to_state=to_state, actor=actor,
                                        note=note, **values)
    if reopening:
        Problem.objects.filter(pk=problem.pk).update(resolved_at=None)
        problem.refresh_from_db()
    if problem.known_error:  # the article's status line; closing retires it
        known_error_article_sync(actor=actor, problem=problem)
    return problem


@dataclass
class ResolveOutcome:
    """What :func:`problem_resolve` did: the problem, the incidents it resolved, and the
    open linked incidents that refused (number → reason)."""

    problem: Problem
    incidents_resolved: list[str] = field(default_factory=list)
    incidents_refused: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_count(self) -> int:
        return len(self.incidents_resolved)


@transaction.atomic
@as_actor
def problem_resolve(*, actor: Any, problem: Problem, resolution: str,
                    resolve_incidents: bool = False, note_to_callers: str = "") -> ResolveOutcome:
    """Resolve the problem with ``resolution`` and, when asked, each open linked incident
    in the same step (through the incident lifecycle, so SLA clocks stop and callers are
    told), each caller reading ``note_to_callers`` (or a note naming the problem)."""
    resolution = (resolution or "").strip()
    problem = problem_transition(actor=actor, problem=problem, to_state=ProblemState.RESOLVED,
                                 resolution=resolution)
    outcome = ResolveOutcome(problem=problem)
    if not resolve_incidents:
        return outcome
    code = (ResolutionCode.RESOLVED_BY_CHANGE if problem.fix_change_id
            else ResolutionCode.SOLVED_PERMANENTLY)
    note = note_to_callers.strip() or _(
        "Resolved by the fix of problem %(number)s: %(resolution)s") % {
        "number": problem.number, "resolution": resolution}
    linked = list(problem.incidents.filter(state__in=INCIDENT_OPEN_STATES).order_by("pk")
                  .values_list("pk", flat=True))
    for pk in linked:
        incident = Incident.objects.get(pk=pk)
        if incident.state not in INCIDENT_OPEN_STATES:  # resolved with its parent already
            continue
        try:
            with transaction.atomic():
                incident_services.incident_transition(
                    actor=actor, incident=incident, to_state=IncidentState.RESOLVED,
                    note=note, resolution_code=code,
                    resolution_notes=_("Problem %(number)s: %(resolution)s") % {
                        "number": problem.number, "resolution": resolution})
        except DomainError as error:
            outcome.incidents_refused[incident.number] = error.message
        else:
            outcome.incidents_resolved.append(incident.number)
    if outcome.incidents_resolved or outcome.incidents_refused:
        audit_record(action=AuditAction.UPDATE, target=problem,
                     changes={"incidents_resolved": [None, outcome.incidents_resolved]},
                     message=_("Resolved %(count)d linked incident(s)") % {
                         "count": outcome.resolved_count})
        _entry(problem, _("Resolved with the problem: %(numbers)s") % {
            "numbers": ", ".join(outcome.incidents_resolved) or "—"} + (
            "\n" + _("Not resolved: %(numbers)s") % {
                "numbers": "; ".join(f"{n} ({m})" for n, m in
                                     outcome.incidents_refused.items())}
            if outcome.incidents_refused else ""))
    return outcome


@transaction.atomic
@as_actor
def problem_close(*, actor: Any, problem: Problem, note: str = "", **values: Any) -> Problem:
    """Close the problem (its cause found, or not found with the reason). A closed
    problem keeps its known-error record for reference."""
    problem = problem_transition(actor=actor, problem=problem, to_state=ProblemState.CLOSED,
                                 note=note, **values)
    return problem


@transaction.atomic
@as_actor
def problem_comment(*, actor: Any, problem: Problem, body: str,
                    internal: bool = True) -> Activity:
    """A comment or work note on the problem's stream (the desk only)."""
    require_permission(actor, DESK)
    return tickets.ticket_comment(ticket=problem, actor=actor, body=body, internal=internal)
