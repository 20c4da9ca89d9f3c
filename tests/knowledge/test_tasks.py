import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from knowledge.models import Article
from knowledge.tasks import send_review_reminders
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_the_beat_schedule_runs_the_reminders():
    entries = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()]
    assert "knowledge.tasks.send_review_reminders" in entries


def test_reminders_task_tells_owners_once_per_due_date(author, published):
    article = published(title="Wi-Fi", body="x")
    due = timezone.now() - datetime.timedelta(hours=1)
    Article.objects.filter(pk=article.pk).update(next_review_at=due)
    assert send_review_reminders() == 1
    assert send_review_reminders() == 0
    notice = Notification.objects.get(recipient=author)
    assert article.number in notice.subject and notice.url.endswith(f"/{article.number}/")
    # a new due date is a new reminder
    Article.objects.filter(pk=article.pk).update(next_review_at=due + datetime.timedelta(
        minutes=5))
    assert send_review_reminders() == 1
