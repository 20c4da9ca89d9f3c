# ruff: noqa: F811 (fixtures imported from test_approvals are used as arguments)
"""Desk pages of approvals: the inbox (render, vote, htmx row swap, errors at the field,
bounded queries), the approvals panel and its forms (vote, override, provide
information), approval policies (list, create, edit, field errors, who may) and CAB
meetings (create, build the agenda, record a decision, minutes, hold)."""

import datetime

from django.urls import reverse
from django.utils import timezone

from changes.models import ApprovalPolicy, ApprovalState, CabMeeting
from tests.changes.test_approvals import (  # noqa: F401 (fixtures)
    business,
    cab,
    current_round,
    implementer,
    make_change,
    make_policy,
    manager,
    owner,
    task_for,
    to_authorize,
    vote,
)
from tests.factories import TeamFactory


def signed_in(client, user):
    client.force_login(user)
    return client


def detail_url(change):
    return reverse("changes:detail", args=[change.pk])


# --- Inbox ---------------------------------------------------------------------------------


def test_inbox_lists_pending_tasks_with_progress(client, owner, cab):
    make_policy(name="Normal changes", people=cab[:3], rule="majority")
    change = to_authorize(make_change(owner, title="Rotate TLS certificates"))
    vote(change, cab[1])
    other = to_authorize(make_change(owner, title="Not mine"))
    vote(other, cab[0])
    page = signed_in(client, cab[0]).get(reverse("changes:approval_inbox"))
    assert page.status_code == 200
    html = page.content.decode()
    assert change.number in html and "Rotate TLS certificates" in html
    assert "Normal changes" in html and "A majority" in html
    assert "1 of 2" in html  # one approval of the two needed
    assert other.number not in html  # already voted


def test_inbox_needs_desk_access(client, business):
    assert signed_in(client, business).get(reverse("changes:approval_inbox")).status_code == 403


