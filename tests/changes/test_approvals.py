"""Approvals of changes through the services: the route, the rounds and their rules (any,
all, majority, N of M, rejection once the rule is out of reach), segregation of duties,
refused votes, information asked and provided, the change manager's override, what a
decision does to the change (scheduled, or kept in Authorize with a note, or sent back),
emergency changes approved after the fact and the overdue sweep.

The helpers and fixtures here are shared by the other approval test modules."""

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from audit.models import AuditEntry
from changes import approvals
from changes.models import (
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalState,
    ApproverTask,
    Change,
    ChangeSettings,
)
from itsm.errors import Conflict, DomainError, NotPermitted
from notifications.models import Notification
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tickets.models import Activity
from tickets.services import ticket_create, ticket_transition

# --- Shared helpers ---------------------------------------------------------------------


def make_change(requester, *, type="normal", risk="moderate", assignee=None, title=None,
                start_in=datetime.timedelta(days=3), **fields):
    start = timezone.now() + start_in
    values = {"title": title or f"Patch the {type} thing", "type": type, "risk": risk,
              "assignee": assignee, "backout_plan": "Restore the snapshot.",
              "implementation_plan": "Apply the patch.", "justification": "Security fix.",
              "planned_start": start, "planned_end": start + datetime.timedelta(hours=2)}
    values.update(fields)
    return ticket_create(model=Change, actor=None, requester=requester, **values)


def _change_transition():
    try:
        from changes.services import change_transition
    except ImportError:
        return None
    return change_transition


def to_authorize(change):
    """Move a new change to Authorize as the lead's change_transition does (which starts
    the approval round); without it, the ticket transitions plus approval_start."""
    service = _change_transition()
    if change.type == "normal":
        if service:
            service(actor=None, change=change, to_state="assess")
        else:
            ticket_transition(ticket=change, actor=None, to_state="assess")
    if service:
        service(actor=None, change=change, to_state="authorize")
    else:
        ticket_transition(ticket=change, actor=None, to_state="authorize")
        approvals.approval_start(change=change)
    change.refresh_from_db()
    return change


def current_round(change):
    return ApprovalRequest.objects.filter(change=change).order_by("-created_at", "-id").first()


def task_for(change, user):
    return ApproverTask.objects.get(request=current_round(change), approver=user)


def vote(change, user, decision="approve", comment=""):
    return approvals.approval_vote(actor=user, task=task_for(change, user), decision=decision,
                                   comment=comment)


def make_policy(*, people=(), groups=(), rule="any", **fields):
    policy = ApprovalPolicy.objects.create(name=fields.pop("name", f"Policy {rule}"),
                                           rule=rule, **fields)
    policy.people.set(people)
    policy.groups.set(groups)
    return policy


@pytest.fixture
def manager(db):
    return UserFactory(username="cm1", first_name="Carla", last_name="Manager",
                       roles=["change_manager"])


@pytest.fixture
def cab(db):
    return [UserFactory(username=f"cab{n}", roles=["cab_member"]) for n in range(1, 5)]


@pytest.fixture
def business(db):
    """A business approver: no desk access, approves on the portal."""
    return UserFactory(username="biz1", first_name="Bea", roles=["requester"])


@pytest.fixture
def owner(db):
    return UserFactory(username="owner1", roles=["resolver"])


@pytest.fixture
def implementer(db):
    return UserFactory(username="impl1", roles=["resolver"])


# --- The route ----------------------------------------------------------------------------


def test_route_is_the_first_active_policy_matching_type_and_risk(owner, cab):
    make_policy(name="Inactive", people=cab[:1], order=1, is_active=False)
    high = make_policy(name="High", people=cab[:1], order=2, risk_levels=["high"])
    emergency = make_policy(name="Emergency", people=cab[:1], order=3,
                            change_types=["emergency"])
    catch_all = make_policy(name="All", people=cab[:1], order=9)
    assert approvals.approval_route(make_change(owner, risk="high")) == high
    assert approvals.approval_route(make_change(owner, type="emergency", risk="low")) == emergency
    assert approvals.approval_route(make_change(owner, risk="low")) == catch_all


