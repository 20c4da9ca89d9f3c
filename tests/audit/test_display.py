from accounts.models import Team
from audit.display import related_names
from cmdb.models import CIClass, ConfigurationItem
from tests.factories import TeamFactory, UserFactory


def test_related_ids_become_names_one_query_per_model(db, django_assert_num_queries):
    team = TeamFactory(name="Network")
    person = UserFactory(first_name="Priya", last_name="Shah")
    server = CIClass.objects.get(key="server")
    changes = [
        {"owner_team": [None, team.pk], "assigned_to": [person.pk, None]},
        {"ci_class": [server.pk, server.pk], "criticality": [3, 1], "name": ["a", "b"],
         "vip": [False, True], "unknown_field": [1, 2]},
    ]
    with django_assert_num_queries(3):  # teams, people (with profiles), classes
        names = related_names(ConfigurationItem, changes)
    assert names == {"owner_team": {team.pk: "Network"}, "assigned_to": {person.pk: "Priya Shah"},
                     "ci_class": {server.pk: server.name}}
    assert Team.objects.count() == 1
