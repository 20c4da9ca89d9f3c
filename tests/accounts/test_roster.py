"""accounts.selectors.team_roster: the assignee drop-downs' roster is kept in memory and
is read again after any change to a team, a membership, a person or a profile."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.selectors import team_roster
from tests.factories import MembershipFactory, TeamFactory, UserFactory


def names(team_name=None):
    return [(e.team_name, e.name or e.username) for e in team_roster()
            if team_name is None or e.team_name == team_name]


def test_the_roster_is_read_once_and_follows_every_change(db):
    network = TeamFactory(name="Network")
    ada = UserFactory(username="ada", first_name="Ada", last_name="L")
    MembershipFactory(team=network, user=ada)
    assert names() == [("Network", "Ada L")]
    with CaptureQueriesContext(connection) as unchanged:
        assert names() == [("Network", "Ada L")]
    assert len(unchanged) == 0

    bob = UserFactory(username="bob", first_name="Bob", last_name="K")
    membership = MembershipFactory(team=network, user=bob)  # a new member
    assert names() == [("Network", "Ada L"), ("Network", "Bob K")]

    ada.profile.display_name = "Countess"  # a profile's name
    ada.profile.save()
    assert ("Network", "Countess") in names()

    bob.is_active = False  # a person leaves
    bob.save()
    assert ("Network", "Bob K") not in names()
    bob.is_active = True
    bob.save()
    membership.delete()  # a membership ends
    assert ("Network", "Bob K") not in names()

    network.is_active = False  # a team closes
    network.save()
    assert names() == []