def test_no_policy_falls_back_to_the_change_managers(owner, manager):
    change = to_authorize(make_change(owner))
    round_ = current_round(change)
    assert round_.policy is None and round_.policy_name == "Change manager"
    assert round_.rule == "any" and round_.required_count == 1
    assert [t.approver for t in round_.tasks.all()] == [manager]


def test_start_expands_teams_and_people_once_each_and_notifies(owner, cab, business):
    team = TeamFactory(name="CAB")
    for member in cab[:2]:
        MembershipFactory(team=team, user=member)
    gone = UserFactory(username="gone", roles=["cab_member"], is_active=False)
    MembershipFactory(team=team, user=gone)
    make_policy(people=[cab[0], business], groups=[team], rule="all")
    change = to_authorize(make_change(owner))
    round_ = current_round(change)
    tasks = {t.approver_id: t for t in round_.tasks.all()}
    assert set(tasks) == {cab[0].pk, cab[1].pk, business.pk}
    assert tasks[cab[0].pk].via_team is None  # named in person first
    assert tasks[cab[1].pk].via_team == team
    assert round_.required_count == 3
    desk_note = Notification.objects.get(recipient=cab[1], kind="change.approval")
    assert desk_note.url == f"/desk/changes/{change.pk}/" or desk_note.url.endswith(
        f"/{change.pk}/")
    portal_note = Notification.objects.get(recipient=business, kind="change.approval")
    assert "/portal/" in portal_note.url


def test_segregation_leaves_out_requester_and_implementer(owner, implementer, cab):
    make_policy(people=[owner, implementer, cab[0]], rule="all")
    change = to_authorize(make_change(owner, assignee=implementer))
    assert [t.approver for t in current_round(change).tasks.all()] == [cab[0]]


def test_segregation_waived_when_no_one_else_remains(owner, implementer):
    make_policy(people=[owner, implementer], rule="any")
    change = to_authorize(make_change(owner, assignee=implementer))
    round_ = current_round(change)
    assert {t.approver for t in round_.tasks.all()} == {owner, implementer}
    assert Activity.objects.filter(object_id=change.pk,
                                   body__contains="Segregation of duties waived").exists()


def test_a_round_without_approvers_is_refused(owner):
    make_policy(groups=[TeamFactory(name="Empty")])
    change = make_change(owner)
    ticket_transition(ticket=change, actor=None, to_state="assess")
    ticket_transition(ticket=change, actor=None, to_state="authorize")
    with pytest.raises(DomainError) as error:
        approvals.approval_start(change=change)
    assert "approvers" in error.value.fields


