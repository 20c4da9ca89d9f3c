"""Reads for change approvals and CAB meetings: who the change managers are, an
approver's inbox (one query, progress included), the rounds of a change with their
votes, what a person may see of a change they are asked to approve, and the filter
shared by the desk inbox and the API."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse

from .models import (
    ApprovalRequest,
    ApprovalState,
    ApproverTask,
    CabAgendaItem,
    CabMeeting,
    Change,
)

User = get_user_model()
MANAGE = "changes.manage_changes"
DESK = "accounts.access_desk"
# A round is open (votes are taken) while pending or waiting for information.
OPEN_ROUND = (ApprovalState.PENDING, ApprovalState.INFO_REQUESTED)
# A task may still be decided by its approver.
OPEN_TASK = (ApprovalState.PENDING, ApprovalState.INFO_REQUESTED)


def _url(name: str, pk: int, fallback: str) -> str:
    """The named page, or its conventional path while the URL module that names it is
    not installed (notifications are written by services, outside any request)."""
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return fallback


def change_url(change: Change) -> str:
    return _url("changes:detail", change.pk, f"/desk/changes/{change.pk}/")


def portal_approval_url(change: Change) -> str:
    return _url("portal:approval_detail", change.pk, f"/portal/approvals/{change.pk}/")


# --- People ---------------------------------------------------------------------------

def holders(permission: str) -> QuerySet:
    """Active people holding ``permission`` (through a role, directly, or superusers)."""
    app_label, codename = permission.split(".", 1)
    perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    ids = User.objects.filter(Q(is_superuser=True) | Q(groups__permissions__in=perm)
                              | Q(user_permissions__in=perm)).values("pk")
    return (User.objects.filter(is_active=True, pk__in=ids).select_related("profile")
            .order_by("first_name", "last_name", "username"))


def change_managers() -> QuerySet:
    return holders(MANAGE)


def display_name(user: Any) -> str:
    if user is None:
        return "—"
    profile = getattr(user, "profile", None)
    return (profile.name if profile is not None else "") or user.get_username()


# --- Rounds and tasks -----------------------------------------------------------------

def open_round(change: Change) -> ApprovalRequest | None:
    return (ApprovalRequest.objects.filter(change=change, state__in=OPEN_ROUND)
            .order_by("-created_at", "-id").first())


def rounds_of(change: Change) -> list[ApprovalRequest]:
    """Every round of the change, newest first, each with its tasks and approvers and
    its count of approvals (``approvals``). Three queries whatever the number of rounds."""
    tasks = ApproverTask.objects.select_related("approver__profile", "via_team").order_by("id")
    return list(ApprovalRequest.objects.filter(change=change)
                .select_related("overridden_by__profile")
                .annotate(approvals=Count("tasks", filter=Q(tasks__state=ApprovalState.APPROVED)))
                .prefetch_related(Prefetch("tasks", queryset=tasks))
                .order_by("-created_at", "-id"))


def _approvals_of_round() -> Subquery:
    counted = (ApproverTask.objects.filter(request=OuterRef("request"),
                                           state=ApprovalState.APPROVED)
               .values("request").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _approvers_of_round() -> Subquery:
    counted = (ApproverTask.objects.filter(request=OuterRef("request"))
               .values("request").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def inbox_tasks(user: Any) -> QuerySet[ApproverTask]:
    """The person's tasks still to decide, in open rounds, soonest planned first; each
    with its change and round and the round's progress (``approvals`` so far of its
    ``required_count``; ``approvers`` asked). One query."""
    return (ApproverTask.objects
            .filter(approver=user, state__in=OPEN_TASK, request__state__in=OPEN_ROUND)
            .select_related("request", "request__change")
            .annotate(approvals=_approvals_of_round(), approvers=_approvers_of_round())
            .order_by("request__change__planned_start", "request__change_id", "id"))


def tasks_for_api(user: Any) -> QuerySet[ApproverTask]:
    """All of the person's tasks (any state), for the API."""
    return (ApproverTask.objects.filter(approver=user)
            .select_related("request", "request__change", "approver", "via_team")
            .annotate(approvals=_approvals_of_round(), approvers=_approvers_of_round())
            .order_by("id"))


def task_of(user: Any, change: Change) -> ApproverTask | None:
    """The person's task in the change's open round, if they are asked."""
    if user is None or not user.is_authenticated:
        return None
    return (ApproverTask.objects.filter(approver=user, request__change=change,
                                        request__state__in=OPEN_ROUND)
            .select_related("request").order_by("-id").first())


def is_approver(user: Any, change: Change) -> bool:
    """Asked to approve the change in any round (open or past)."""
    return bool(user is not None and user.is_authenticated and ApproverTask.objects.filter(
        approver=user, request__change=change).exists())


def changes_to_approve(user: Any) -> QuerySet[Change]:
    """Changes the person has been asked to approve: what the portal may show them."""
    asked = ApproverTask.objects.filter(approver=user).values("request__change_id")
    return Change.objects.filter(pk__in=asked)


def can_provide_info(user: Any, change: Change) -> bool:
    return bool(user is not None and user.is_authenticated and (
        user.pk in (change.requester_id, change.assignee_id) or user.has_perm(DESK)))


def segregation_waived(round_: ApprovalRequest, change: Change) -> list[Any]:
    """Approvers of the round who are also the change's requester or implementer:
    there only because no one else could approve (segregation of duties waived)."""
    own = {change.requester_id, change.assignee_id} - {None}
    return [task.approver for task in round_.tasks.all() if task.approver_id in own]


# --- Filters (desk inbox and API) -----------------------------------------------------

class ApproverTaskFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=ApprovalState.choices)
    change = django_filters.NumberFilter(field_name="request__change_id")
    round_state = django_filters.MultipleChoiceFilter(field_name="request__state",
                                                      choices=ApprovalState.choices)

    class Meta:
        model = ApproverTask
        fields = ["state", "change", "round_state"]


# --- CAB ------------------------------------------------------------------------------

def meetings() -> QuerySet[CabMeeting]:
    return (CabMeeting.objects.select_related("chair__profile")
            .annotate(item_count=Count("items")).order_by("-starts_at", "-id"))


def agenda(meeting: CabMeeting) -> list[CabAgendaItem]:
    """The meeting's items with their change and its open round's progress."""
    items = list(meeting.items.select_related("change").order_by("order", "id"))
    change_ids = [item.change_id for item in items]
    rounds: dict[int, ApprovalRequest] = {}
    for round_ in (ApprovalRequest.objects.filter(change_id__in=change_ids)
                   .annotate(approvals=Count("tasks",
                                             filter=Q(tasks__state=ApprovalState.APPROVED)),
                             approvers=Count("tasks"))
                   .order_by("change_id", "-created_at", "-id")):
        rounds.setdefault(round_.change_id, round_)
    for item in items:
        item.round = rounds.get(item.change_id)
    return items


def can_run_meeting(user: Any, meeting: CabMeeting) -> bool:
    """The chair or a change manager records decisions and minutes."""
    return bool(user is not None and (user.has_perm(MANAGE) or (
        meeting.chair_id is not None and meeting.chair_id == user.pk)))
