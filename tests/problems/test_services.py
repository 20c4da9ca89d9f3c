import pytest

from audit.models import AuditEntry
from incidents import services as incident_services
from incidents.models import IncidentState
from itsm.errors import DomainError, NotPermitted
from problems import services
from problems.models import CauseCategory, Problem, ProblemIncident, ProblemState
from problems.workflow import PROBLEM_WORKFLOW
from tickets.models import Activity, ActivityKind

from .conftest import analysed


def _stream(ticket):
    return list(Activity.objects.filter(content_type__model=type(ticket)._meta.model_name,
                                        object_id=ticket.pk))


def _audit(ticket):
    return AuditEntry.objects.filter(content_type__model=type(ticket)._meta.model_name,
                                     object_id=str(ticket.pk))


# --- Create ---------------------------------------------------------------------------

def test_create_numbers_audits_and_links(problem_manager, make_incident, service, server):
    first = make_incident(impact=2, urgency=1)
    second = make_incident(title="VPN down again")
    problem = services.problem_create(
        actor=problem_manager, title="VPN tunnels drop hourly", services=[service],
        cis=[server], incidents=[first, second], cause_category=CauseCategory.CONFIGURATION)
    assert problem.number.startswith("PRB") and len(problem.number) == 10
    assert problem.state == ProblemState.NEW
    assert problem.requester == problem_manager
    assert problem.priority == first.priority == 2  # the highest of its incidents
    assert list(problem.services.all()) == [service]
    assert list(problem.cis.all()) == [server]
    assert set(problem.incidents.all()) == {first, second}
    assert ProblemIncident.objects.get(problem=problem, incident=first).linked_by == problem_manager
    assert _audit(problem).filter(action="create").exists()
    assert "Linked to problem" in _stream(first)[-1].body


def test_create_needs_the_problem_manager(agent):
    with pytest.raises(NotPermitted):
        services.problem_create(actor=agent, title="x")
    assert not Problem.objects.exists()


def test_services_must_be_services(problem_manager, server):
    with pytest.raises(DomainError) as error:
        services.problem_create(actor=problem_manager, title="x", services=[server])
    assert "services" in error.value.fields


def test_five_whys_are_validated_and_trimmed(problem_manager, problem):
    updated = services.problem_update(actor=problem_manager, problem=problem, five_whys=[
        {"why": " Why did the VPN drop? ", "answer": "The tunnel was renegotiated."},
        {"why": "", "answer": ""}])
    assert updated.five_whys == [{"why": "Why did the VPN drop?",
                                  "answer": "The tunnel was renegotiated."}]
    with pytest.raises(DomainError) as error:
        services.problem_update(actor=problem_manager, problem=problem, five_whys="nope")
    assert "five_whys" in error.value.fields


# --- Update ---------------------------------------------------------------------------

def test_update_is_audited_and_on_the_stream(problem_manager, problem, server, service):
    services.problem_update(actor=problem_manager, problem=problem, root_cause="Old firmware",
                            cause_category="hardware", cause_ci=server, cis=[server],
                            services=[service])
    problem.refresh_from_db()
    assert problem.root_cause == "Old firmware" and problem.cause_ci == server
    entries = _audit(problem).filter(action="update")
    changed = set().union(*(e.changes for e in entries))
    assert {"root_cause", "cause_category", "cause_ci", "cis", "services"} <= changed
    kinds = [a.kind for a in _stream(problem)]
    assert kinds.count(ActivityKind.FIELD_CHANGE) >= 2


def test_update_refuses_state_and_known_error(problem_manager, problem):
    for name, value in (("state", "closed"), ("known_error", True)):
        with pytest.raises(DomainError) as error:
            services.problem_update(actor=problem_manager, problem=problem, **{name: value})
        assert name in error.value.fields and error.value.code == "use_action"


def test_update_needs_the_permission(agent, problem):
    with pytest.raises(NotPermitted):
        services.problem_update(actor=agent, problem=problem, root_cause="x")


# --- Lifecycle ------------------------------------------------------------------------

