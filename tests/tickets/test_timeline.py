"""The activity stream as people read it: labels, names, choice labels, local times."""

import datetime

from django.utils import timezone

from changes import services as changes
from tests.changes.conftest import normal_change
from tickets.timeline import field_label, ticket_timeline


def test_field_changes_read_as_people_expect(db, settings):
    from tests.factories import UserFactory

    manager = UserFactory(username="tl-cm", roles=["change_manager"])
    change = normal_change(manager)
    changes.change_update(actor=manager, change=change, impact=1, outage_expected=True)
    changes.change_transition(actor=manager, change=change, to_state="assess")
    entries = ticket_timeline(change, manager)
    shown = [row for entry in entries for row in entry.shown_changes]
    assert ("impact", "3 – Low", "1 – High") in shown
    assert ("outage expected", "no", "yes") in shown
    assert ("state", "New", "Assess") in shown
    assert field_label(type(change), "planned_start") == "planned start"


def test_times_show_in_the_viewers_zone(db):
    from changes.models import Change
    from tickets.timeline import _shown

    moment = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=datetime.UTC)
    with timezone.override("Europe/Paris"):
        assert _shown(Change, "actual_start", moment.isoformat(), {}) == "1 Jul 2026 14:00"
