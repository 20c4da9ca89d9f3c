from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet

from cmdb.models import ConfigurationItem

from .models import Category, Incident, PostIncidentReview


def incidents() -> QuerySet[Incident]:
    """Incidents with everything an incident's page shows: the people and the group in
    the same query, the category, subcategory, service and CI in one small query each
    (none when empty). Joining all nine tables cost PostgreSQL 5 ms to plan for one
    incident and over 50 ms for a page of them (bench/incidents.py); five cost 1.6 ms."""
    return Incident.objects.select_related(
        "requester", "requester__profile", "assignment_group", "assignee",
        "assignee__profile").prefetch_related("category", "subcategory", "service", "ci")


def incident_list() -> QuerySet[Incident]:
    """Incidents for a queue page: the incident table alone. PostgreSQL spends longer
    planning a join of ten tables than running it (measured in bench/incidents.py), and
    keyset pages read the incident table alone through the queue indexes. The page's
    people come in one query of their names (``person_names``); its groups are named
    from the teams the filter bar reads anyway."""
    return Incident.objects.all()


def person_names(ids: Iterable[int | None]) -> dict[int, str]:
    """The names the desk shows for these people (``profile.name``, else the username),
    in one query of values: no user or profile objects are built for a page of rows."""
    wanted = {pk for pk in ids if pk is not None}
    if not wanted:
        return {}
    rows = get_user_model().objects.filter(pk__in=wanted).values_list(
        "pk", "username", "first_name", "last_name", "profile__pk", "profile__display_name")
    return {pk: (display or f"{first} {last}".strip() or username) if profile else username
            for pk, username, first, last, profile, display in rows}


def incidents_for_api() -> QuerySet[Incident]:
    """What the API's incident serializer reads besides the incident's own columns: the
    caller's name (related ids are given as ids)."""
    return Incident.objects.select_related("requester", "requester__profile")


def incident_with_related() -> QuerySet[Incident]:
    """For the detail page: the incident with its people and group, and whether it has
    children and a post-incident review (``has_children``, ``has_review``: the page's
    panels skip their queries when it has none). Its category and CIs come from
    ``incident_related_load``: joining those five tables as well cost PostgreSQL 3 to
    4 ms to plan the query (twelve tables), for well under 1 ms of work; the two small
    queries cost 1 ms (bench/incidents.py)."""
    return Incident.objects.select_related(
        "requester", "requester__profile", "assignment_group", "assignee",
        "assignee__profile").annotate(
        has_children=Exists(Incident.objects.filter(parent=OuterRef("pk"))),
        has_review=Exists(PostIncidentReview.objects.filter(incident=OuterRef("pk"))))


def incident_related_load(incident: Incident) -> Incident:
    """Load what the detail page shows of the incident's classification: its category
    and subcategory in one query, its service, CI and cause CI with their classes in
    another (no query for what is empty)."""
    _load(incident, ("category", "subcategory"), Category.objects)
    _load(incident, ("service", "ci", "cause_ci"),
          ConfigurationItem.objects.select_related("ci_class"))
    return incident


def _load(incident: Incident, names: tuple[str, ...], queryset: QuerySet) -> None:
    """Fill these foreign keys of the incident from one query of ``queryset``."""
    wanted = {getattr(incident, f"{name}_id") for name in names} - {None}
    found = queryset.in_bulk(wanted) if wanted else {}
    for name in names:
        related = found.get(getattr(incident, f"{name}_id"))
        if related is not None:  # else (deleted meanwhile) the usual lazy read
            setattr(incident, name, related)


def incidents_visible_to(user) -> QuerySet[Incident]:
    return incidents_for_api().filter(Incident.visible_to(user))