def test_a_new_round_cancels_the_pending_one(owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    first = current_round(change)
    approvals.approval_start(change=change)
    first.refresh_from_db()
    assert first.state == ApprovalState.CANCELLED
    assert set(first.tasks.values_list("state", flat=True)) == {ApprovalState.CANCELLED}
    assert current_round(change).state == ApprovalState.PENDING


# --- Rules --------------------------------------------------------------------------------


def test_any_approves_on_the_first_vote_and_schedules(owner, cab):
    make_policy(people=cab[:3], rule="any")
    change = to_authorize(make_change(owner))
    vote(change, cab[1])
    change.refresh_from_db()
    round_ = current_round(change)
    assert round_.state == ApprovalState.APPROVED and round_.decided_at
    assert change.authorized_at is not None
    assert change.state == "scheduled"
    # The others are no longer asked.
    assert set(round_.tasks.exclude(approver=cab[1]).values_list("state", flat=True)) == {
        ApprovalState.CANCELLED}


def test_all_needs_everyone_and_one_rejection_rejects(owner, cab):
    make_policy(people=cab[:3], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[0])
    vote(change, cab[1])
    assert current_round(change).state == ApprovalState.PENDING
    vote(change, cab[2], "reject", "Not during quarter close.")
    change.refresh_from_db()
    assert current_round(change).state == ApprovalState.REJECTED
    assert change.state == "assess"
    assert change.authorized_at is None


def test_all_approved(owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[0])
    vote(change, cab[1])
    assert current_round(change).state == ApprovalState.APPROVED


def test_majority_of_four_needs_three(owner, cab):
    make_policy(people=cab, rule="majority")
    change = to_authorize(make_change(owner))
    assert current_round(change).required_count == 3
    vote(change, cab[0])
    vote(change, cab[1])
    assert current_round(change).state == ApprovalState.PENDING
    vote(change, cab[2])
    assert current_round(change).state == ApprovalState.APPROVED


def test_majority_rejected_once_unreachable(owner, cab):
    make_policy(people=cab, rule="majority")
    change = to_authorize(make_change(owner))
    vote(change, cab[0], "reject", "Too risky.")
    assert current_round(change).state == ApprovalState.PENDING  # 3 may still approve
    vote(change, cab[1], "reject", "Agreed.")
    assert current_round(change).state == ApprovalState.REJECTED  # 2 left, 3 needed


def test_n_of_m(owner, cab):
    make_policy(people=cab, rule="n_of_m", required_count=2)
    change = to_authorize(make_change(owner))
    assert current_round(change).required_count == 2
    vote(change, cab[0], "reject", "No.")
    vote(change, cab[1], "reject", "No.")
    assert current_round(change).state == ApprovalState.PENDING  # 2 of 2 left
    vote(change, cab[2])
    vote(change, cab[3])
    assert current_round(change).state == ApprovalState.APPROVED


def test_n_of_m_is_capped_at_the_number_of_approvers(owner, cab):
    make_policy(people=cab[:2], rule="n_of_m", required_count=5)
    change = to_authorize(make_change(owner))
    assert current_round(change).required_count == 2


def test_n_of_m_rejected_when_unreachable(owner, cab):
    make_policy(people=cab[:3], rule="n_of_m", required_count=2)
    change = to_authorize(make_change(owner))
    vote(change, cab[0], "reject", "No.")
    vote(change, cab[1], "reject", "No.")
    assert current_round(change).state == ApprovalState.REJECTED


# --- Refused votes ------------------------------------------------------------------------


def test_second_vote_is_a_conflict(owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[0])
    with pytest.raises(Conflict) as error:
        vote(change, cab[0], "reject", "Changed my mind")
    assert error.value.code == "already_voted" and "decision" in error.value.fields


def test_vote_by_someone_not_entitled(owner, cab, manager):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    with pytest.raises(NotPermitted, match="not an approver of this change"):
        approvals.approval_vote(actor=manager, task=task, decision="approve")
    with pytest.raises(NotPermitted, match="another approver"):
        approvals.approval_vote(actor=cab[1], task=task, decision="approve")
    task.refresh_from_db()
    assert task.state == ApprovalState.PENDING


@pytest.mark.parametrize("decision", ["reject", "info"])
def test_reject_and_info_need_a_comment(owner, cab, decision):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    with pytest.raises(DomainError) as error:
        vote(change, cab[0], decision, "  ")
    assert "comment" in error.value.fields
    assert task_for(change, cab[0]).state == ApprovalState.PENDING


def test_unknown_decision(owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    with pytest.raises(DomainError) as error:
        vote(change, cab[0], "maybe")
    assert "decision" in error.value.fields


def test_vote_on_a_decided_or_cancelled_round_is_a_conflict(owner, cab):
    make_policy(people=cab[:2], rule="any")
    change = to_authorize(make_change(owner))
    late = task_for(change, cab[1])
    vote(change, cab[0])
    with pytest.raises(Conflict) as error:
        approvals.approval_vote(actor=cab[1], task=late, decision="approve")
    assert error.value.code == "round_closed"
    other = to_authorize(make_change(owner, title="Second"))
    task = task_for(other, cab[0])
    approvals.approvals_cancel(change=other, reason="Withdrawn")
    with pytest.raises(Conflict):
        approvals.approval_vote(actor=cab[0], task=task, decision="approve")


# --- Information --------------------------------------------------------------------------


def test_info_requested_then_provided_returns_to_pending(owner, implementer, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner, assignee=implementer))
    vote(change, cab[0], "info", "Which servers exactly?")
    round_ = current_round(change)
    assert round_.state == ApprovalState.INFO_REQUESTED
    assert Notification.objects.filter(recipient__in=[owner, implementer],
                                       kind="change.info_requested").count() == 2
    approvals.approval_provide_info(actor=implementer, change=change,
                                    body="web-01 and web-02 only.")
    round_.refresh_from_db()
    assert round_.state == ApprovalState.PENDING
    assert task_for(change, cab[0]).state == ApprovalState.PENDING
    assert Notification.objects.filter(recipient=cab[0], kind="change.approval",
                                       subject__startswith="Information provided").exists()
    assert Activity.objects.filter(object_id=change.pk, kind="comment", public=True,
                                   body="web-01 and web-02 only.").exists()
    vote(change, cab[0])
    vote(change, cab[1])
    assert current_round(change).state == ApprovalState.APPROVED


def test_provide_info_refused_for_strangers_and_when_nothing_asked(owner, cab, business):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    with pytest.raises(Conflict) as error:
        approvals.approval_provide_info(actor=owner, change=change, body="Here it is")
    assert error.value.code == "no_info_requested"
    vote(change, cab[0], "info", "Why now?")
    with pytest.raises(NotPermitted):
        approvals.approval_provide_info(actor=business, change=change, body="Because")
    with pytest.raises(DomainError) as error:
        approvals.approval_provide_info(actor=owner, change=change, body=" ")
    assert "body" in error.value.fields


def test_approver_who_asked_may_then_decide(owner, cab):
    make_policy(people=cab[:1], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[0], "info", "Which servers?")
    with pytest.raises(Conflict):
        vote(change, cab[0], "info", "Again?")
    vote(change, cab[0])
    assert current_round(change).state == ApprovalState.APPROVED


# --- Override -----------------------------------------------------------------------------


def test_override_by_change_manager(owner, cab, manager):
    make_policy(people=cab[:3], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[0])
    round_ = approvals.approval_override(actor=manager, change=change, decision="approve",
                                         reason="Vendor deadline; risk accepted.")
    change.refresh_from_db()
    assert round_.state == ApprovalState.APPROVED
    assert round_.overridden_by == manager
    assert round_.override_reason == "Vendor deadline; risk accepted."
    assert change.state == "scheduled" and change.authorized_at


def test_override_refused_for_others_and_needs_a_reason(owner, cab, manager):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    with pytest.raises(NotPermitted):
        approvals.approval_override(actor=cab[0], change=change, decision="approve",
                                    reason="I say so")
    with pytest.raises(DomainError) as error:
        approvals.approval_override(actor=manager, change=change, decision="approve",
                                    reason="")
    assert "reason" in error.value.fields
    with pytest.raises(DomainError) as error:
        approvals.approval_override(actor=manager, change=change, decision="later",
                                    reason="x")
    assert "decision" in error.value.fields
    assert current_round(change).state == ApprovalState.PENDING


def test_override_reject_sends_back(owner, cab, manager):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    approvals.approval_override(actor=manager, change=change, decision="reject",
                                reason="Clashes with the migration.")
    change.refresh_from_db()
    assert change.state == "assess"
    assert current_round(change).state == ApprovalState.REJECTED


# --- Consequences ---------------------------------------------------------------------------


def test_approved_but_guard_refuses_stays_in_authorize_with_a_note(owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner, backout_plan=""))
    vote(change, cab[0])
    change.refresh_from_db()
    assert current_round(change).state == ApprovalState.APPROVED
    assert change.authorized_at is not None
    assert change.state == "authorize"
    note = Activity.objects.filter(object_id=change.pk, kind="work_note",
                                   body__contains="stays in Authorize").get()
    assert "backout plan" in note.body.lower()


