"""The post-implementation review: result required, completing it, a failed change's
result, who may edit a completed review; suggested caused incidents in and out of the
window; marking and unmarking, refused twice."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from audit.models import AuditEntry
from changes import review
from changes.models import (
    Change,
    ChangeResult,
    ChangeReview,
    ChangeState,
)
from changes.workflow import CHANGE_WORKFLOW
from incidents.models import Incident
from itsm.errors import Conflict, DomainError, NotPermitted
from tests.changes.test_risk import agent, ci, depends, make_change, make_incident, manager
from tickets.models import Activity, ActivityKind

__all__ = ["agent", "manager"]  # fixtures shared from test_risk

HOUR = datetime.timedelta(hours=1)
START = timezone.now() - datetime.timedelta(days=3)


@pytest.fixture
def database(db):
    return ci("db-01", "database")


@pytest.fixture
def done(manager, database):
    """A change implemented from START to START + 2 h, in review."""
    return make_change(manager, state=ChangeState.REVIEW, cis=[database],
                       planned_start=START - HOUR, planned_end=START + 3 * HOUR,
                       actual_start=START, actual_end=START + 2 * HOUR,
                       result=ChangeResult.SUCCESSFUL)


def notes(ticket):
    return list(Activity.objects.filter(
        content_type=ContentType.objects.get_for_model(ticket), object_id=ticket.pk,
        kind=ActivityKind.WORK_NOTE).values_list("body", flat=True))


# --- The review ------------------------------------------------------------------------

def test_result_is_required(agent, done):
    for result in ("", "great"):
        with pytest.raises(DomainError) as error:
            review.change_review_save(actor=agent, change=done, result=result)
        assert list(error.value.fields) == ["result"]
    assert not ChangeReview.objects.exists()


@pytest.mark.parametrize("state", [ChangeState.NEW, ChangeState.ASSESS,
                                   ChangeState.AUTHORIZE, ChangeState.SCHEDULED,
                                   ChangeState.CANCELLED])
def test_only_implemented_changes_are_reviewed(agent, manager, state):
    change = make_change(manager, state=state)
    with pytest.raises(DomainError) as error:
        review.change_review_save(actor=agent, change=change, result="successful")
    assert error.value.code == "not_reviewable"


def test_a_draft_then_completed_review(agent, done):
    draft = review.change_review_save(actor=agent, change=done, result="successful",
                                      deviations="Took longer", lessons="")
    assert draft.completed_at is None and draft.reviewer is None
    completed = review.change_review_save(actor=agent, change=done, result="successful",
                                          deviations="Took longer", lessons="Rehearse",
                                          complete=True)
    assert completed.pk == draft.pk
    assert completed.completed_at is not None and completed.reviewer == agent
    assert completed.lessons == "Rehearse"
    entries = AuditEntry.objects.filter(object_id=str(done.pk), message__startswith="Review")
    assert [e.message for e in entries.order_by("id")] == ["Review saved", "Review completed"]
    assert "Post-implementation review completed: Successful." in notes(done)


def test_completing_with_a_failed_result_sets_the_change_result(agent, done):
    review.change_review_save(actor=agent, change=done, result=ChangeResult.FAILED,
                              deviations="The migration broke", complete=True)
    done.refresh_from_db()
    assert done.result == ChangeResult.FAILED
    entry = AuditEntry.objects.get(object_id=str(done.pk), message="Result set by the review")
    assert entry.changes == {"result": ["successful", "failed"]}
    # The close guard for failed changes is now met.
    CHANGE_WORKFLOW.check(done, "closed", agent, {})


def test_a_failed_change_cannot_close_before_its_review_is_completed(agent, done):
    Change.objects.filter(pk=done.pk).update(result=ChangeResult.BACKED_OUT)
    done.refresh_from_db()
    review.change_review_save(actor=agent, change=done, result=ChangeResult.BACKED_OUT)
    with pytest.raises(DomainError) as error:
        CHANGE_WORKFLOW.check(done, "closed", agent, {})
    assert "review" in error.value.fields


def test_a_draft_does_not_change_the_result(agent, done):
    review.change_review_save(actor=agent, change=done, result=ChangeResult.FAILED)
    done.refresh_from_db()
    assert done.result == ChangeResult.SUCCESSFUL


def test_a_completed_review_is_edited_by_change_managers_only(agent, manager, done):
    review.change_review_save(actor=agent, change=done, result="successful", complete=True)
    with pytest.raises(NotPermitted):
        review.change_review_save(actor=agent, change=done, result="failed")
    edited = review.change_review_save(actor=manager, change=done, result="failed",
                                       lessons="Found later")
    assert edited.completed_at is not None and edited.reviewer == agent
    done.refresh_from_db()
    assert done.result == ChangeResult.FAILED


def test_requesters_cannot_review(requester, done):
    with pytest.raises(NotPermitted):
        review.change_review_save(actor=requester, change=done, result="successful")


# --- Suggested caused incidents --------------------------------------------------------

def test_suggestions_in_and_out_of_the_window(agent, done, database):
    during = make_incident(agent, title="During", ci=database, created_at=START + HOUR)
    after = make_incident(agent, title="After", ci=database, created_at=START + 10 * HOUR)
    make_incident(agent, title="Before", ci=database, created_at=START - HOUR)
    make_incident(agent, title="Too late", ci=database, created_at=START + 60 * HOUR)
    make_incident(agent, title="Elsewhere", ci=ci("other"), created_at=START + HOUR)
    found = review.caused_incident_suggestions(done)
    assert [i.pk for i in found] == [during.pk, after.pk]
    assert found[0].why == "On db-01, affected by the change; opened during the change window."
    assert found[1].why.startswith("On db-01, affected by the change; opened 8.0 h after")


def test_suggestions_follow_services_and_direct_relations(agent, manager, done, database):
    app = ci("erp-app")
    depends(app, database)
    far = ci("far")
    depends(far, app)  # two links away: not suggested
    service = ci("ERP", "business_service")
    done.services.add(service)
    related = make_incident(agent, title="App errors", ci=app, created_at=START + HOUR)
    on_service = make_incident(agent, title="ERP down", service=service,
                               created_at=START + 2 * HOUR)
    make_incident(agent, title="Far", ci=far, created_at=START + HOUR)
    found = review.caused_incident_suggestions(done)
    assert [i.pk for i in found] == [related.pk, on_service.pk]
    assert found[0].why.startswith("On erp-app, directly related to db-01")
    assert found[1].why.startswith("On ERP, affected by the change")


def test_the_window_uses_planned_times_and_the_setting(agent, manager, database):
    from changes.risk import change_settings_update

    change = make_change(manager, state=ChangeState.IMPLEMENT, cis=[database],
                         planned_start=START, planned_end=START + HOUR)
    late = make_incident(agent, ci=database, created_at=START + 30 * HOUR)
    assert [i.pk for i in review.caused_incident_suggestions(change)] == [late.pk]
    change_settings_update(actor=manager, review_window_hours=24)
    assert review.caused_incident_suggestions(change) == []


def test_no_start_no_suggestions(agent, manager, database):
    change = make_change(manager, state=ChangeState.IMPLEMENT, cis=[database])
    make_incident(agent, ci=database)
    assert review.caused_incident_suggestions(change) == []


# --- Marking ---------------------------------------------------------------------------

def test_mark_and_unmark(agent, done, database):
    incident = make_incident(agent, title="During", ci=database, created_at=START + HOUR)
    review.change_mark_caused(actor=agent, change=done, incident=incident)
    assert list(done.caused_incidents.all()) == [incident]
    assert review.caused_incident_suggestions(done) == []
    assert f"Caused {incident.number}: During" in notes(done)
    assert f"Caused by change {done.number}: {done.title}" in notes(incident)
    assert AuditEntry.objects.filter(object_id=str(done.pk),
                                     changes__caused_incidents=[None, incident.number]).exists()
    with pytest.raises(Conflict) as error:
        review.change_mark_caused(actor=agent, change=done, incident=incident)
    assert list(error.value.fields) == ["incident"]
    review.change_unmark_caused(actor=agent, change=done, incident=incident)
    assert not done.caused_incidents.exists()
    assert [i.pk for i in review.caused_incident_suggestions(done)] == [incident.pk]
    with pytest.raises(Conflict):
        review.change_unmark_caused(actor=agent, change=done, incident=incident)
    assert f"No longer marked as caused by change {done.number}." in notes(incident)


def test_marking_needs_an_implemented_change(agent, manager):
    change = make_change(manager, state=ChangeState.SCHEDULED)
    incident = make_incident(agent)
    with pytest.raises(DomainError):
        review.change_mark_caused(actor=agent, change=change, incident=incident)
    assert not Incident.objects.get(pk=incident.pk).caused_by_changes.exists()
