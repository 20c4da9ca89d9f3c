"""Incidents: the record, its declared lifecycle, categories, the priority matrix and
routing rules (business settings as data, edited by administrators)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import Priority, Ticket
from tickets.workflow import Transition, Workflow, required


class IncidentState(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    ON_HOLD = "on_hold", _("On hold")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATES = (IncidentState.NEW, IncidentState.ASSIGNED, IncidentState.IN_PROGRESS,
               IncidentState.ON_HOLD)


class HoldReason(models.TextChoices):
    AWAITING_CALLER = "awaiting_caller", _("Awaiting caller")
    AWAITING_VENDOR = "awaiting_vendor", _("Awaiting vendor")
    AWAITING_CHANGE = "awaiting_change", _("Awaiting change")
    AWAITING_PROBLEM = "awaiting_problem", _("Awaiting problem")


class Channel(models.TextChoices):
    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    WALK_IN = "walk_in", _("Walk-in")
    API = "api", _("API")
    MONITORING = "monitoring", _("Monitoring event")
    AGENT = "agent", _("Endpoint agent")


class Impact(models.IntegerChoices):
    HIGH = 1, _("1 – High")
    MEDIUM = 2, _("2 – Medium")
    LOW = 3, _("3 – Low")


class Urgency(models.IntegerChoices):
    HIGH = 1, _("1 – High")
    MEDIUM = 2, _("2 – Medium")
    LOW = 3, _("3 – Low")


class ResolutionCode(models.TextChoices):
    SOLVED_PERMANENTLY = "solved_permanently", _("Solved (permanently)")
    SOLVED_WORKAROUND = "solved_workaround", _("Solved (workaround)")
    RESOLVED_BY_CHANGE = "resolved_by_change", _("Resolved by a change")
    NOT_REPRODUCIBLE = "not_reproducible", _("Not reproducible")
    USER_ERROR = "user_error", _("User error / advice given")
    DUPLICATE = "duplicate", _("Duplicate")


def _needs_hold_reason(incident: Incident, values: dict) -> dict[str, list[str]] | None:
    reason = values.get("hold_reason", incident.hold_reason)
    return None if reason else {"hold_reason": [str(_("Say what the incident waits for."))]}


_DESK = "accounts.access_desk"
INCIDENT_WORKFLOW = Workflow(
    states=IncidentState,
    initial=IncidentState.NEW,
    transitions=(
        Transition("new", "assigned", _("Assign"), _DESK),
        Transition("new", "in_progress", _("Start work"), _DESK),
        Transition("new", "resolved", _("Resolve"), _DESK,
                   guards=(required("resolution_code", _("Required to resolve.")),
                           required("resolution_notes", _("Required to resolve."))),
                   stamps=("resolved_at",)),
        Transition("new", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        Transition("assigned", "in_progress", _("Start work"), _DESK),
        Transition("assigned", "on_hold", _("Put on hold"), _DESK,
                   guards=(_needs_hold_reason,)),
        Transition("assigned", "resolved", _("Resolve"), _DESK,
                   guards=(required("resolution_code", _("Required to resolve.")),
                           required("resolution_notes", _("Required to resolve."))),
                   stamps=("resolved_at",)),
        Transition("assigned", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        Transition("in_progress", "on_hold", _("Put on hold"), _DESK,
                   guards=(_needs_hold_reason,)),
        Transition("in_progress", "resolved", _("Resolve"), _DESK,
                   guards=(required("resolution_code", _("Required to resolve.")),
                           required("resolution_notes", _("Required to resolve."))),
                   stamps=("resolved_at",)),
        Transition("in_progress", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        Transition("on_hold", "in_progress", _("Resume"), _DESK),
        Transition("on_hold", "resolved", _("Resolve"), _DESK,
                   guards=(required("resolution_code", _("Required to resolve.")),
                           required("resolution_notes", _("Required to resolve."))),
                   stamps=("resolved_at",)),
        Transition("on_hold", "cancelled", _("Cancel"), _DESK, stamps=("closed_at",)),
        # The caller may reopen (within the reopen window) or confirm the resolution,
        # which closes it; the service checks who may.
        Transition("resolved", "in_progress", _("Reopen")),
        Transition("resolved", "closed", _("Close"), stamps=("closed_at",)),
    ),
)


class Category(models.Model):
    """A category, or a subcategory when it has a parent (a two-level tree)."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                               related_name="children", verbose_name=_("parent category"))
    is_active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["order", "name"]
        verbose_name_plural = _("categories")
        constraints = [models.UniqueConstraint(fields=["parent", "name"],
                                               name="unique_category_name")]

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id else self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.parent_id and self.parent.parent_id:
            raise ValidationError({"parent": _("Categories have two levels: choose a "
                                               "top-level category as the parent.")})


