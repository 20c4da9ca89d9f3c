"""What incidents tell the CMDB about service health: an open major or P1/P2 incident on
a CI (or recorded against a service) is an outage of that CI."""

from django.db.models import Q

from .models import OPEN_STATES, Incident


def open_outages(ci_ids: list[int]) -> dict[int, str]:
    """{ci id: "INC0001042 title"} for the CIs among ``ci_ids`` with an outage."""
    found: dict[int, str] = {}
    wanted = set(ci_ids)
    rows = (Incident.objects.filter(state__in=OPEN_STATES)
            .filter(Q(priority__lte=2) | Q(is_major=True))
            .filter(Q(ci_id__in=ci_ids) | Q(service_id__in=ci_ids))
            .order_by("priority", "created_at")
            .values_list("ci_id", "service_id", "number", "title"))
    for ci_id, service_id, number, title in rows:
        for target in (ci_id, service_id):
            if target in wanted:
                found.setdefault(target, f"{number} {title}")
    return found
