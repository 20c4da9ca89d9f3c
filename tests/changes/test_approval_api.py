# ruff: noqa: F811 (fixtures imported from test_approvals are used as arguments)
"""The approvals API: the caller's tasks (filtered), approve / reject / request-info with
the error shape, a change's rounds, override and provide-info; approval policies (CRUD
for change managers, field errors); CAB meetings (create, build the agenda, decisions,
minutes, hold)."""

import datetime

from django.utils import timezone

from changes.models import ApprovalPolicy, ApprovalState
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

TASKS = "/api/v1/changes/approvals/"
POLICIES = "/api/v1/changes/approval-policies/"
MEETINGS = "/api/v1/changes/cab-meetings/"


def as_user(api, user):
    api.force_authenticate(user)
    return api


def test_my_tasks_only_and_filtered(api, owner, cab):
    make_policy(people=cab[:2], rule="all")
    first = to_authorize(make_change(owner, title="First"))
    second = to_authorize(make_change(owner, title="Second"))
    vote(first, cab[0])
    body = as_user(api, cab[0]).get(TASKS).json()
    assert {row["change"]["number"] for row in body["results"]} == {first.number, second.number}
    pending = api.get(TASKS, {"state": "pending"}).json()["results"]
    assert [row["change"]["number"] for row in pending] == [second.number]
    row = pending[0]
    assert row["round"]["rule"] == "all" and row["round"]["required_count"] == 2
    assert row["approvals"] == 0 and row["approvers"] == 2
    as_user(api, cab[2])
    assert api.get(TASKS).json()["results"] == []


def test_approve_action(api, owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    response = as_user(api, cab[0]).post(f"{TASKS}{task.pk}/approve/", {})
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "approved"
    assert response.json()["change"]["state"] == "scheduled"


def test_reject_without_comment_is_the_error_shape(api, owner, cab):
    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    response = as_user(api, cab[0]).post(f"{TASKS}{task.pk}/reject/", {"comment": ""})
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"code", "message", "fields"} and "comment" in body["fields"]
    response = api.post(f"{TASKS}{task.pk}/request-info/", {"comment": "Which hosts?"})
    assert response.status_code == 200 and response.json()["state"] == "info_requested"


def test_second_vote_is_409(api, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    as_user(api, cab[0])
    assert api.post(f"{TASKS}{task.pk}/approve/", {}).status_code == 200
    response = api.post(f"{TASKS}{task.pk}/reject/", {"comment": "Oops"})
    assert response.status_code == 409
    assert response.json()["code"] == "already_voted"


def test_someone_elses_task_is_404(api, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner))
    task = task_for(change, cab[0])
    assert as_user(api, cab[1]).post(f"{TASKS}{task.pk}/approve/", {}).status_code == 404


def test_rounds_of_a_change(api, owner, cab, business):
    make_policy(people=[cab[0], business], rule="all")
    change = to_authorize(make_change(owner))
    vote(change, cab[0], "approve", "Fine")
    for user in (cab[0], business, owner):  # desk, business approver, requester
        response = as_user(api, user).get(f"{TASKS}changes/{change.pk}/")
        assert response.status_code == 200, user
        (round_,) = response.json()
        assert round_["approvals"] == 1 and round_["required_count"] == 2
        assert {t["state"] for t in round_["tasks"]} == {"approved", "pending"}
    stranger = make_change(cab[3]).requester  # a desk user sees every change
    assert as_user(api, stranger).get(f"{TASKS}changes/{change.pk}/").status_code == 200


def test_rounds_hidden_from_non_desk_strangers(api, owner, cab):
    from tests.factories import UserFactory

    make_policy(people=cab[:1])
    change = to_authorize(make_change(owner))
    outsider = UserFactory(username="outsider", roles=["requester"])
    assert as_user(api, outsider).get(f"{TASKS}changes/{change.pk}/").status_code == 404


def test_override_and_provide_info(api, owner, implementer, cab, manager):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner, assignee=implementer))
    vote(change, cab[0], "info", "Which hosts?")
    response = as_user(api, implementer).post(f"{TASKS}changes/{change.pk}/provide-info/",
                                              {"body": "web-01"})
    assert response.status_code == 200 and response.json()[0]["state"] == "pending"
    response = as_user(api, cab[1]).post(f"{TASKS}changes/{change.pk}/override/",
                                         {"decision": "approve", "reason": "x"})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = as_user(api, manager).post(f"{TASKS}changes/{change.pk}/override/",
                                          {"decision": "approve", "reason": ""})
    assert response.status_code == 400 and "reason" in response.json()["fields"]
    response = api.post(f"{TASKS}changes/{change.pk}/override/",
                        {"decision": "approve", "reason": "Risk accepted"})
    assert response.status_code == 200
    assert response.json()[0]["state"] == "approved"
    assert response.json()[0]["overridden_by"] == manager.pk


