import pytest
from django.db import DatabaseError, connection, transaction

from accounts import services
from accounts.tasks import purge_expired_credentials
from audit.context import acting_as, current_actor, user_actor
from audit.models import AuditEntry
from audit.services import audit_record
from tests.factories import TeamFactory


def test_entries_cannot_be_changed_or_deleted_by_the_application(db):
    entry = audit_record(action="update", message="x")
    entry.message = "rewritten"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditEntry.objects.all().update(message="y")
    with pytest.raises(TypeError):
        AuditEntry.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger exists on PostgreSQL")
def test_postgres_refuses_raw_updates_and_deletes(db):
    audit_record(action="update", message="x")
    for sql in ("UPDATE audit_auditentry SET message = 'y'", "DELETE FROM audit_auditentry"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_web_request_names_the_signed_in_user(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/desk/teams/new/", {"name": "Web team"})
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="create", object_repr="Web team").get()
    assert (entry.actor, entry.source) == (admin_user, "web")


def test_api_call_with_token_names_the_token_owner(api, admin_user):
    _token, raw = services.api_token_create(actor=admin_user, user=admin_user, name="t")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api.post("/api/v1/teams/", {"name": "API team"}, format="json")
    entry = AuditEntry.objects.get(action="create", object_repr="API team")
    assert (entry.actor, entry.source) == (admin_user, "api")


def test_task_carries_the_actor_that_queued_it(admin_user, settings):
    token, _raw = services.api_token_create(actor=admin_user, user=admin_user, name="old")
    token.__class__.objects.filter(pk=token.pk).update(expires_at="2000-01-01T00:00:00Z")
    with acting_as(user_actor(admin_user, "web")):
        purge_expired_credentials.delay()
    entry = AuditEntry.objects.filter(object_id=str(token.pk), message="Expired").get()
    assert entry.actor == admin_user
    assert entry.source == "task"
    assert entry.actor_label == "root (via purge_expired_credentials)"


def test_task_from_beat_acts_as_the_system(admin_user):
    token, _raw = services.api_token_create(actor=admin_user, user=admin_user, name="old")
    token.__class__.objects.filter(pk=token.pk).update(expires_at="2000-01-01T00:00:00Z")
    purge_expired_credentials.delay()
    entry = AuditEntry.objects.filter(object_id=str(token.pk), message="Expired").get()
    assert entry.actor is None
    assert entry.actor_label == "system (purge_expired_credentials)"


def test_no_context_means_the_process(db):
    actor = current_actor()
    assert actor.user_id is None and actor.label.startswith("system (")


def test_logins_and_failures_are_audited(client, requester):
    client.post("/accounts/login/", {"username": "req1", "password": "wrong"})
    client.post("/accounts/login/", {"username": "req1", "password": "correct-horse-battery"})
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["login_failed", "login"]


def test_audit_api_and_page_for_managers_only(api, client, admin_user, agent):
    TeamFactory()
    services.team_create(actor=admin_user, name="Audited")
    api.force_authenticate(agent)
    assert api.get("/api/v1/audit/").status_code == 403
    api.force_authenticate(admin_user)
    body = api.get("/api/v1/audit/", {"action": "create"}).json()
    assert body["results"][0]["object_repr"] == "Audited"
    assert api.get("/api/v1/audit/", {"action": "bogus"}).json()["fields"].keys() == {"action"}
    client.force_login(agent)
    assert client.get("/desk/audit/").status_code == 403
    client.force_login(admin_user)
    page = client.get("/desk/audit/")
    assert b"Audited" in page.content
