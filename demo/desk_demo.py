"""Demo saved views: a few shared views of the incident queue and the CI list, saved
through the desk's service by the people who would keep them."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from accounts.models import Team
from desk.models import SavedView
from desk.saved_views import saved_view_create

User = get_user_model()

# owner, list, name, filters, shared
VIEWS = (
    ("incident.manager", "incidents.incident", "Critical (P1)", "queue=open&priority=1", True),
    ("incident.manager", "incidents.incident", "On hold", "queue=open&state=on_hold", True),
    ("agent", "incidents.incident", "Network backlog",
     "queue=open&assignment_group={Network Operations}", False),
    ("asset.manager", "cmdb.ci", "Production servers", "ci_class=server&environment=prod",
     True),
)


def load_saved_views() -> None:
    teams = {team.name: team.pk for team in Team.objects.all()}
    for username, list_key, name, query, shared in VIEWS:
        owner = User.objects.filter(username=username).first()
        if owner is None or SavedView.objects.filter(owner=owner, list_key=list_key,
                                                     name=name).exists():
            continue
        query = query.replace("{Network Operations}", str(teams.get("Network Operations", "")))
        saved_view_create(actor=owner, list_key=list_key, name=name, query=query,
                          shared=shared)
