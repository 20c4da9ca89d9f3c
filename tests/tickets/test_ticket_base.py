import itertools
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEntry
from itsm.errors import DomainError, NotPermitted
from tests.factories import UserFactory
from tests.sample_tickets.models import SampleState, SampleTicket
from tickets import services
from tickets.models import Activity, Attachment
from tickets.numbering import ticket_number_last, ticket_number_next


@pytest.fixture
def ticket(requester):
    return services.ticket_create(model=SampleTicket, actor=requester, title="Printer jammed")


def test_numbers_are_sequential_per_prefix(requester):
    numbers = [services.ticket_create(model=SampleTicket, actor=requester, title=str(i)).number
               for i in range(3)]
    # Consecutive here; from 1 on a new database (PostgreSQL's sequences outlive the
    # tests' rolled-back transactions, so earlier tests may have drawn some).
    first = int(numbers[0][3:])
    assert numbers == [f"SMP{n:07d}" for n in range(first, first + 3)]
    drawn = ticket_number_next("INC")
    assert re.fullmatch(r"INC\d{7}", drawn)
    assert ticket_number_last("INC") == int(drawn[3:])


def test_create_records_audit_and_opening_event(ticket, requester):
    assert ticket.state == SampleState.NEW and ticket.requester == requester
    entry = AuditEntry.objects.get(action="create", object_id=str(ticket.pk),
                                   content_type__model="sampleticket")
    assert entry.changes["number"] == [None, ticket.number] and entry.actor == requester
    assert Activity.objects.filter(object_id=ticket.pk, kind="system").count() == 1


def test_agent_logging_for_someone_sets_opened_by(agent, requester):
    ticket = services.ticket_create(model=SampleTicket, actor=agent, title="x",
                                    requester=requester)
    assert ticket.opened_by == agent and ticket.requester == requester


def test_requesters_cannot_raise_tickets_for_others(requester):
    with pytest.raises(NotPermitted):
        services.ticket_create(model=SampleTicket, actor=requester, title="x",
                               requester=UserFactory())


# Every ordered pair of states: allowed exactly when declared.
STATES = [s.value for s in SampleState]


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(STATES, 2)))
def test_every_pair_of_states(ticket, admin_user, source, target):
    SampleTicket.objects.filter(pk=ticket.pk).update(state=source, resolution_notes="done")
    ticket.refresh_from_db()
    declared = SampleTicket.workflow.find(source, target) is not None
    if declared:
        moved = services.ticket_transition(ticket=ticket, to_state=target, actor=admin_user)
        assert moved.state == target
    else:
        with pytest.raises(DomainError) as error:
            services.ticket_transition(ticket=ticket, to_state=target, actor=admin_user)
        assert error.value.code == "invalid_transition"
        ticket.refresh_from_db()
        assert ticket.state == source


def test_guard_names_the_missing_field_and_nothing_changes(ticket, agent):
    services.ticket_transition(ticket=ticket, to_state="in_progress", actor=agent)
    with pytest.raises(DomainError) as error:
        services.ticket_transition(ticket=ticket, to_state="resolved", actor=agent)
    assert error.value.fields == {"resolution_notes": ["Required to resolve."]}
    ticket.refresh_from_db()
    assert ticket.state == "in_progress" and ticket.resolved_at is None


def test_transition_stamps_audits_and_logs(ticket, agent):
    services.ticket_transition(ticket=ticket, to_state="in_progress", actor=agent)
    resolved = services.ticket_transition(ticket=ticket, to_state="resolved", actor=agent,
                                          resolution_notes="Replaced drum", note="Fixed")
    assert resolved.resolved_at is not None
    entry = AuditEntry.objects.filter(action="transition", object_id=str(ticket.pk)).latest("id")
    assert entry.changes["state"] == ["in_progress", "resolved"]
    assert entry.changes["resolution_notes"] == ["", "Replaced drum"]
    assert entry.actor == agent and entry.message == "Resolve"
    change = Activity.objects.filter(object_id=ticket.pk, kind="field_change").latest("id")
    assert change.body == "Fixed" and change.author == agent


def test_transition_permission_is_enforced(ticket, requester):
    with pytest.raises(NotPermitted):
        services.ticket_transition(ticket=ticket, to_state="in_progress", actor=requester)


def test_available_transitions_depend_on_permissions(ticket, requester, agent):
    assert [t.target for t in SampleTicket.workflow.available(ticket, agent)] == [
        "in_progress", "cancelled"]
    assert [t.target for t in SampleTicket.workflow.available(ticket, requester)] == [
        "cancelled"]


def test_update_diffs_fields_and_refuses_state(ticket, agent):
    services.ticket_update(ticket=ticket, actor=agent, title="Printer on fire", priority=1)
    entry = AuditEntry.objects.filter(action="update", object_id=str(ticket.pk)).latest("id")
    assert entry.changes == {"title": ["Printer jammed", "Printer on fire"], "priority": [4, 1]}
    with pytest.raises(DomainError) as error:
        services.ticket_update(ticket=ticket, actor=agent, state="closed")
    assert "state" in error.value.fields