def test_rejection_sends_a_normal_change_back_with_reasons(owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    vote(change, cab[0], "reject", "No rollback test.")
    change.refresh_from_db()
    assert change.state == "assess"
    assert Activity.objects.filter(object_id=change.pk, public=True,
                                   body__contains="No rollback test.").exists()
    assert Notification.objects.filter(recipient=owner, kind="change.rejected").exists()


def test_rejected_emergency_change_stays_and_is_flagged(owner, cab, manager):
    make_policy(people=cab[:1], change_types=["emergency"])
    change = to_authorize(make_change(owner, type="emergency"))
    vote(change, cab[0], "reject", "Not an emergency.")
    change.refresh_from_db()
    assert change.state == "authorize"
    assert Notification.objects.filter(recipient=manager, kind="change.rejected_flag").exists()


def test_cab_policy_marks_the_change(owner, cab):
    make_policy(people=cab[:1], cab=True)
    change = to_authorize(make_change(owner))
    assert change.cab_required is True


def test_emergency_retrospective_approval(owner, cab, implementer):
    ChangeSettings.objects.create(emergency_retro_hours=24)
    make_policy(people=cab[:1], change_types=["emergency"], allow_retrospective=True)
    change = to_authorize(make_change(owner, type="emergency", assignee=implementer,
                                      start_in=datetime.timedelta(minutes=-5)))
    due = change.retro_approval_due
    assert due is not None
    assert abs((due - timezone.now()) - datetime.timedelta(hours=24)) < datetime.timedelta(
        minutes=1)
    # Scheduled and implemented before anyone approved.
    for state in ("scheduled", "implement"):
        service = _change_transition()
        if service:
            service(actor=None, change=change, to_state=state)
        else:
            ticket_transition(ticket=change, actor=None, to_state=state)
    vote(change, cab[0], "approve", "Fine in hindsight.")
    change.refresh_from_db()
    round_ = current_round(change)
    assert round_.state == ApprovalState.APPROVED and round_.retrospective is True
    assert change.authorized_at is not None
    assert change.state == "implement"
    assert change.retro_approval_due == due  # nothing else cleared


def test_overdue_retro_notifies_once(owner, cab, manager):
    make_policy(people=cab[:1], change_types=["emergency"], allow_retrospective=True)
    change = to_authorize(make_change(owner, type="emergency"))
    assert approvals.flag_overdue_retro() == 0  # not due yet
    Change.objects.filter(pk=change.pk).update(
        retro_approval_due=timezone.now() - datetime.timedelta(hours=1))
    from changes.tasks import flag_overdue_retro

    assert flag_overdue_retro() == 1
    assert flag_overdue_retro() == 0
    assert Notification.objects.filter(recipient=manager, kind="change.retro_overdue").count() == 1
    assert AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Change), object_id=str(change.pk),
        changes__has_key=approvals.RETRO_NOTICE_KEY).count() == 1