READY = {"root_cause": "Cause", "resolution": "Fixed"}


@pytest.mark.parametrize(("source", "target"), [
    (s, t) for s in ProblemState.values for t in ProblemState.values if s != t])
def test_every_pair_of_states(problem_manager, problem, source, target):
    Problem.objects.filter(pk=problem.pk).update(state=source, **READY)
    declared = PROBLEM_WORKFLOW.find(source, target) is not None
    if declared:
        moved = services.problem_transition(actor=problem_manager, problem=problem,
                                            to_state=target)
        assert moved.state == target
    else:
        with pytest.raises(DomainError) as error:
            services.problem_transition(actor=problem_manager, problem=problem,
                                        to_state=target)
        assert error.value.code == "invalid_transition"
        problem.refresh_from_db()
        assert problem.state == source


def test_the_whole_lifecycle(problem_manager, problem):
    for state in ("assess", "rca"):
        problem = services.problem_transition(actor=problem_manager, problem=problem,
                                              to_state=state)
    problem = services.problem_transition(actor=problem_manager, problem=problem,
                                          to_state="fix_in_progress",
                                          root_cause="Rekey timer mismatch")
    outcome = services.problem_resolve(actor=problem_manager, problem=problem,
                                       resolution="Timers aligned on all gateways")
    assert outcome.problem.state == "resolved" and outcome.problem.resolved_at
    reopened = services.problem_transition(actor=problem_manager, problem=outcome.problem,
                                           to_state="rca", note="It came back")
    assert reopened.state == "rca" and reopened.resolved_at is None
    services.problem_resolve(actor=problem_manager, problem=reopened, resolution="Really fixed")
    closed = services.problem_close(actor=problem_manager, problem=reopened)
    assert closed.state == "closed" and closed.closed_at
    assert _audit(closed).filter(action="transition").count() == 7


def test_resolving_and_closing_need_the_root_cause(problem_manager, problem):
    services.problem_transition(actor=problem_manager, problem=problem, to_state="rca")
    with pytest.raises(DomainError) as error:
        services.problem_resolve(actor=problem_manager, problem=problem, resolution="Done")
    assert "root_cause" in error.value.fields
    with pytest.raises(DomainError) as error:
        services.problem_close(actor=problem_manager, problem=problem)
    assert "root_cause" in error.value.fields
    assert "root cause" in error.value.message.lower()
    problem.refresh_from_db()
    assert problem.state == "rca"


def test_closing_with_the_cause_not_found_needs_a_reason(problem_manager, problem):
    services.problem_transition(actor=problem_manager, problem=problem, to_state="assess")
    services.problem_update(actor=problem_manager, problem=problem, cause_not_found=True)
    with pytest.raises(DomainError) as error:
        services.problem_close(actor=problem_manager, problem=problem)
    assert "cause_not_found_reason" in error.value.fields
    closed = services.problem_close(
        actor=problem_manager, problem=problem,
        cause_not_found_reason="No recurrence in 90 days; logs rotated before capture.")
    assert closed.state == "closed"


def test_resolving_needs_a_resolution(problem_manager, problem):
    analysed(problem, problem_manager)
    with pytest.raises(DomainError) as error:
        services.problem_resolve(actor=problem_manager, problem=problem, resolution=" ")
    assert "resolution" in error.value.fields


def test_transitions_need_the_permission(agent, problem):
    with pytest.raises(NotPermitted):
        services.problem_transition(actor=agent, problem=problem, to_state="assess")


def test_a_closed_problem_is_not_edited(problem_manager, problem):
    analysed(problem, problem_manager)
    services.problem_close(actor=problem_manager, problem=problem)
    with pytest.raises(DomainError) as error:
        services.problem_update(actor=problem_manager, problem=problem, title="x")
    assert error.value.code == "closed"


# --- Known error ----------------------------------------------------------------------

