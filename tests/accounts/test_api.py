import datetime

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, Team
from audit.models import AuditEntry
from tests.factories import MembershipFactory, TeamFactory, UserFactory


def bearer(api, user, **kwargs):
    _token, raw = services.api_token_create(actor=user, user=user, name="test", **kwargs)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return raw


def assert_error(response, status, code=None, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["message"]
    if code:
        assert body["code"] == code
    if field:
        assert field in body["fields"], body
    return body


# --- Authentication -------------------------------------------------------------------

def test_no_credentials_is_401_in_the_error_shape(api, db):
    assert_error(api.get("/api/v1/users/me/"), 401, "not_authenticated")


def test_token_authenticates_and_is_stored_hashed(api, requester):
    raw = bearer(api, requester)
    response = api.get("/api/v1/users/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "req1"
    stored = ApiToken.objects.get(user=requester)
    assert raw not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    assert stored.last_used_at is not None


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer", "Bearer a b"])
def test_bad_tokens_are_refused(api, db, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    assert_error(api.get("/api/v1/users/me/"), 401)


def test_revoked_token_stops_working(api, requester):
    raw = bearer(api, requester)
    token = ApiToken.objects.get(user=requester)
    services.api_token_revoke(actor=requester, token=token)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = assert_error(api.get("/api/v1/users/me/"), 401, "authentication_failed")
    assert "revoked" in body["message"]


def test_expired_token_stops_working(api, requester):
    raw = bearer(api, requester, expires_at=timezone.now() + datetime.timedelta(hours=1))
    ApiToken.objects.filter(user=requester).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error(api.get("/api/v1/users/me/"), 401)


def test_token_of_deactivated_user_is_refused(api, requester):
    bearer(api, requester)
    requester.is_active = False
    requester.save()
    assert_error(api.get("/api/v1/users/me/"), 401)


def test_session_auth_works_for_the_browser(client, requester):
    client.force_login(requester)
    assert client.get("/api/v1/users/me/").json()["username"] == "req1"


# --- Tokens endpoint ------------------------------------------------------------------

def test_create_list_revoke_tokens_through_the_api(api, requester):
    api.force_authenticate(requester)
    created = api.post("/api/v1/tokens/", {"name": "monitoring"}, format="json")
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("itsm_")
    listed = api.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["monitoring"]
    assert "token" not in listed[0]
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.delete(f"/api/v1/tokens/{created.json()['id']}/").status_code == 204
    token = ApiToken.objects.get(pk=created.json()["id"])
    assert token.revoked_at is not None  # kept for the audit trail
    assert AuditEntry.objects.filter(object_id=str(token.pk), action="update").exists()


def test_people_see_only_their_own_tokens(api, requester):
    other = UserFactory()
    services.api_token_create(actor=other, user=other, name="theirs")
    api.force_authenticate(requester)
    assert api.get("/api/v1/tokens/").json()["results"] == []
    their_id = ApiToken.objects.get(user=other).pk
    assert_error(api.delete(f"/api/v1/tokens/{their_id}/"), 404, "not_found")
    assert ApiToken.objects.get(pk=their_id).revoked_at is None


def test_token_needs_a_name_and_a_future_expiry(api, requester):
    api.force_authenticate(requester)
    assert_error(api.post("/api/v1/tokens/", {}, format="json"), 400, "invalid", "name")
    past = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert_error(api.post("/api/v1/tokens/", {"name": "x", "expires_at": past}, format="json"),
                 400, field="expires_at")
    assert not ApiToken.objects.exists()


# --- Users ----------------------------------------------------------------------------

def test_requesters_cannot_list_the_directory(api, requester):
    api.force_authenticate(requester)
    assert_error(api.get("/api/v1/users/"), 403, "permission_denied")


def test_me_patch_changes_own_details_but_not_privileged_fields(api, requester):
    api.force_authenticate(requester)
    response = api.patch("/api/v1/users/me/", {"phone": "+44 1", "time_zone": "Asia/Tokyo",
                                               "vip": True}, format="json")
    assert response.status_code == 200
    requester.profile.refresh_from_db()
    assert requester.profile.phone == "+44 1" and requester.profile.time_zone == "Asia/Tokyo"
    assert requester.profile.vip is False  # read-only for oneself


def test_me_patch_with_bad_time_zone_names_the_field(api, requester):
    api.force_authenticate(requester)
    assert_error(api.patch("/api/v1/users/me/", {"time_zone": "Nowhere"}, format="json"),
                 400, "invalid", "time_zone")


def test_admin_creates_and_edits_people_via_api(api, admin_user):
    api.force_authenticate(admin_user)
    created = api.post("/api/v1/users/", {
        "username": "newbie", "email": "n@example.com", "first_name": "New",
        "roles": ["resolver"], "location": "Leeds", "password": "a-long-password-1",
    }, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["roles"] == ["resolver"] and data["location"] == "Leeds"
    assert "password" not in data
    updated = api.patch(f"/api/v1/users/{data['id']}/", {"vip": True, "roles": ["cab_member"]},
                        format="json")
    assert updated.json()["vip"] is True and updated.json()["roles"] == ["cab_member"]
    duplicate = api.post("/api/v1/users/", {"username": "newbie"}, format="json")
    assert_error(duplicate, 409, "conflict", "username")


def test_agent_cannot_edit_people(api, agent, requester):
    api.force_authenticate(agent)
    assert_error(api.patch(f"/api/v1/users/{requester.pk}/", {"vip": True}, format="json"), 403)
    requester.profile.refresh_from_db()
    assert requester.profile.vip is False


def test_unknown_role_names_the_field(api, admin_user):
    api.force_authenticate(admin_user)
    body = assert_error(api.post("/api/v1/users/", {"username": "x", "roles": ["wizard"]},
                                 format="json"), 400, "invalid")
    assert any(name.startswith("roles") for name in body["fields"])


def test_user_list_filters_and_cursor_pagination(api, agent):
    team = TeamFactory(name="Net")
    for index in range(5):
        MembershipFactory(team=team, user=UserFactory(username=f"net{index}"))
    api.force_authenticate(agent)
    first = api.get("/api/v1/users/", {"team": team.pk, "page_size": 2}).json()
    assert [u["username"] for u in first["results"]] == ["net0", "net1"]
    assert "count" not in first  # no COUNT(*) on large lists
    second = api.get(first["next"]).json()
    assert [u["username"] for u in second["results"]] == ["net2", "net3"]
    found = api.get("/api/v1/users/", {"q": "net3"}).json()["results"]
    assert [u["username"] for u in found] == ["net3"]


def test_unknown_filter_value_is_400_naming_the_filter(api, agent):
    api.force_authenticate(agent)
    assert_error(api.get("/api/v1/users/", {"team": "999999"}), 400, "invalid", "team")
    assert_error(api.get("/api/v1/users/", {"role": "wizard"}), 400, "invalid", "role")


def test_user_list_query_count_does_not_grow_with_rows(api, agent, django_assert_max_num_queries):
    for _ in range(30):
        MembershipFactory()
    api.force_authenticate(agent)
    with django_assert_max_num_queries(10):
        response = api.get("/api/v1/users/")
    assert len(response.json()["results"]) >= 30


# --- Teams ----------------------------------------------------------------------------

def test_team_crud_and_members_via_api(api, admin_user):
    person = UserFactory()
    api.force_authenticate(admin_user)
    created = api.post("/api/v1/teams/", {"name": "DBA", "email": "dba@example.com"},
                       format="json")
    assert created.status_code == 201
    team_id = created.json()["id"]
    added = api.post(f"/api/v1/teams/{team_id}/members/add/", {"user": person.pk},
                     format="json")
    assert added.status_code == 201 and [u["id"] for u in added.json()] == [person.pk]
    again = api.post(f"/api/v1/teams/{team_id}/members/add/", {"user": person.pk},
                     format="json")
    assert_error(again, 409, "conflict", "user")
    assert api.get(f"/api/v1/teams/{team_id}/").json()["member_count"] == 1
    api.post(f"/api/v1/teams/{team_id}/members/remove/", {"user": person.pk}, format="json")
    assert Team.objects.get(pk=team_id).members.count() == 0
    assert_error(api.post("/api/v1/teams/", {"name": "DBA"}, format="json"), 400,
                 field="name")


def test_teams_cannot_be_deleted_through_the_api(api, admin_user):
    team = TeamFactory()
    api.force_authenticate(admin_user)
    assert_error(api.delete(f"/api/v1/teams/{team.pk}/"), 405, "method_not_allowed")
    assert Team.objects.filter(pk=team.pk).exists()


# --- Malformed input and limits -------------------------------------------------------

def test_malformed_json_is_400_and_writes_nothing(api, admin_user):
    api.force_authenticate(admin_user)
    response = api.post("/api/v1/teams/", data='{"name": "Broken"',
                        content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert not Team.objects.filter(name="Broken").exists()


def test_unknown_api_path_is_json_404(client, db):
    body = assert_error(client.get("/api/v1/nothing-here/"), 404, "not_found")
    assert body["fields"] == {}


def test_throttling_answers_429_in_the_error_shape(api, requester, monkeypatch):
    from rest_framework.settings import api_settings

    from itsm.api.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES",
                        {**api_settings.DEFAULT_THROTTLE_RATES, "user": "3/min"})
    clock = [600.0]  # the start of a one-minute window
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: clock[0])
    api.force_authenticate(requester)
    statuses = [api.get("/api/v1/users/me/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    clock[0] = 615.0
    response = api.get("/api/v1/users/me/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) == 45  # until the window ends
    api.force_authenticate(UserFactory(username="someone-else"))
    assert api.get("/api/v1/users/me/").status_code == 200  # counted per person
    api.force_authenticate(requester)
    clock[0] = 660.0  # the next window
    assert api.get("/api/v1/users/me/").status_code == 200


def test_boolean_filters_take_true_and_false(api, agent):
    vip = UserFactory(username="bigwig")
    services.user_update(actor=None, user=vip, vip=True)
    api.force_authenticate(agent)
    found = [u["username"] for u in api.get("/api/v1/users/", {"vip": "true"}).json()["results"]]
    assert found == ["bigwig"]
    others = api.get("/api/v1/users/", {"vip": "false"}).json()["results"]
    assert "bigwig" not in [u["username"] for u in others] and others
