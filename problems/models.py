"""Problems: the underlying cause of one or more incidents, its analysis (five whys, the
structured cause), its workaround (a known error once published) and its permanent fix
(a change). Incidents link to a problem through :class:`ProblemIncident`. Every write goes
through :mod:`problems.services`."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import Ticket

from .workflow import OPEN_STATES, PROBLEM_WORKFLOW, ProblemState

__all__ = ["OPEN_STATES", "CauseCategory", "Problem", "ProblemIncident", "ProblemState"]


class CauseCategory(models.TextChoices):
    HARDWARE = "hardware", _("Hardware")
    SOFTWARE_DEFECT = "software_defect", _("Software defect")
    CONFIGURATION = "configuration", _("Configuration")
    CAPACITY = "capacity", _("Capacity")
    CHANGE = "change", _("Change")
    THIRD_PARTY = "third_party", _("Third party / supplier")
    NETWORK = "network", _("Network")
    SECURITY = "security", _("Security")
    PROCESS = "process", _("Process / human")
    UNKNOWN = "unknown", _("Unknown")


MAX_WHYS = 10


def validate_five_whys(value: object) -> None:
    """A list of ``{"why": str, "answer": str}``, at most :data:`MAX_WHYS` long."""
    if not isinstance(value, list):
        raise ValidationError(_("A list of questions and answers."))
    if len(value) > MAX_WHYS:
        raise ValidationError(_("At most %(count)d whys.") % {"count": MAX_WHYS})
    for item in value:
        if (not isinstance(item, dict) or set(item) - {"why", "answer"}
                or not all(isinstance(item.get(k, ""), str) for k in ("why", "answer"))):
            raise ValidationError(_("Each entry has a “why” and an “answer”, both text."))


_OPEN = models.Q(state__in=[state.value for state in OPEN_STATES])


class Problem(Ticket):
    NUMBER_PREFIX = "PRB"
    workflow = PROBLEM_WORKFLOW
    # What ticket_update may change. problems.services.problem_update refuses state and
    # the known-error flag, which have their own moves.
    EDITABLE_FIELDS = (
        "title", "description", "priority", "requester", "assignment_group", "assignee",
        "category", "root_cause", "cause_category", "cause_ci", "cause_not_found",
        "cause_not_found_reason", "workaround", "known_error", "known_error_at", "fix_change",
        "five_whys", "resolution",
    )

    state = models.CharField(_("state"), max_length=20, choices=ProblemState.choices,
                             default=ProblemState.NEW)
    category = models.ForeignKey("incidents.Category", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("category"))
    services = models.ManyToManyField("cmdb.ConfigurationItem", blank=True,
                                      related_name="service_problems",
                                      verbose_name=_("affected services"))
    cis = models.ManyToManyField("cmdb.ConfigurationItem", blank=True,
                                 related_name="problems",
                                 verbose_name=_("affected configuration items"))
    incidents = models.ManyToManyField("incidents.Incident", through="ProblemIncident",
                                       related_name="problems",
                                       verbose_name=_("linked incidents"))
    root_cause = models.TextField(_("root cause"), blank=True)
    cause_category = models.CharField(_("cause category"), max_length=20,
                                      choices=CauseCategory.choices, blank=True)
    cause_ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="caused_problems",
                                 verbose_name=_("cause CI"))
    cause_not_found = models.BooleanField(_("root cause not found"), default=False)
    cause_not_found_reason = models.TextField(_("why the cause was not found"), blank=True)
    workaround = models.TextField(_("workaround"), blank=True)
    known_error = models.BooleanField(_("known error"), default=False)
    known_error_at = models.DateTimeField(_("known error since"), null=True, blank=True)
    fix_change = models.ForeignKey("changes.Change", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="fixed_problems",
                                   verbose_name=_("permanent fix (change)"))
    five_whys = models.JSONField(_("five whys"), default=list, blank=True,
                                 validators=[validate_five_whys])
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta(Ticket.Meta):
        permissions = [
            ("manage_problem", _("Can manage problems (create, analyse, resolve, publish "
                                 "known errors)")),
        ]
        indexes = [
            *Ticket.Meta.indexes,
            models.Index(fields=["created_at", "id"], name="problem_open_idx",
                         condition=_OPEN),
            models.Index(fields=["known_error", "state"], name="problem_known_error_idx"),
        ]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class ProblemIncident(models.Model):
    """An incident linked to a problem: who linked it and when."""

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE,
                                related_name="incident_links")
    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE,
                                 related_name="problem_links")
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+",
                                  verbose_name=_("linked by"))
    linked_at = models.DateTimeField(_("linked"), auto_now_add=True)

    class Meta:
        ordering = ["linked_at", "id"]
        constraints = [models.UniqueConstraint(fields=["problem", "incident"],
                                               name="unique_problem_incident")]
        verbose_name = _("problem–incident link")

    def __str__(self) -> str:
        return f"{self.problem_id} ↔ {self.incident_id}"