def test_known_error_needs_a_workaround(problem_manager, problem):
    with pytest.raises(DomainError) as error:
        services.problem_set_known_error(actor=problem_manager, problem=problem,
                                         known_error=True)
    assert "workaround" in error.value.fields
    services.problem_update(actor=problem_manager, problem=problem,
                            workaround="Reconnect the VPN client.")
    known = services.problem_set_known_error(actor=problem_manager, problem=problem,
                                             known_error=True)
    assert known.known_error and known.known_error_at
    with pytest.raises(DomainError) as error:
        services.problem_update(actor=problem_manager, problem=problem, workaround="")
    assert "workaround" in error.value.fields
    withdrawn = services.problem_set_known_error(actor=problem_manager, problem=problem,
                                                 known_error=False)
    assert not withdrawn.known_error and withdrawn.known_error_at is None
    assert _audit(problem).filter(action="update", changes__has_key="known_error").count() == 2


@pytest.mark.parametrize("state", ["new", "assess", "rca", "fix_in_progress"])
def test_known_error_in_any_open_state(problem_manager, problem, state):
    Problem.objects.filter(pk=problem.pk).update(state=state, workaround="Reboot")
    assert services.problem_set_known_error(actor=problem_manager, problem=problem,
                                            known_error=True).known_error


def test_known_error_not_on_a_closed_problem(problem_manager, problem):
    Problem.objects.filter(pk=problem.pk).update(state="closed", workaround="Reboot")
    with pytest.raises(DomainError) as error:
        services.problem_set_known_error(actor=problem_manager, problem=problem,
                                         known_error=True)
    assert "known_error" in error.value.fields


def test_publishing_sends_the_workaround_to_open_linked_incidents(problem_manager, problem,
                                                                   make_incident):
    open_one = make_incident()
    services.problem_link_incident(actor=problem_manager, problem=problem, incident=open_one)
    services.problem_update(actor=problem_manager, problem=problem,
                            workaround="Reconnect the VPN client.")
    services.problem_set_known_error(actor=problem_manager, problem=problem, known_error=True)
    last = _stream(open_one)[-1]
    assert last.kind == ActivityKind.COMMENT and last.public
    assert "Reconnect the VPN client." in last.body


# --- Linking --------------------------------------------------------------------------

def test_desk_agents_link_and_unlink(agent, problem, make_incident):
    incident = make_incident()
    link = services.problem_link_incident(actor=agent, problem=problem, incident=incident)
    assert link.linked_by == agent and link.linked_at
    assert _audit(problem).filter(changes__has_key="incidents").exists()
    assert _audit(incident).filter(changes__has_key="problems").exists()
    services.problem_unlink_incident(actor=agent, problem=problem, incident=incident)
    assert not ProblemIncident.objects.exists()
    with pytest.raises(DomainError) as error:
        services.problem_unlink_incident(actor=agent, problem=problem, incident=incident)
    assert error.value.code == "not_linked" and "incident" in error.value.fields


def test_linking_twice_is_refused(agent, problem, make_incident):
    incident = make_incident()
    services.problem_link_incident(actor=agent, problem=problem, incident=incident)
    with pytest.raises(DomainError) as error:
        services.problem_link_incident(actor=agent, problem=problem, incident=incident)
    assert error.value.code == "already_linked"
    assert error.value.fields == {"incident": ["Already linked."]}
    assert ProblemIncident.objects.count() == 1


def test_requesters_cannot_link(requester, problem, make_incident):
    with pytest.raises(NotPermitted):
        services.problem_link_incident(actor=requester, problem=problem,
                                       incident=make_incident())


def test_linking_to_a_known_error_applies_the_workaround(problem_manager, agent, make_incident):
    problem = services.problem_create(actor=problem_manager, title="Outlook freezes on start",
                                      workaround="Start Outlook with /safe, then disable "
                                                 "the CRM add-in.", known_error=True)
    incident = make_incident(title="Outlook hangs")
    services.problem_link_incident(actor=agent, problem=problem, incident=incident)
    comment = _stream(incident)[-1]
    assert comment.kind == ActivityKind.COMMENT and comment.public
    assert "disable the CRM add-in" in comment.body and problem.number in comment.body
    assert comment.author == agent