def test_inbox_vote_redirects_and_records(client, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    response = signed_in(client, cab[0]).post(
        reverse("changes:approval_vote", args=[task.pk]),
        {"decision": "approve", "next": reverse("changes:approval_inbox")})
    assert response.status_code == 302
    assert response["Location"] == reverse("changes:approval_inbox")
    task.refresh_from_db()
    assert task.state == ApprovalState.APPROVED


def test_inbox_reject_without_comment_shows_the_field_error(client, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    response = signed_in(client, cab[0]).post(
        reverse("changes:approval_vote", args=[task.pk]),
        {"decision": "reject", f"task-{task.pk}-comment": ""})
    assert response.status_code == 400
    assert "Say why you reject the change." in response.content.decode()
    task.refresh_from_db()
    assert task.state == ApprovalState.PENDING


def test_inbox_vote_with_htmx_swaps_the_row(client, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    client = signed_in(client, cab[0])
    url = reverse("changes:approval_vote", args=[task.pk])
    bad = client.post(url, {"decision": "info"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200
    assert f'id="approval-task-{task.pk}"' in bad.content.decode()
    assert "Say what information you need." in bad.content.decode()
    good = client.post(url, {"decision": "info", f"task-{task.pk}-comment": "Which hosts?"},
                       HTTP_HX_REQUEST="true")
    assert good.status_code == 200
    assert "Your decision is recorded" in good.content.decode()
    assert current_round(change).state == ApprovalState.INFO_REQUESTED


def test_vote_on_someone_elses_task_is_403(client, owner, cab, manager):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    response = signed_in(client, manager).post(
        reverse("changes:approval_vote", args=[task.pk]), {"decision": "approve"})
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.state == ApprovalState.PENDING


def test_inbox_queries_are_bounded(client, owner, cab, django_assert_max_num_queries):
    make_policy(people=cab[:3], rule="all")
    for n in range(8):
        to_authorize(make_change(owner, title=f"Change {n}"))
    client = signed_in(client, cab[0])
    client.get(reverse("changes:approval_inbox"))  # warm the permission cache
    with django_assert_max_num_queries(12):
        page = client.get(reverse("changes:approval_inbox"))
    assert page.content.decode().count("approval-task-") >= 8


# --- The panel -----------------------------------------------------------------------------


def test_panel_shows_rounds_votes_and_my_buttons(client, owner, cab, manager):
    make_policy(name="CAB policy", people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[1], "info", "Which window?")
    html = signed_in(client, cab[0]).get(detail_url(change)).content.decode()
    assert "CAB policy" in html and "All approvers" in html
    assert "Which window?" in html
    assert reverse("changes:approval_vote", args=[task_for(change, cab[0]).pk]) in html
    assert reverse("changes:approval_override", args=[change.pk]) not in html
    html = signed_in(client, manager).get(detail_url(change)).content.decode()
    assert reverse("changes:approval_override", args=[change.pk]) in html
    assert reverse("changes:approval_provide_info", args=[change.pk]) in html


def test_panel_vote_returns_to_the_change(client, owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    response = signed_in(client, cab[0]).post(
        reverse("changes:approval_vote", args=[task.pk]),
        {"decision": "approve", "next": detail_url(change)})
    assert response.status_code == 302 and response["Location"] == detail_url(change)
    change.refresh_from_db()
    assert change.authorized_at and change.state == "scheduled"


def test_override_view(client, owner, cab, manager):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    url = reverse("changes:approval_override", args=[change.pk])
    assert signed_in(client, cab[0]).post(url, {"decision": "approve",
                                                "reason": "x"}).status_code == 403
    client.logout()
    client = signed_in(client, manager)
    response = client.post(url, {"decision": "approve", "reason": ""})
    assert response.status_code == 302  # the error comes back as a message
    assert current_round(change).state == ApprovalState.PENDING
    response = client.post(url, {"decision": "approve", "reason": "Risk accepted."})
    assert response.status_code == 302 and response["Location"] == detail_url(change)
    assert current_round(change).state == ApprovalState.APPROVED


def test_provide_info_view(client, owner, implementer, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner, assignee=implementer))
    vote(change, cab[0], "info", "Which hosts?")
    response = signed_in(client, implementer).post(
        reverse("changes:approval_provide_info", args=[change.pk]), {"body": "Only web-01."})
    assert response.status_code == 302 and response["Location"] == detail_url(change)
    assert current_round(change).state == ApprovalState.PENDING


# --- Policies ------------------------------------------------------------------------------


def policy_post(**overrides):
    data = {"name": "High risk", "order": 10, "is_active": "on", "rule": "n_of_m",
            "required_count": 2, "risk_levels": ["high", "very_high"]}
    data.update(overrides)
    return data


def test_policy_pages_for_change_managers_only(client, cab, manager):
    assert signed_in(client, cab[0]).get(reverse("changes:policy_list")).status_code == 403
    client.logout()
    client = signed_in(client, manager)
    assert client.get(reverse("changes:policy_list")).status_code == 200
    assert client.get(reverse("changes:policy_create")).status_code == 200


def test_policy_create_with_field_errors_then_success(client, cab, manager):
    client = signed_in(client, manager)
    team = TeamFactory(name="Network CAB")
    bad = client.post(reverse("changes:policy_create"), policy_post(required_count=""))
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "Name at least one approving team or person." in html or \
        "N ≥ 1" in html
    bad = client.post(reverse("changes:policy_create"),
                      policy_post(groups=[team.pk], required_count=""))
    assert bad.status_code == 400 and "N ≥ 1" in bad.content.decode()
    good = client.post(reverse("changes:policy_create"),
                       policy_post(groups=[team.pk], people=[cab[0].pk]))
    assert good.status_code == 302
    policy = ApprovalPolicy.objects.get(name="High risk")
    assert policy.risk_levels == ["high", "very_high"] and policy.required_count == 2
    assert list(policy.groups.all()) == [team] and list(policy.people.all()) == [cab[0]]
    page = client.get(reverse("changes:policy_edit", args=[policy.pk]))
    assert page.status_code == 200 and "High risk" in page.content.decode()
    edited = client.post(reverse("changes:policy_edit", args=[policy.pk]),
                         policy_post(name="High risk v2", rule="any", people=[cab[0].pk],
                                     cab="on"))
    assert edited.status_code == 302
    policy.refresh_from_db()
    assert policy.name == "High risk v2" and policy.cab and policy.required_count is None
    assert "High risk v2" in client.get(reverse("changes:policy_list")).content.decode()


# --- CAB meetings --------------------------------------------------------------------------


def _local(value):
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_cab_pages_end_to_end(client, owner, cab, manager):
    make_policy(people=cab[:3], rule="all")
    change = to_authorize(make_change(owner, title="Upgrade the core switch"))
    now = timezone.now()
    client = signed_in(client, manager)
    assert client.get(reverse("changes:cab_create")).status_code == 200
    bad = client.post(reverse("changes:cab_create"), {
        "title": "CAB", "starts_at": _local(now + datetime.timedelta(hours=2)),
        "ends_at": _local(now + datetime.timedelta(hours=1)),
        "agenda_from": _local(now), "agenda_to": _local(now + datetime.timedelta(days=7))})
    assert bad.status_code == 400
    assert "The meeting must end after it starts." in bad.content.decode()
    response = client.post(reverse("changes:cab_create"), {
        "title": "Weekly CAB", "starts_at": _local(now + datetime.timedelta(hours=1)),
        "ends_at": _local(now + datetime.timedelta(hours=2)), "chair": cab[3].pk,
        "agenda_from": _local(now), "agenda_to": _local(now + datetime.timedelta(days=7))})
    assert response.status_code == 302
    meeting = CabMeeting.objects.get(title="Weekly CAB")
    assert client.post(reverse("changes:cab_build_agenda", args=[meeting.pk])).status_code == 302
    item = meeting.items.get()
    page = client.get(reverse("changes:cab_detail", args=[meeting.pk]))
    assert "Upgrade the core switch" in page.content.decode()
    assert "0 of 3" in page.content.decode()
    assert "Weekly CAB" in client.get(reverse("changes:cab_list")).content.decode()
    bad = client.post(reverse("changes:cab_decision", args=[item.pk]),
                      {f"item-{item.pk}-decision": "rejected", f"item-{item.pk}-notes": ""})
    assert bad.status_code == 400 and "Say why" in bad.content.decode()
    ok = client.post(reverse("changes:cab_decision", args=[item.pk]),
                     {f"item-{item.pk}-decision": "approved",
                      f"item-{item.pk}-notes": "Go."})
    assert ok.status_code == 302
    change.refresh_from_db()
    assert change.state == "scheduled"
    assert client.get(reverse("changes:cab_minutes", args=[meeting.pk])).status_code == 200
    assert client.post(reverse("changes:cab_minutes", args=[meeting.pk]),
                       {"minutes": "Approved the switch upgrade."}).status_code == 302
    assert client.post(reverse("changes:cab_hold", args=[meeting.pk])).status_code == 302
    meeting.refresh_from_db()
    assert meeting.status == "held" and meeting.minutes == "Approved the switch upgrade."


def test_cab_decision_by_a_member_who_is_not_chair_is_403(client, owner, cab, manager):
    from changes import cab as cab_services

    make_policy(people=cab[:2], rule="all")
    to_authorize(make_change(owner))
    now = timezone.now()
    meeting = cab_services.cab_meeting_create(
        actor=manager, title="CAB", starts_at=now, ends_at=now + datetime.timedelta(hours=1),
        agenda_from=now, agenda_to=now + datetime.timedelta(days=7))
    (item,) = cab_services.cab_agenda_build(actor=manager, meeting=meeting)
    response = signed_in(client, cab[0]).post(
        reverse("changes:cab_decision", args=[item.pk]),
        {f"item-{item.pk}-decision": "approved"})
    assert response.status_code == 403
