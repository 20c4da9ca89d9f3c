from django.db.models import QuerySet

from .models import Incident


def incidents() -> QuerySet[Incident]:
    """Incidents with what every list and detail shows, in one query."""
    return Incident.objects.select_related(
        "requester", "requester__profile", "assignment_group", "assignee",
        "assignee__profile", "category", "subcategory", "service", "ci")


def incident_with_related() -> QuerySet[Incident]:
    """For the detail page: also the classes of its service and CI, and the cause CI."""
    return incidents().select_related("service__ci_class", "ci__ci_class", "cause_ci",
                                      "cause_ci__ci_class")


def incidents_visible_to(user) -> QuerySet[Incident]:
    return incidents().filter(Incident.visible_to(user))
