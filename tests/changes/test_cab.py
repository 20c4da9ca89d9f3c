# ruff: noqa: F811 (fixtures imported from test_approvals are used as arguments)
"""CAB meetings through the services: creating one (field-named refusals), the agenda
built from the changes awaiting authorisation in a date range, adding and removing
items, decisions (approved overrides the open round), minutes and holding."""

import datetime

import pytest
from django.utils import timezone

from changes import cab as cab_services
from changes.models import ApprovalState, CabDecision, CabMeetingStatus
from itsm.errors import Conflict, DomainError, NotPermitted
from tests.changes.test_approvals import (  # noqa: F401 (fixtures)
    cab,
    current_round,
    make_change,
    make_policy,
    manager,
    owner,
    to_authorize,
)

NOW = timezone.now()


def meeting_for(manager, *, days=(0, 7), chair=None, **fields):
    values = {"title": "Weekly CAB", "starts_at": NOW + datetime.timedelta(hours=1),
              "ends_at": NOW + datetime.timedelta(hours=2),
              "agenda_from": NOW + datetime.timedelta(days=days[0]),
              "agenda_to": NOW + datetime.timedelta(days=days[1]), "chair": chair}
    values.update(fields)
    return cab_services.cab_meeting_create(actor=manager, **values)


def test_meeting_create_refuses_bad_ranges(manager, cab):
    with pytest.raises(DomainError) as error:
        meeting_for(manager, ends_at=NOW)
    assert "ends_at" in error.value.fields
    with pytest.raises(DomainError) as error:
        meeting_for(manager, agenda_to=NOW - datetime.timedelta(days=1))
    assert "agenda_to" in error.value.fields
    with pytest.raises(DomainError) as error:
        meeting_for(manager, title=" ")
    assert "title" in error.value.fields
    with pytest.raises(NotPermitted):
        meeting_for(cab[0])
    meeting = meeting_for(manager, chair=cab[0], location="Room 4")
    assert meeting.status == CabMeetingStatus.PLANNED and meeting.created_by == manager


def test_agenda_built_from_the_date_range(manager, owner, cab):
    make_policy(people=cab[:2], rule="all")
    later = to_authorize(make_change(owner, title="Later", start_in=datetime.timedelta(days=5)))
    sooner = to_authorize(make_change(owner, title="Sooner",
                                      start_in=datetime.timedelta(days=2)))
    to_authorize(make_change(owner, title="Next month", start_in=datetime.timedelta(days=30)))
    make_change(owner, title="Not submitted", start_in=datetime.timedelta(days=3))
    meeting = meeting_for(manager)
    added = cab_services.cab_agenda_build(actor=manager, meeting=meeting)
    assert [item.change for item in added] == [sooner, later]
    assert cab_services.cab_agenda_build(actor=manager, meeting=meeting) == []
    assert meeting.items.count() == 2


def test_agenda_includes_changes_needing_a_cab(manager, owner, cab):
    make_policy(people=cab[:2], rule="all", cab=True)
    far = to_authorize(make_change(owner, title="Far", start_in=datetime.timedelta(days=40)))
    meeting = meeting_for(manager)
    assert [i.change for i in cab_services.cab_agenda_build(actor=manager,
                                                            meeting=meeting)] == [far]


def test_item_add_and_remove(manager, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner, start_in=datetime.timedelta(days=40)))
    meeting = meeting_for(manager)
    item = cab_services.cab_item_add(actor=manager, meeting=meeting, change=change)
    with pytest.raises(Conflict) as error:
        cab_services.cab_item_add(actor=manager, meeting=meeting, change=change)
    assert "change" in error.value.fields
    cab_services.cab_item_remove(actor=manager, item=item)
    assert not meeting.items.exists()


def test_cab_decision_approves_the_change(manager, owner, cab):
    make_policy(people=cab[:3], rule="all")
    change = to_authorize(make_change(owner))
    meeting = meeting_for(manager, chair=cab[3])
    (item,) = cab_services.cab_agenda_build(actor=manager, meeting=meeting)
    with pytest.raises(NotPermitted):
        cab_services.cab_record_decision(actor=cab[0], item=item, decision="approved")
    item = cab_services.cab_record_decision(actor=cab[3], item=item, decision="approved",
                                            notes="Low blast radius.")
    change.refresh_from_db()
    round_ = current_round(change)
    assert item.decision == CabDecision.APPROVED and item.decided_at
    assert round_.state == ApprovalState.APPROVED
    assert round_.overridden_by == cab[3]
    assert round_.override_reason.startswith("CAB Weekly CAB")
    assert change.state == "scheduled"
    with pytest.raises(Conflict):
        cab_services.cab_record_decision(actor=manager, item=item, decision="rejected",
                                         notes="x")
    with pytest.raises(Conflict):
        cab_services.cab_item_remove(actor=manager, item=item)


def test_cab_rejection_and_deferral(manager, owner, cab):
    make_policy(people=cab[:2], rule="all")
    deferred = to_authorize(make_change(owner, title="A"))
    rejected = to_authorize(make_change(owner, title="B"))
    meeting = meeting_for(manager)
    items = {i.change_id: i for i in cab_services.cab_agenda_build(actor=manager,
                                                                   meeting=meeting)}
    with pytest.raises(DomainError) as error:
        cab_services.cab_record_decision(actor=manager, item=items[rejected.pk],
                                         decision="rejected")
    assert "notes" in error.value.fields
    cab_services.cab_record_decision(actor=manager, item=items[rejected.pk],
                                     decision="rejected", notes="Needs a test plan.")
    cab_services.cab_record_decision(actor=manager, item=items[deferred.pk],
                                     decision="deferred")
    rejected.refresh_from_db()
    deferred.refresh_from_db()
    assert rejected.state == "assess"
    assert deferred.state == "authorize"
    assert current_round(deferred).state == ApprovalState.PENDING
    with pytest.raises(DomainError) as error:
        cab_services.cab_record_decision(actor=manager, item=items[deferred.pk],
                                         decision="pending")
    assert "decision" in error.value.fields


def test_minutes_and_hold(manager, cab):
    meeting = meeting_for(manager, chair=cab[0])
    with pytest.raises(NotPermitted):
        cab_services.cab_minutes_save(actor=cab[1], meeting=meeting, minutes="x")
    meeting = cab_services.cab_minutes_save(actor=cab[0], meeting=meeting,
                                            minutes="All approved.")
    assert meeting.minutes == "All approved."
    meeting = cab_services.cab_meeting_hold(actor=cab[0], meeting=meeting)
    assert meeting.status == CabMeetingStatus.HELD
    with pytest.raises(Conflict) as error:
        cab_services.cab_meeting_hold(actor=manager, meeting=meeting)
    assert "status" in error.value.fields
    with pytest.raises(Conflict):
        cab_services.cab_agenda_build(actor=manager, meeting=meeting)