def test_linking_a_resolved_incident_to_a_known_error_sends_nothing(problem_manager, agent,
                                                                    make_incident):
    problem = services.problem_create(actor=problem_manager, title="x", workaround="Reboot",
                                      known_error=True)
    incident = make_incident()
    incident_services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                          resolution_code="solved_workaround",
                                          resolution_notes="Rebooted")
    services.problem_link_incident(actor=agent, problem=problem, incident=incident)
    assert [a.body for a in _stream(incident) if a.kind == ActivityKind.COMMENT] == []


def test_no_links_to_a_closed_problem(problem_manager, problem, make_incident):
    analysed(problem, problem_manager)
    services.problem_close(actor=problem_manager, problem=problem)
    with pytest.raises(DomainError) as error:
        services.problem_link_incident(actor=problem_manager, problem=problem,
                                       incident=make_incident())
    assert "incident" in error.value.fields


# --- Resolve with the incidents -------------------------------------------------------

def test_resolve_with_the_open_linked_incidents(problem_manager, problem, make_incident,
                                                agent, caller):
    open_one, other = make_incident(), make_incident(title="VPN again")
    done = make_incident(title="Already fixed")
    incident_services.incident_transition(actor=agent, incident=done, to_state="resolved",
                                          resolution_code="solved_workaround",
                                          resolution_notes="Reconnected")
    for incident in (open_one, other, done):
        services.problem_link_incident(actor=agent, problem=problem, incident=incident)
    analysed(problem, problem_manager)
    outcome = services.problem_resolve(
        actor=problem_manager, problem=problem, resolution="Rekey timers aligned",
        resolve_incidents=True, note_to_callers="We fixed the VPN gateways: please reconnect.")
    assert outcome.problem.state == "resolved"
    assert outcome.resolved_count == 2
    assert sorted(outcome.incidents_resolved) == sorted([open_one.number, other.number])
    for incident in (open_one, other):
        incident.refresh_from_db()
        assert incident.state == IncidentState.RESOLVED and incident.resolved_at
        assert incident.resolution_code == "solved_permanently"
        assert "Rekey timers aligned" in incident.resolution_notes
        note = _stream(incident)[-1]
        assert note.public and "please reconnect" in note.body
    done.refresh_from_db()
    assert done.resolution_notes == "Reconnected"  # left alone


def test_resolve_without_the_incidents_leaves_them_open(problem_manager, problem,
                                                        make_incident):
    incident = make_incident()
    services.problem_link_incident(actor=problem_manager, problem=problem, incident=incident)
    analysed(problem, problem_manager)
    outcome = services.problem_resolve(actor=problem_manager, problem=problem,
                                       resolution="Fixed")
    assert outcome.resolved_count == 0
    incident.refresh_from_db()
    assert incident.state == IncidentState.NEW


def test_a_failed_resolve_changes_no_incident(problem_manager, problem, make_incident):
    incident = make_incident()
    services.problem_link_incident(actor=problem_manager, problem=problem, incident=incident)
    services.problem_transition(actor=problem_manager, problem=problem, to_state="rca")
    with pytest.raises(DomainError):
        services.problem_resolve(actor=problem_manager, problem=problem, resolution="Fixed",
                                 resolve_incidents=True)
    incident.refresh_from_db()
    assert incident.state == IncidentState.NEW


def test_a_fix_change_resolves_incidents_as_resolved_by_change(problem_manager, problem,
                                                               make_incident):
    from changes import services as change_services

    change = change_services.change_create(actor=problem_manager, title="Align rekey timers")
    incident = make_incident()
    services.problem_link_incident(actor=problem_manager, problem=problem, incident=incident)
    analysed(problem, problem_manager, fix_change=change)
    services.problem_resolve(actor=problem_manager, problem=problem, resolution="Timers",
                             resolve_incidents=True)
    incident.refresh_from_db()
    assert incident.resolution_code == "resolved_by_change"
    assert list(change.fixed_problems.all()) == [problem]