class PriorityMatrixEntry(models.Model):
    """Impact × urgency → priority. Seeded with the ITIL default; administrators edit it."""

    impact = models.PositiveSmallIntegerField(_("impact"), choices=Impact.choices)
    urgency = models.PositiveSmallIntegerField(_("urgency"), choices=Urgency.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)

    class Meta:
        ordering = ["impact", "urgency"]
        verbose_name = _("priority matrix entry")
        verbose_name_plural = _("priority matrix")
        constraints = [models.UniqueConstraint(fields=["impact", "urgency"],
                                               name="unique_matrix_cell")]

    def __str__(self) -> str:
        return f"I{self.impact} × U{self.urgency} → P{self.priority}"


class RoutingRule(models.Model):
    """When an incident matches every condition set here, it goes to ``assignment_group``
    (and its priority may rise). Rules are tried in order; the first match wins."""

    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+", verbose_name=_("category"))
    service = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                                on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("service"))
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                           on_delete=models.CASCADE, related_name="+",
                           verbose_name=_("configuration item"))
    caller_location = models.CharField(_("caller's location"), max_length=150, blank=True)
    caller_vip = models.BooleanField(_("caller is a VIP"), null=True, blank=True)
    keywords = models.CharField(
        _("keywords"), max_length=300, blank=True,
        help_text=_("Comma-separated; any of them in the title or description matches."))
    assignment_group = models.ForeignKey("accounts.Team", on_delete=models.CASCADE,
                                         related_name="+", verbose_name=_("route to"))
    priority_bump = models.PositiveSmallIntegerField(
        _("raise priority by"), default=0, help_text=_("0, 1 or 2 levels (P4 → P3 is 1)."))

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name