def test_work_notes_are_hidden_from_the_requester(ticket, agent, requester):
    services.ticket_comment(ticket=ticket, actor=agent, body="Call back at 3", internal=False)
    services.ticket_comment(ticket=ticket, actor=agent, body="User is rude", internal=True)
    seen_by_requester = [a.body for a in services.ticket_activity_for(ticket, requester)]
    seen_by_agent = [a.body for a in services.ticket_activity_for(ticket, agent)]
    assert "Call back at 3" in seen_by_requester and "User is rude" not in seen_by_requester
    assert "User is rude" in seen_by_agent
    with pytest.raises(NotPermitted):
        services.ticket_comment(ticket=ticket, actor=requester, body="x", internal=True)
    with pytest.raises(DomainError):
        services.ticket_comment(ticket=ticket, actor=requester, body="   ")


def test_strangers_cannot_see_or_comment(ticket):
    stranger = UserFactory(roles=["requester"])
    assert not ticket.is_visible_to(stranger)
    with pytest.raises(NotPermitted):
        services.ticket_comment(ticket=ticket, actor=stranger, body="hi")


def test_watchers_can_see_the_ticket(ticket, agent):
    colleague = UserFactory(roles=["requester"])
    services.watcher_add(ticket=ticket, actor=agent, user=colleague)
    assert ticket.is_visible_to(colleague)
    with pytest.raises(DomainError):
        services.watcher_add(ticket=ticket, actor=agent, user=colleague)
    services.watcher_remove(ticket=ticket, actor=colleague, user=colleague)
    assert not ticket.is_visible_to(colleague)


def test_requester_cannot_add_other_watchers(ticket, requester):
    with pytest.raises(NotPermitted):
        services.watcher_add(ticket=ticket, actor=requester, user=UserFactory())


# --- Attachments ----------------------------------------------------------------------

def upload(name="log.txt", content=b"hello", content_type="text/plain"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_attachment_stored_and_downloadable_by_those_who_see_the_ticket(
    ticket, requester, agent, client, media
):
    attachment = services.attachment_add(ticket=ticket, actor=requester, upload=upload())
    assert attachment.size == 5 and attachment.mime_type == "text/plain"
    client.force_login(requester)
    response = client.get(f"/attachments/{attachment.pk}/")
    assert b"".join(response.streaming_content) == b"hello"
    assert 'filename="log.txt"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    client.force_login(UserFactory(roles=["requester"]))
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 404
    client.force_login(agent)
    assert client.get(f"/attachments/{attachment.pk}/").status_code == 200


def test_oversized_attachment_is_refused_and_nothing_stored(ticket, requester, settings, media):
    settings.ATTACHMENT_MAX_BYTES = 4
    with pytest.raises(DomainError) as error:
        services.attachment_add(ticket=ticket, actor=requester, upload=upload())
    assert error.value.code == "too_large" and "file" in error.value.fields
    assert not Attachment.objects.exists()
    assert not any(media.rglob("*"))


@pytest.mark.parametrize(("name", "declared"), [("evil.html", "text/html"),
                                                 ("run.exe", "application/octet-stream"),
                                                 ("fake.txt", "application/x-msdownload")])
def test_disallowed_types_are_refused(ticket, requester, media, name, declared):
    if name == "fake.txt":
        # The name's type wins over what the browser declared: .txt is allowed.
        assert services.attachment_add(ticket=ticket, actor=requester,
                                       upload=upload(name, content_type=declared))
        return
    with pytest.raises(DomainError) as error:
        services.attachment_add(ticket=ticket, actor=requester,
                                upload=upload(name, content_type=declared))
    assert error.value.code == "unsupported_type"


def test_empty_attachment_is_refused(ticket, requester, media):
    with pytest.raises(DomainError):
        services.attachment_add(ticket=ticket, actor=requester, upload=upload(content=b""))


def test_attachment_is_audited(ticket, requester, media):
    services.attachment_add(ticket=ticket, actor=requester, upload=upload())
    ct = ContentType.objects.get_for_model(SampleTicket)
    entry = AuditEntry.objects.filter(content_type=ct, object_id=str(ticket.pk)).latest("id")
    assert entry.changes == {"attachments": [None, {"added": "log.txt", "size": 5}]}


def test_hooks_run_only_after_commit(ticket, agent, django_capture_on_commit_callbacks):
    seen = []
    registered = list(services._hooks)  # the apps' own hooks (e.g. incident notifications)
    services.register_ticket_hook(lambda event, t, details: seen.append((event, t.number)))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.ticket_transition(ticket=ticket, to_state="in_progress", actor=agent)
            assert seen == []
        assert seen == [("transitioned", ticket.number)]
    finally:
        services._hooks[:] = registered  # remove only this test's hook