# --- Policies ----------------------------------------------------------------------------


def test_policy_crud(api, manager, cab):
    as_user(api, manager)
    response = api.post(POLICIES, {"name": "N", "rule": "n_of_m", "people": [cab[0].pk]})
    assert response.status_code == 400 and "required_count" in response.json()["fields"]
    response = api.post(POLICIES, {"name": "Nobody", "rule": "any"})
    assert response.status_code == 400 and "groups" in response.json()["fields"]
    response = api.post(POLICIES, {"name": "High", "rule": "n_of_m", "required_count": 2,
                                   "risk_levels": ["high"], "people": [c.pk for c in cab]})
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = api.patch(f"{POLICIES}{pk}/", {"cab": True, "order": 5})
    assert response.status_code == 200 and response.json()["cab"] is True
    assert [p["name"] for p in api.get(POLICIES).json()] == ["High"]
    assert api.delete(f"{POLICIES}{pk}/").status_code == 204
    assert not ApprovalPolicy.objects.exists()


def test_policy_writes_need_manage_changes(api, cab):
    response = as_user(api, cab[0]).post(POLICIES, {"name": "Mine", "people": [cab[0].pk]})
    assert response.status_code == 403
    assert as_user(api, cab[0]).get(POLICIES).status_code == 200


# --- CAB meetings ----------------------------------------------------------------------------


def test_cab_meeting_flow(api, manager, owner, cab):
    make_policy(people=cab[:3], rule="all")
    change = to_authorize(make_change(owner))
    now = timezone.now()
    as_user(api, manager)
    body = {"title": "CAB", "starts_at": now.isoformat(),
            "ends_at": (now - datetime.timedelta(hours=1)).isoformat(),
            "agenda_from": now.isoformat(),
            "agenda_to": (now + datetime.timedelta(days=7)).isoformat()}
    response = api.post(MEETINGS, body)
    assert response.status_code == 400 and "ends_at" in response.json()["fields"]
    body["ends_at"] = (now + datetime.timedelta(hours=1)).isoformat()
    response = api.post(MEETINGS, {**body, "chair": cab[3].pk})
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = api.post(f"{MEETINGS}{pk}/build-agenda/")
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["change"]["number"] == change.number
    response = as_user(api, cab[0]).post(f"{MEETINGS}{pk}/items/{item['id']}/decision/",
                                         {"decision": "approved"})
    assert response.status_code == 403
    response = as_user(api, cab[3]).post(f"{MEETINGS}{pk}/items/{item['id']}/decision/",
                                         {"decision": "approved", "notes": "Go"})
    assert response.status_code == 200
    assert response.json()["items"][0]["decision"] == "approved"
    assert current_round(change).state == ApprovalState.APPROVED
    response = api.post(f"{MEETINGS}{pk}/minutes/", {"minutes": "Done."})
    assert response.json()["minutes"] == "Done."
    response = api.post(f"{MEETINGS}{pk}/hold/")
    assert response.json()["status"] == "held"
    response = api.post(f"{MEETINGS}{pk}/hold/")
    assert response.status_code == 409 and "status" in response.json()["fields"]


def test_cab_items_add_and_remove(api, manager, owner, cab):
    make_policy(people=cab[:2], rule="all")
    change = to_authorize(make_change(owner, start_in=datetime.timedelta(days=60)))
    now = timezone.now()
    as_user(api, manager)
    pk = api.post(MEETINGS, {"title": "CAB", "starts_at": now.isoformat(),
                             "ends_at": (now + datetime.timedelta(hours=1)).isoformat(),
                             "agenda_from": now.isoformat(),
                             "agenda_to": (now + datetime.timedelta(days=7)).isoformat()}
                  ).json()["id"]
    response = api.post(f"{MEETINGS}{pk}/items/", {"change": change.pk})
    assert response.status_code == 201
    item_id = response.json()["items"][0]["id"]
    response = api.post(f"{MEETINGS}{pk}/items/", {"change": change.pk})
    assert response.status_code == 409 and "change" in response.json()["fields"]
    assert api.delete(f"{MEETINGS}{pk}/items/{item_id}/").status_code == 204
    assert api.get(f"{MEETINGS}{pk}/").json()["items"] == []


def test_schema_builds_with_the_approval_routes(api, admin_user):
    response = as_user(api, admin_user).get("/api/schema/")
    assert response.status_code == 200
