import pytest
from django.core import mail
from django.db import transaction

from notifications.models import Notification
from notifications.services import notifications_mark_read, notify, unread_count
from notifications.tasks import send_emails
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_notify_writes_one_row_per_recipient_and_emails_after_commit():
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    idle = UserFactory(email="idle@example.com", is_active=False)
    with transaction.atomic():
        notify([alice, bob, alice, idle, None], kind="test.hello", subject="Hello",
               body="Body", url="/desk/")
        assert mail.outbox == []  # nothing leaves before the commit
    assert Notification.objects.filter(kind="test.hello").count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]
    assert "/desk/" in mail.outbox[0].body
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_rolled_back_notifications_are_neither_kept_nor_sent():
    alice = UserFactory(email="alice@example.com")
    with pytest.raises(RuntimeError), transaction.atomic():
        notify([alice], kind="test.hello", subject="Hello")
        raise RuntimeError
    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_emails_are_sent_once_even_when_the_task_runs_twice(db):
    alice = UserFactory(email="alice@example.com")
    note = Notification.objects.create(recipient=alice, kind="k", subject="s")
    assert send_emails([note.pk]) == 1
    assert send_emails([note.pk]) == 0
    assert len(mail.outbox) == 1


def test_mark_read(db):
    alice = UserFactory()
    first, second = (Notification.objects.create(recipient=alice, kind="k", subject=str(i))
                     for i in range(2))
    assert unread_count(alice) == 2
    assert notifications_mark_read(user=alice, ids=[first.pk]) == 1
    assert unread_count(alice) == 1
    assert notifications_mark_read(user=UserFactory(), ids=[second.pk]) == 0
    notifications_mark_read(user=alice)
    assert unread_count(alice) == 0
