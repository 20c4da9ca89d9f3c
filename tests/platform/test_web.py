import datetime
import zoneinfo

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Team
from audit.models import AuditEntry
from tests.factories import PASSWORD, MembershipFactory, TeamFactory, UserFactory


def test_health_and_readiness(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_reports_an_unreachable_broker(client, db, monkeypatch):
    from itsm import health

    monkeypatch.setattr(health, "_broker", lambda: "OperationalError: connection refused")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "OperationalError: connection refused"


# --- Signing in -----------------------------------------------------------------------

def test_login_sends_staff_to_the_desk_and_requesters_to_the_portal(client, agent, requester):
    response = client.post("/accounts/login/", {"username": "agent1", "password": PASSWORD})
    assert response.url == "/desk/"
    client.post("/accounts/logout/")
    response = client.post("/accounts/login/", {"username": "req1", "password": PASSWORD})
    assert response.url == "/portal/"


def test_wrong_credentials_show_a_clear_error(client, requester):
    response = client.post("/accounts/login/", {"username": "req1", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_failed_logins_are_rate_limited(client, requester):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "req1", "password": "nope"})
    locked = client.post("/accounts/login/", {"username": "req1", "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not locked out by someone else's failures.
    UserFactory(username="other")
    ok = client.post("/accounts/login/", {"username": "other", "password": PASSWORD})
    assert ok.status_code == 302


def test_expired_session_goes_back_to_login(client, agent):
    client.force_login(agent)
    session = client.session
    session.set_expiry(-1)
    session.save()
    response = client.get("/desk/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_password_change_is_audited(client, requester):
    client.force_login(requester)
    response = client.post("/accounts/password/", {
        "old_password": PASSWORD, "new_password1": "a-fresh-passphrase-9",
        "new_password2": "a-fresh-passphrase-9"})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(message="Password changed", actor=requester).exists()


def test_password_change_errors_are_at_the_field(client, requester):
    client.force_login(requester)
    response = client.post("/accounts/password/", {
        "old_password": "wrong", "new_password1": "x", "new_password2": "y"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_old_password_error_1"' in html
    assert 'id="id_new_password2_error_1"' in html


# --- Access ---------------------------------------------------------------------------

def test_requester_gets_403_with_way_to_portal(client, requester):
    client.force_login(requester)
    response = client.get("/desk/")
    assert response.status_code == 403
    assert b"/portal/" in response.content and b"Go to the portal" in response.content


def test_unknown_page_is_a_friendly_404(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"We could not find that page" in response.content


def test_portal_home_shows_service_desk_contact(client, requester):
    TeamFactory(name="Help", is_service_desk=True, phone="+44 1")
    client.force_login(requester)
    response = client.get("/portal/")
    assert b"Contact the service desk" in response.content and b"+44 1" in response.content


def test_csrf_failure_is_a_readable_page(db, requester):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(requester)
    response = strict.post("/portal/profile/", {"phone": "1"})
    assert response.status_code == 403 and b"Your form expired" in response.content


# --- Time zones -----------------------------------------------------------------------

def test_times_are_shown_in_the_users_time_zone(client, admin_user):
    services.user_update(actor=admin_user, user=admin_user, time_zone="Asia/Tokyo")
    services.team_create(actor=admin_user, name="TZ team")
    entry = AuditEntry.objects.filter(object_repr="TZ team").get()
    local = timezone.localtime(entry.at, zoneinfo.ZoneInfo("Asia/Tokyo"))
    client.force_login(admin_user)
    html = client.get("/desk/audit/").content.decode()
    assert local.strftime("%Y-%m-%d %H:%M") in html
    assert entry.at.tzinfo == datetime.UTC or entry.at.utcoffset() == datetime.timedelta(0)


# --- Profile and tokens in the UI -----------------------------------------------------

def test_profile_form_error_is_shown_at_its_field(client, requester):
    client.force_login(requester)
    response = client.post("/portal/profile/", {"time_zone": "Mars/Base"})
    html = response.content.decode()
    assert response.status_code == 400
    field_start = html.index('for="id_time_zone"')
    assert html.index('id="id_time_zone_error_1"') > field_start
    select = html[html.index('<select name="time_zone"'):].split(">")[0]
    assert 'aria-invalid="true"' in select
    assert "id_time_zone_helptext id_time_zone_error_1" in select


def test_token_created_in_the_ui_is_shown_once(client, requester):
    client.force_login(requester)
    response = client.post("/portal/profile/", {"create_token": "1", "name": "script"})
    assert response.status_code == 302  # so a reload does not create a second token
    shown = client.get(response.url)
    assert shown["Cache-Control"] == "no-store"
    raw = shown.content.decode().split('id="new-token" class="token">')[1].split("<")[0]
    assert raw.startswith("itsm_")
    assert raw not in client.get("/portal/profile/").content.decode()
    assert requester.api_tokens.count() == 1


def test_token_form_error_and_revoke(client, requester):
    client.force_login(requester)
    response = client.post("/portal/profile/", {"create_token": "1", "name": ""})
    assert response.status_code == 400 and 'id="id_name_error_1"' in response.content.decode()
    token, _raw = services.api_token_create(actor=requester, user=requester, name="t")
    client.post(f"/accounts/tokens/{token.pk}/revoke/", {"next": "https://evil.example/"})
    token.refresh_from_db()
    assert token.revoked_at is not None
    stranger = UserFactory()
    other, _raw = services.api_token_create(actor=stranger, user=stranger, name="s")
    assert client.post(f"/accounts/tokens/{other.pk}/revoke/").status_code == 403


# --- Desk pages -----------------------------------------------------------------------

def test_person_pickers_show_names(client, admin_user):
    UserFactory(username="jq", first_name="Jane", last_name="Quinn")
    client.force_login(admin_user)
    html = client.get(f"/desk/teams/{TeamFactory().pk}/").content.decode()
    assert "Jane Quinn (jq)" in html


def test_desk_home_lists_changes_not_sign_ins(client, admin_user):
    client.post("/accounts/login/", {"username": "root", "password": PASSWORD})
    services.team_create(actor=admin_user, name="Visible change")
    html = client.get("/desk/").content.decode()
    assert "Visible change" in html and "Logged in" not in html


def test_people_list_filters_share_the_api_filterset(client, agent):
    UserFactory(username="zed", first_name="Zed", roles=["resolver"])
    UserFactory(username="amy", first_name="Amy")
    client.force_login(agent)
    html = client.get("/desk/people/", {"q": "zed"}).content.decode()
    assert "zed" in html and "amy" not in html
    html = client.get("/desk/people/", {"role": "resolver"}).content.decode()
    assert "zed" in html and "amy" not in html
    bad = client.get("/desk/people/", {"team": "abc"})
    assert bad.status_code == 400 and b"Select a valid choice" in bad.content


def test_people_page_query_count_is_flat(client, agent, django_assert_max_num_queries):
    for _ in range(40):
        MembershipFactory()
    client.force_login(agent)
    with django_assert_max_num_queries(14):
        response = client.get("/desk/people/")
    assert response.status_code == 200


def test_admin_creates_a_person_in_the_desk(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/desk/people/new/", {
        "username": "newhire", "first_name": "New", "time_zone": "Europe/Berlin",
        "roles": ["resolver"], "is_active": "on"})
    assert response.status_code == 302
    person = admin_user.__class__.objects.get(username="newhire")
    assert services.user_roles(person) == ["resolver"]
    again = client.post("/desk/people/new/", {"username": "newhire", "time_zone": "UTC"})
    assert again.status_code == 400 and 'id="id_username_error_1"' in again.content.decode()


def test_agents_cannot_open_admin_forms(client, agent):
    client.force_login(agent)
    assert client.get("/desk/people/new/").status_code == 403
    assert client.get("/desk/teams/new/").status_code == 403


def test_team_form_errors_and_member_management_with_htmx(client, admin_user):
    TeamFactory(name="Existing")
    client.force_login(admin_user)
    dup = client.post("/desk/teams/new/", {"name": "Existing"})
    assert dup.status_code == 400 and 'id="id_name_error_1"' in dup.content.decode()
    created = client.post("/desk/teams/new/", {"name": "Fresh", "is_active": "on"})
    team = Team.objects.get(name="Fresh")
    assert created.url == f"/desk/teams/{team.pk}/"
    person = UserFactory(first_name="Jo")
    partial = client.post(f"/desk/teams/{team.pk}/", {"user": person.pk},
                          HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert b"<html" not in partial.content and person.username.encode() in partial.content
    assert list(team.members.all()) == [person]
    client.post(f"/desk/teams/{team.pk}/", {"remove": person.pk}, HTTP_HX_REQUEST="true")
    assert not team.members.exists()


def test_resolver_cannot_change_other_teams_members(client, db):
    resolver = UserFactory(roles=["resolver"])
    team = TeamFactory()
    client.force_login(resolver)
    assert client.post(f"/desk/teams/{team.pk}/", {"user": resolver.pk}).status_code == 403
    assert not team.members.exists()


@pytest.mark.parametrize("url", ["/desk/", "/desk/people/", "/desk/teams/", "/desk/profile/",
                                 "/desk/audit/", "/portal/", "/portal/profile/"])
def test_main_pages_render_for_an_administrator(client, admin_user, url):
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/admin/", "/admin/auth/user/", "/admin/accounts/team/",
                                 "/admin/accounts/apitoken/", "/admin/audit/auditentry/"])
def test_admin_screens_open_for_administrators(client, admin_user, url):
    TeamFactory()
    services.api_token_create(actor=admin_user, user=admin_user, name="x")
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_admin_revokes_tokens_through_the_service(client, admin_user):
    token, _raw = services.api_token_create(actor=admin_user, user=admin_user, name="x")
    client.force_login(admin_user)
    client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEntry.objects.filter(object_id=str(token.pk), action="update").exists()


def test_agents_cannot_open_the_admin(client, agent):
    client.force_login(agent)
    assert client.get("/admin/").status_code == 302


def test_oversized_api_body_is_a_json_400(api, admin_user):
    api.force_authenticate(admin_user)
    big = '{"name": "' + "x" * (6 * 1024 * 1024) + '"}'
    response = api.post("/api/v1/teams/", data=big, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert not Team.objects.exclude(name__in=[]).filter(name__startswith="xxx").exists()


def test_desk_home_leads_to_every_incident_queue_and_the_metrics(client, agent):
    client.force_login(agent)
    html = client.get("/desk/").content.decode()
    for queue in ("mine", "my_groups", "unassigned", "open", "major", "recently_resolved"):
        assert f'href="/desk/incidents/?queue={queue}"' in html
    assert 'href="/desk/incidents/metrics/"' in html
