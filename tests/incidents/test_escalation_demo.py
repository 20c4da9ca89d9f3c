"""The demo shows escalation and the inbox: an incident at each level, and unread
notifications waiting for the demo agent and the demo requester."""

from django.contrib.auth import get_user_model
from django.core.management import call_command

from demo.escalation_demo import LEVEL_1_TITLE, LEVEL_2_TITLE
from incidents.escalation import escalation_history
from incidents.models import Incident
from notifications.models import Notification

User = get_user_model()


def test_demo_escalations_and_inboxes(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--quiet")
    level_1 = Incident.objects.get(title=LEVEL_1_TITLE)
    level_2 = Incident.objects.get(title=LEVEL_2_TITLE)
    assert (level_1.escalation_level, level_2.escalation_level) == (1, 2)
    assert escalation_history(level_1)[0].told == ["Grace Okafor"]
    assert [step.source for step in escalation_history(level_2)] == ["manual", "sla"]
    unread = Notification.objects.filter(read_at__isnull=True)
    agent, requester = (User.objects.get(username=name) for name in ("agent", "requester"))
    agent_kinds = set(unread.filter(recipient=agent).values_list("kind", flat=True))
    assert {"incident.routed", "incident.assigned"} <= agent_kinds
    requester_kinds = set(unread.filter(recipient=requester).values_list("kind", flat=True))
    assert {"incident.commented", "incident.resolved"} <= requester_kinds
    assert unread.filter(recipient__username="incident.manager",
                         kind="incident.escalated").count() == 2

    count = Notification.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--quiet")
    assert Notification.objects.count() == count
    assert Incident.objects.filter(title=LEVEL_1_TITLE).count() == 1