class IncidentSettings(models.Model):
    """Business settings of incident management (one row), edited by administrators."""

    reopen_window_days = models.PositiveSmallIntegerField(
        _("reopen window (days)"), default=7,
        help_text=_("How long after resolution the caller may reopen."))
    auto_close_days = models.PositiveSmallIntegerField(
        _("close resolved incidents after (days)"), default=3)

    class Meta:
        verbose_name = _("incident settings")
        verbose_name_plural = _("incident settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


# The open states as a condition, for the partial indexes of the queues.
_OPEN = models.Q(state__in=[state.value for state in OPEN_STATES])


class Incident(Ticket):
    NUMBER_PREFIX = "INC"
    workflow = INCIDENT_WORKFLOW
    EDITABLE_FIELDS = (
        "title", "description", "requester", "assignment_group", "assignee", "channel",
        "category", "subcategory", "service", "ci", "impact", "urgency", "cause_ci",
        "parent",
    )

    state = models.CharField(_("state"), max_length=20, choices=IncidentState.choices,
                             default=IncidentState.NEW)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices,
                               default=Channel.PHONE)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", verbose_name=_("category"))
    subcategory = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("subcategory"))
    service = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="service_incidents",
                                verbose_name=_("affected service"))
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                           on_delete=models.PROTECT, related_name="incidents",
                           verbose_name=_("configuration item"))
    impact = models.PositiveSmallIntegerField(_("impact"), choices=Impact.choices,
                                              default=Impact.LOW)
    urgency = models.PositiveSmallIntegerField(_("urgency"), choices=Urgency.choices,
                                               default=Urgency.LOW)
    priority_overridden = models.BooleanField(_("priority set by hand"), default=False)
    priority_override_reason = models.CharField(_("reason for the priority"), max_length=300,
                                                blank=True)
    hold_reason = models.CharField(_("on hold because"), max_length=20,
                                   choices=HoldReason.choices, blank=True)
    resolution_code = models.CharField(_("resolution code"), max_length=30,
                                       choices=ResolutionCode.choices, blank=True)
    resolution_notes = models.TextField(_("resolution notes"), blank=True)
    cause_ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="caused_incidents",
                                 verbose_name=_("cause CI"))
    is_major = models.BooleanField(_("major incident"), default=False)
    major_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="managed_major_incidents", verbose_name=_("major incident manager"))
    major_declared_at = models.DateTimeField(_("declared major"), null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="children", verbose_name=_("parent incident"))
    # Hierarchical escalation: 0 none, 1 the group's manager told, 2 the incident manager.
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    reassignment_count = models.PositiveSmallIntegerField(_("times reassigned"), default=0)

    class Meta(Ticket.Meta):
        permissions = [
            ("override_priority", _("Can set an incident's priority by hand")),
            ("manage_major_incidents", _("Can declare and run major incidents")),
        ]
        indexes = [
            *Ticket.Meta.indexes,
            models.Index(fields=["service", "created_at"], name="incident_svc_recent_idx"),
            models.Index(fields=["ci", "created_at"], name="incident_ci_recent_idx"),
            # The desk queues (incidents.filtersets.QUEUES), each in its keyset order
            # (priority, opened, id): a page at any depth is one index range. Partial, so
            # they hold only the few percent of incidents that are open (or resolved).
            models.Index(fields=["priority", "created_at", "id"], name="incident_q_open_idx",
                         condition=_OPEN),
            models.Index(fields=["priority", "created_at", "id"],
                         name="incident_q_unassigned_idx",
                         condition=_OPEN & models.Q(assignee__isnull=True)),
            models.Index(fields=["assignment_group", "priority", "created_at", "id"],
                         name="incident_q_group_idx", condition=_OPEN),
            models.Index(fields=["assignee", "priority", "created_at", "id"],
                         name="incident_q_mine_idx", condition=_OPEN),
            models.Index(fields=["priority", "created_at", "id"], name="incident_q_major_idx",
                         condition=_OPEN & models.Q(is_major=True)),
            models.Index(fields=["priority", "created_at", "id"],
                         name="incident_q_resolved_idx",
                         condition=models.Q(state=IncidentState.RESOLVED.value)),
        ]


class StakeholderUpdate(models.Model):
    """A timestamped public update on a major incident: subscribers receive it and the
    portal shows the latest on the banner of the affected service."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE,
                                 related_name="stakeholder_updates")
    body = models.TextField(_("update"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(_("posted"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.incident_id} @ {self.created_at:%Y-%m-%d %H:%M}"


class ReviewStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    COMPLETED = "completed", _("Completed")


class PostIncidentReview(models.Model):
    """What happened (a timeline built from the audit log), why, and what we will do."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(_("status"), max_length=20, choices=ReviewStatus.choices,
                              default=ReviewStatus.DRAFT)
    summary = models.TextField(_("summary"), blank=True)
    root_cause = models.TextField(_("root cause"), blank=True)
    lessons = models.TextField(_("what went well, what to improve"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    def __str__(self) -> str:
        return f"Review of {self.incident_id}"


class ReviewAction(models.Model):
    """A follow-up action agreed in a post-incident review."""

    review = models.ForeignKey(PostIncidentReview, on_delete=models.CASCADE,
                               related_name="actions")
    description = models.CharField(_("action"), max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("owner"))
    due_on = models.DateField(_("due"), null=True, blank=True)
    done = models.BooleanField(_("done"), default=False)

    class Meta:
        ordering = ["done", "due_on", "id"]

    def __str__(self) -> str:
        return self.description
