"""Passwords, activation, CSRF, time zones in the API, keyset audit pages, create_admin."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts import services
from audit.models import AuditEntry
from tests.factories import TeamFactory

User = get_user_model()


def test_api_refuses_weak_passwords_at_the_field(api, admin_user):
    api.force_authenticate(admin_user)
    response = api.post("/api/v1/users/", {"username": "weak", "password": "1234567890"},
                        format="json")
    assert response.status_code == 400
    assert "password" in response.json()["fields"]
    assert not User.objects.filter(username="weak").exists()


def test_api_creates_inactive_people_and_sets_passwords(api, admin_user):
    api.force_authenticate(admin_user)
    created = api.post("/api/v1/users/", {"username": "later", "is_active": False},
                       format="json").json()
    assert created["is_active"] is False
    api.patch(f"/api/v1/users/{created['id']}/", {"password": "a-new-strong-pass-7",
                                                  "is_active": True}, format="json")
    person = User.objects.get(username="later")
    assert person.is_active and person.check_password("a-new-strong-pass-7")
    assert AuditEntry.objects.filter(object_id=str(person.pk),
                                     message="Password set by administrator").exists()


def test_second_service_desk_team_is_a_409_from_the_service(api, admin_user):
    TeamFactory(is_service_desk=True)
    api.force_authenticate(admin_user)
    response = api.post("/api/v1/teams/", {"name": "Desk 2", "is_service_desk": True},
                        format="json")
    assert response.status_code == 409
    assert response.json()["fields"] == {
        "is_service_desk": ["Only one team can be the service desk."]}


def test_session_api_call_without_csrf_has_its_own_code(admin_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/api/v1/teams/", {"name": "No CSRF"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


def test_api_speaks_utc_whatever_the_sign_in(client, admin_user):
    services.user_update(actor=admin_user, user=admin_user, time_zone="Asia/Singapore")
    client.force_login(admin_user)
    _token, raw = services.api_token_create(actor=admin_user, user=admin_user, name="t")
    by_session = client.get("/api/v1/tokens/").json()["results"][0]["created_at"]
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    by_token = token_client.get("/api/v1/tokens/").json()["results"][0]["created_at"]
    assert by_session == by_token and by_session.endswith("Z")


def test_audit_log_pages_by_id_without_counting(client, admin_user,
                                                django_assert_max_num_queries):
    for index in range(60):
        services.team_create(actor=admin_user, name=f"T{index:02d}")
    client.force_login(admin_user)
    with django_assert_max_num_queries(12):
        first = client.get("/desk/audit/", {"action": "create"})
    html = first.content.decode()

    def team(name: str) -> str:  # the row's target, not a timestamp's "T09:…"
        return f"team</span> {name}<"

    assert team("T59") in html and team("T09") not in html
    older = html.split("before=")[1].split('"')[0]
    second = client.get(f"/desk/audit/?action=create&before={older}").content.decode()
    assert team("T09") in second and team("T59") not in second
    assert client.get("/desk/audit/?before=abc").status_code == 400


def test_desk_person_form_sets_a_valid_password(client, admin_user):
    client.force_login(admin_user)
    weak = client.post("/desk/people/new/", {"username": "pw", "time_zone": "UTC",
                                             "password": "password"})
    assert weak.status_code == 400 and 'id="id_password_error_1"' in weak.content.decode()
    assert not User.objects.filter(username="pw").exists()
    client.post("/desk/people/new/", {"username": "pw", "time_zone": "UTC", "is_active": "on",
                                      "password": "a-fine-passphrase-3", "roles": ["requester"]})
    client.logout()
    ok = client.post("/accounts/login/", {"username": "pw", "password": "a-fine-passphrase-3"})
    assert ok.status_code == 302 and ok.url == "/portal/"


def test_create_admin_command(db, monkeypatch):
    monkeypatch.setenv("FIRST_ADMIN_PASSWORD", "an-admin-passphrase-1")
    call_command("create_admin", "boss", "--password-env", "FIRST_ADMIN_PASSWORD")
    boss = User.objects.get(username="boss")
    assert boss.is_staff and services.user_roles(boss) == ["administrator"]
    assert AuditEntry.objects.get(action="create", object_id=str(boss.pk)).actor_label == (
        "system (create_admin)")
    monkeypatch.setenv("FIRST_ADMIN_PASSWORD", "123")
    with pytest.raises(CommandError, match="password"):
        call_command("create_admin", "boss2", "--password-env", "FIRST_ADMIN_PASSWORD")


def test_role_groups_are_read_only_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/auth/group/").status_code == 200
    assert client.get("/admin/auth/group/add/").status_code == 403
