"""A concrete ticket type used only by the tests of the shared ticket base."""

from django.db import models

from tickets.models import Ticket
from tickets.workflow import Transition, Workflow, required


class SampleState(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class SampleTicket(Ticket):
    NUMBER_PREFIX = "SMP"
    workflow = Workflow(
        states=SampleState,
        initial=SampleState.NEW,
        transitions=(
            Transition("new", "in_progress", "Start", permission="accounts.access_desk"),
            Transition("in_progress", "resolved", "Resolve",
                       permission="accounts.access_desk",
                       guards=(required("resolution_notes", "Required to resolve."),),
                       stamps=("resolved_at",)),
            Transition("resolved", "in_progress", "Reopen"),
            Transition("resolved", "closed", "Close", permission="accounts.access_desk",
                       stamps=("closed_at",)),
            Transition("new", "cancelled", "Cancel"),
        ),
    )

    state = models.CharField(max_length=30, choices=SampleState.choices, default=SampleState.NEW)
    resolution_notes = models.TextField(blank=True)

    class Meta(Ticket.Meta):
        app_label = "sample_tickets"
