from django.core.management import call_command

from audit.context import acting_as_system
from demo.desk_demo import load_saved_views
from desk.models import SavedView


def test_demo_has_shared_views_of_both_lists_once(db):
    call_command("load_demo", "--quiet")
    with acting_as_system("demo loader"):
        load_saved_views()  # again: nothing new
    views = set(SavedView.objects.values_list("list_key", "name", "shared"))
    assert views == {("incidents.incident", "Critical (P1)", True),
                     ("incidents.incident", "On hold", True),
                     ("incidents.incident", "Network backlog", False),
                     ("cmdb.ci", "Production servers", True)}
    network = SavedView.objects.get(name="Network backlog")
    assert network.query.startswith("assignment_group=") and network.owner.username == "agent"