def test_cancel_closes_pending_rounds(owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    assert approvals.approvals_cancel(change=change, reason="Withdrawn") == 1
    round_ = current_round(change)
    assert round_.state == ApprovalState.CANCELLED
    assert approvals.approvals_cancel(change=change, reason="again") == 0


def test_every_vote_and_decision_is_audited(owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    vote(change, cab[0])
    task_ct = ContentType.objects.get_for_model(ApproverTask)
    round_ct = ContentType.objects.get_for_model(ApprovalRequest)
    assert AuditEntry.objects.filter(content_type=task_ct, actor_id=cab[0].pk).exists()
    assert AuditEntry.objects.filter(content_type=round_ct,
                                     object_id=str(current_round(change).pk)).count() >= 2


# --- Policies -------------------------------------------------------------------------------


def test_policy_create_and_update_validate_fields(manager, cab):
    with pytest.raises(DomainError) as error:
        approvals.policy_create(actor=manager, name="N", rule="n_of_m", people=cab[:2])
    assert "required_count" in error.value.fields
    with pytest.raises(DomainError) as error:
        approvals.policy_create(actor=manager, name="Nobody", rule="any")
    assert {"groups", "people"} <= set(error.value.fields)
    with pytest.raises(DomainError) as error:
        approvals.policy_create(actor=manager, name="Bad", change_types=["huge"],
                                people=cab[:1])
    assert "change_types" in error.value.fields
    policy = approvals.policy_create(actor=manager, name="High risk", rule="n_of_m",
                                     required_count=2, risk_levels=["very_high", "high"],
                                     people=cab[:3])
    assert policy.risk_levels == ["high", "very_high"]
    policy = approvals.policy_update(actor=manager, policy=policy, rule="any")
    assert policy.required_count is None
    with pytest.raises(DomainError) as error:
        approvals.policy_update(actor=manager, policy=policy, people=[])
    assert "people" in error.value.fields
    with pytest.raises(NotPermitted):
        approvals.policy_create(actor=cab[0], name="Mine", people=cab[:1])
