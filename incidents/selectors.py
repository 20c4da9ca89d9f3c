from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet

from .models import Incident


def incidents() -> QuerySet[Incident]:
    """Incidents with everything an incident's page shows: the people and the group in
    the same query, the category, subcategory, service and CI in one small query each
    (none when empty). Joining all nine tables cost PostgreSQL 5 ms to plan for one
    incident and over 50 ms for a page of them (bench/incidents.py); five cost 1.6 ms."""
    return Incident.objects.select_related(
        "requester", "requester__profile", "assignment_group", "assignee",
        "assignee__profile").prefetch_related("category", "subcategory", "service", "ci")


def incident_list() -> QuerySet[Incident]:
    """Incidents with what a queue page shows (caller, group, assignee and their names).

    The incident query itself joins nothing: PostgreSQL spends longer planning a join of
    ten tables than running it (measured in bench/incidents.py), and keyset pages read
    the incident table alone through the queue indexes. The people and groups of a page
    come in three small queries, however many rows it has."""
    people = get_user_model().objects.select_related("profile")
    return Incident.objects.prefetch_related(
        Prefetch("requester", queryset=people), Prefetch("assignee", queryset=people),
        "assignment_group")


def incidents_for_api() -> QuerySet[Incident]:
    """What the API's incident serializer reads besides the incident's own columns: the
    caller's name (related ids are given as ids)."""
    return Incident.objects.select_related("requester", "requester__profile")


def incident_with_related() -> QuerySet[Incident]:
    """For the detail page: also the classes of its service and CI, and the cause CI."""
    return incidents().select_related("service__ci_class", "ci__ci_class", "cause_ci",
                                      "cause_ci__ci_class")


def incidents_visible_to(user) -> QuerySet[Incident]:
    return incidents_for_api().filter(Incident.visible_to(user))
