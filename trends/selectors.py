"""Reads of trend detection: proposals with what their pages show, in a fixed number of
queries whatever the number of proposals."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, QuerySet

from audit.models import AuditEntry
from incidents.models import Incident

from .models import Proposal

HISTORY_SIZE = 50
_INCIDENT_FIELDS = ("id", "number", "title", "state", "priority", "created_at", "ci_id",
                    "service_id")


def _incidents() -> QuerySet[Incident]:
    return Incident.objects.only(*_INCIDENT_FIELDS).order_by("created_at", "id")


def proposals() -> QuerySet[Proposal]:
    """Proposals with their incidents, newcomers, decider and problem."""
    return (Proposal.objects
            .select_related("decided_by", "problem", "ci", "service", "category__parent")
            .prefetch_related(Prefetch("incidents", _incidents()),
                              Prefetch("new_incidents", _incidents())))


def proposal_history(proposal: Proposal) -> list[AuditEntry]:
    """The proposal's audit entries, newest first."""
    return list(AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Proposal),
        object_id=str(proposal.pk)).order_by("-at", "-id")[:HISTORY_SIZE])
