"""Change enablement: the change record and its declared lifecycle, standard change
templates (versioned, approved once), the risk questionnaire, approval policies and the
approvals they raise, CAB meetings, maintenance and freeze windows, detected conflicts and
the post-implementation review. Every write goes through :mod:`changes.services` (and the
modules named there)."""

from __future__ import annotations

import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from tickets.models import Ticket

from .workflow import CHANGE_WORKFLOW, ChangeState

__all__ = ["ChangeState"]


class ChangeType(models.TextChoices):
    STANDARD = "standard", _("Standard")
    NORMAL = "normal", _("Normal")
    EMERGENCY = "emergency", _("Emergency")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MODERATE = "moderate", _("Moderate")
    HIGH = "high", _("High")
    VERY_HIGH = "very_high", _("Very high")


RISK_ORDER = [RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH, RiskLevel.VERY_HIGH]


class ChangeImpact(models.IntegerChoices):
    HIGH = 1, _("1 – High")
    MEDIUM = 2, _("2 – Medium")
    LOW = 3, _("3 – Low")


class ChangeResult(models.TextChoices):
    SUCCESSFUL = "successful", _("Successful")
    WITH_ISSUES = "successful_with_issues", _("Successful with issues")
    FAILED = "failed", _("Failed")
    BACKED_OUT = "backed_out", _("Backed out")


# Results that count as a failed change (success rates, the risk factor) and that need a
# completed review before the change may close.
FAILED_RESULTS = (ChangeResult.FAILED, ChangeResult.BACKED_OUT)


class ChangeCategory(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("change category")
        verbose_name_plural = _("change categories")

    def __str__(self) -> str:
        return self.name


class ChangeSettings(models.Model):
    """Business settings of change enablement (one row), edited by change managers."""

    moderate_from = models.PositiveSmallIntegerField(
        _("moderate risk from (points)"), default=25)
    high_from = models.PositiveSmallIntegerField(_("high risk from (points)"), default=50)
    very_high_from = models.PositiveSmallIntegerField(
        _("very high risk from (points)"), default=75)
    failure_rate_days = models.PositiveSmallIntegerField(
        _("failure rate measured over (days)"), default=90)
    caused_incidents_days = models.PositiveSmallIntegerField(
        _("incidents caused by earlier changes looked back over (days)"), default=180)
    review_window_hours = models.PositiveSmallIntegerField(
        _("incidents suggested as caused up to (hours after the window)"), default=48)
    emergency_retro_hours = models.PositiveSmallIntegerField(
        _("emergency changes may be approved after the fact within (hours)"), default=72)
    conflict_depth = models.PositiveSmallIntegerField(
        _("related CIs checked for conflicts to (links)"), default=2,
        validators=[MinValueValidator(0), MaxValueValidator(5)])

    class Meta:
        verbose_name = _("change settings")
        verbose_name_plural = _("change settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls) -> ChangeSettings:
        """The saved row, or the defaults when none was saved."""
        return cls.objects.first() or cls()

    def clean(self) -> None:
        if not self.moderate_from < self.high_from < self.very_high_from:
            raise ValidationError({"high_from": _(
                "The thresholds must rise: moderate < high < very high.")})


# --- Standard change templates ---------------------------------------------------------

class ChangeTemplate(models.Model):
    """A standard change in the catalogue. Its content lives in versions; changes are
    created from the current approved version."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    owner_team = models.ForeignKey("accounts.Team", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("owner team"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("standard change template")

    def __str__(self) -> str:
        return self.name


class TemplateStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    RETIRED = "retired", _("Retired")


class ChangeTemplateVersion(models.Model):
    template = models.ForeignKey(ChangeTemplate, on_delete=models.CASCADE,
                                 related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=10, choices=TemplateStatus.choices,
                              default=TemplateStatus.DRAFT)
    title = models.CharField(_("change title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(ChangeCategory, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("category"))
    implementation_plan = models.TextField(_("implementation plan"))
    backout_plan = models.TextField(_("backout plan"))
    test_plan = models.TextField(_("test plan"), blank=True)
    risk = models.CharField(_("risk"), max_length=10, choices=RiskLevel.choices,
                            default=RiskLevel.LOW)
    impact = models.PositiveSmallIntegerField(_("impact"), choices=ChangeImpact.choices,
                                              default=ChangeImpact.LOW)
    expected_minutes = models.PositiveIntegerField(
        _("expected duration (minutes)"), default=60, validators=[MinValueValidator(1)])
    outage_expected = models.BooleanField(_("outage expected"), default=False)
    allowed_ci_classes = models.ManyToManyField(
        "cmdb.CIClass", blank=True, related_name="+", verbose_name=_("allowed CI classes"),
        help_text=_("Changes from this template may touch only CIs of these classes "
                    "(any class when empty)."))
    # The remediation action this template authorises, by its library name; the
    # remediation practice resolves it (a later issue adds the library).
    remediation_action = models.CharField(
        _("remediation action it authorises"), max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("approved by"))
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        ordering = ["template", "-version"]
        constraints = [models.UniqueConstraint(fields=["template", "version"],
                                               name="unique_template_version")]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.version}"


# --- The change record -----------------------------------------------------------------

_OPEN = Q(state__in=[s.value for s in ChangeState if s not in (ChangeState.CLOSED,
                                                               ChangeState.CANCELLED)])


class Change(Ticket):
    NUMBER_PREFIX = "CHG"
    workflow = CHANGE_WORKFLOW
    EDITABLE_FIELDS = (
        "title", "description", "priority", "requester", "assignment_group", "assignee",
        "category", "justification", "implementation_plan", "backout_plan", "test_plan",
        "planned_start", "planned_end", "outage_expected", "outage_minutes", "impact",
        "result", "freeze_override_reason",
    )

    state = models.CharField(_("state"), max_length=20, choices=ChangeState.choices,
                             default=ChangeState.NEW)
    type = models.CharField(_("type"), max_length=10, choices=ChangeType.choices,
                            default=ChangeType.NORMAL)
    category = models.ForeignKey(ChangeCategory, null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("category"))
    template_version = models.ForeignKey(
        ChangeTemplateVersion, null=True, blank=True, on_delete=models.PROTECT,
        related_name="changes", verbose_name=_("standard change template"))
    justification = models.TextField(_("justification"), blank=True)
    implementation_plan = models.TextField(_("implementation plan"), blank=True)
    backout_plan = models.TextField(_("backout plan"), blank=True)
    test_plan = models.TextField(_("test plan"), blank=True)
    services = models.ManyToManyField("cmdb.ConfigurationItem", blank=True,
                                      related_name="service_changes",
                                      verbose_name=_("affected services"))
    cis = models.ManyToManyField("cmdb.ConfigurationItem", blank=True,
                                 related_name="changes",
                                 verbose_name=_("affected configuration items"))
    planned_start = models.DateTimeField(_("planned start"), null=True, blank=True)
    planned_end = models.DateTimeField(_("planned end"), null=True, blank=True)
    actual_start = models.DateTimeField(_("actual start"), null=True, blank=True)
    actual_end = models.DateTimeField(_("actual end"), null=True, blank=True)
    outage_expected = models.BooleanField(_("outage expected"), default=False)
    outage_minutes = models.PositiveIntegerField(_("expected outage (minutes)"), null=True,
                                                 blank=True)
    impact = models.PositiveSmallIntegerField(_("impact"), choices=ChangeImpact.choices,
                                              default=ChangeImpact.LOW)
    # Set by the risk assessment (changes.risk): the level, its points and why.
    risk = models.CharField(_("risk"), max_length=10, choices=RiskLevel.choices, blank=True)
    risk_score = models.PositiveSmallIntegerField(_("risk points"), null=True, blank=True)
    risk_factors = models.JSONField(_("risk explained"), default=list, blank=True)
    risk_assessed_at = models.DateTimeField(_("risk assessed"), null=True, blank=True)
    incidents = models.ManyToManyField("incidents.Incident", blank=True,
                                       related_name="changes",
                                       verbose_name=_("linked incidents"))
    # Incidents the review found this change caused (feeds the risk of later changes).
    caused_incidents = models.ManyToManyField("incidents.Incident", blank=True,
                                              related_name="caused_by_changes",
                                              verbose_name=_("incidents caused"))
    result = models.CharField(_("result"), max_length=30, choices=ChangeResult.choices,
                              blank=True)
    authorized_at = models.DateTimeField(_("authorised"), null=True, blank=True)
    # An emergency change implemented before its approval: approved after the fact by
    # this time, else flagged overdue.
    retro_approval_due = models.DateTimeField(_("to be approved after the fact by"),
                                              null=True, blank=True)
    freeze_override_reason = models.TextField(_("reason to override the freeze"),
                                              blank=True)
    cab_required = models.BooleanField(_("needs a CAB decision"), default=False)

    class Meta(Ticket.Meta):
        permissions = [
            ("manage_changes", _("Can manage change enablement (templates, policies, "
                                 "windows, overrides)")),
            ("approve_change", _("Can be asked to approve changes")),
        ]
        indexes = [
            *Ticket.Meta.indexes,
            models.Index(fields=["planned_start", "planned_end"], name="change_window_idx"),
            models.Index(fields=["type", "state"], name="change_type_idx"),
            models.Index(fields=["created_at", "id"], name="change_open_idx",
                         condition=_OPEN),
        ]
        constraints = [models.CheckConstraint(
            condition=Q(planned_start__isnull=True) | Q(planned_end__isnull=True)
            | Q(planned_end__gt=F("planned_start")), name="change_planned_end_after_start")]

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.planned_start and self.planned_end and self.planned_end <= self.planned_start:
            errors["planned_end"] = [_("The planned end must be after the planned start.")]
        if self.actual_start and self.actual_end and self.actual_end < self.actual_start:
            errors["actual_end"] = [_("The actual end cannot be before the actual start.")]
        if self.outage_minutes and not self.outage_expected:
            errors["outage_minutes"] = [_("Say an outage is expected, or leave this empty.")]
        if self.type == ChangeType.STANDARD and not self.template_version_id:
            errors["type"] = [_("A standard change comes from an approved template.")]
        if errors:
            raise ValidationError(errors)

    @property
    def is_open(self) -> bool:
        return self.state not in (ChangeState.CLOSED, ChangeState.CANCELLED)

    @property
    def retro_overdue(self) -> bool:
        from django.utils import timezone

        return bool(self.retro_approval_due and self.authorized_at is None
                    and timezone.now() > self.retro_approval_due)


# --- Risk questionnaire ------------------------------------------------------------------

class RiskQuestion(models.Model):
    text = models.CharField(_("question"), max_length=300)
    help_text = models.CharField(_("help"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text


class RiskAnswer(models.Model):
    question = models.ForeignKey(RiskQuestion, on_delete=models.CASCADE,
                                 related_name="answers")
    text = models.CharField(_("answer"), max_length=200)
    weight = models.PositiveSmallIntegerField(
        _("points"), default=0, validators=[MaxValueValidator(100)])
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["question", "order", "id"]

    def __str__(self) -> str:
        return f"{self.text} ({self.weight})"


class ChangeRiskAnswer(models.Model):
    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="risk_answers")
    question = models.ForeignKey(RiskQuestion, on_delete=models.PROTECT, related_name="+")
    answer = models.ForeignKey(RiskAnswer, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["change", "question"],
                                               name="unique_risk_answer")]

    def __str__(self) -> str:
        return f"{self.change_id}: {self.answer}"


# --- Approvals -------------------------------------------------------------------------

class ApprovalRule(models.TextChoices):
    ANY = "any", _("Any one approver")
    ALL = "all", _("All approvers")
    MAJORITY = "majority", _("A majority")
    N_OF_M = "n_of_m", _("N of the approvers")


class ApprovalPolicy(models.Model):
    """Who must approve changes of the listed types and risk levels, and how many. The
    first active policy in order that matches a change decides its route."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    change_types = models.JSONField(_("change types"), default=list, blank=True,
                                    help_text=_("Empty: every type."))
    risk_levels = models.JSONField(_("risk levels"), default=list, blank=True,
                                   help_text=_("Empty: every level."))
    rule = models.CharField(_("rule"), max_length=10, choices=ApprovalRule.choices,
                            default=ApprovalRule.ANY)
    required_count = models.PositiveSmallIntegerField(
        _("approvals needed (N of M)"), null=True, blank=True)
    groups = models.ManyToManyField("accounts.Team", blank=True, related_name="+",
                                    verbose_name=_("approving teams"))
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+",
                                    verbose_name=_("approving people"))
    cab = models.BooleanField(_("decided at a CAB meeting"), default=False)
    allow_retrospective = models.BooleanField(
        _("may be approved after the fact (emergency)"), default=False)

    class Meta:
        ordering = ["order", "id"]
        verbose_name_plural = _("approval policies")

    def __str__(self) -> str:
        return self.name


class ApprovalState(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    INFO_REQUESTED = "info_requested", _("Information requested")
    CANCELLED = "cancelled", _("Cancelled")


class ApprovalRequest(models.Model):
    """One round of approval of a change under a policy's rule. A change sent back and
    authorised again gets a new round; the old one stays, cancelled."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="approvals")
    policy = models.ForeignKey(ApprovalPolicy, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    policy_name = models.CharField(_("policy"), max_length=100)
    rule = models.CharField(_("rule"), max_length=10, choices=ApprovalRule.choices)
    required_count = models.PositiveSmallIntegerField(_("approvals needed"))
    state = models.CharField(_("state"), max_length=20, choices=ApprovalState.choices,
                             default=ApprovalState.PENDING)
    retrospective = models.BooleanField(_("approved after the fact"), default=False)
    overridden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+",
                                      verbose_name=_("overridden by"))
    override_reason = models.TextField(_("override reason"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["change", "state"], name="approval_change_idx")]

    def __str__(self) -> str:
        return f"{self.change_id} {self.policy_name} ({self.state})"


class ApproverTask(models.Model):
    """One person's part in an approval round: their vote, once."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE,
                                related_name="tasks")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="change_approval_tasks")
    via_team = models.ForeignKey("accounts.Team", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(_("decision"), max_length=20, choices=ApprovalState.choices,
                             default=ApprovalState.PENDING)
    comment = models.TextField(_("comment"), blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["request", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "approver"],
                                               name="unique_approver_per_round")]
        indexes = [models.Index(fields=["approver", "state"], name="approver_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.approver_id} on {self.request_id}: {self.state}"


# --- CAB meetings ----------------------------------------------------------------------

class CabMeetingStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    HELD = "held", _("Held")
    CANCELLED = "cancelled", _("Cancelled")


class CabMeeting(models.Model):
    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    location = models.CharField(_("where"), max_length=200, blank=True)
    agenda_from = models.DateTimeField(_("changes planned from"))
    agenda_to = models.DateTimeField(_("changes planned until"))
    chair = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+",
                              verbose_name=_("chair"))
    status = models.CharField(_("status"), max_length=10, choices=CabMeetingStatus.choices,
                              default=CabMeetingStatus.PLANNED)
    minutes = models.TextField(_("minutes"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("CAB meeting")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")),
                                   name="cab_meeting_ends_after_start"),
            models.CheckConstraint(condition=Q(agenda_to__gt=F("agenda_from")),
                                   name="cab_agenda_range")]

    def __str__(self) -> str:
        return f"{self.title} {self.starts_at:%Y-%m-%d}"


class CabDecision(models.TextChoices):
    PENDING = "pending", _("To discuss")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    DEFERRED = "deferred", _("Deferred")
    INFO_REQUESTED = "info_requested", _("More information needed")


class CabAgendaItem(models.Model):
    meeting = models.ForeignKey(CabMeeting, on_delete=models.CASCADE, related_name="items")
    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="cab_items")
    order = models.PositiveSmallIntegerField(default=100)
    decision = models.CharField(_("decision"), max_length=20, choices=CabDecision.choices,
                                default=CabDecision.PENDING)
    notes = models.TextField(_("notes"), blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["meeting", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["meeting", "change"],
                                               name="unique_change_per_meeting")]

    def __str__(self) -> str:
        return f"{self.meeting_id}: {self.change_id}"


# --- Maintenance and freeze windows ----------------------------------------------------

class WindowKind(models.TextChoices):
    MAINTENANCE = "maintenance", _("Maintenance window")
    FREEZE = "freeze", _("Change freeze")


class Recurrence(models.TextChoices):
    NONE = "none", _("Once")
    DAILY = "daily", _("Every day")
    WEEKLY = "weekly", _("Every week")
    MONTHLY = "monthly", _("Every month")


RECURRENCE_PERIOD = {Recurrence.DAILY: datetime.timedelta(days=1),
                     Recurrence.WEEKLY: datetime.timedelta(days=7),
                     Recurrence.MONTHLY: datetime.timedelta(days=28)}


class ScheduleWindow(models.Model):
    """A maintenance window (when changes to a CI or service are expected) or a freeze
    (when none may be made: everywhere, or for one service and what it depends on).
    Recurring windows repeat their first occurrence in ``timezone`` local time (a weekly
    Sunday 02:00–06:00 stays so across daylight saving) until ``repeat_until``."""

    kind = models.CharField(_("kind"), max_length=12, choices=WindowKind.choices)
    name = models.CharField(_("name"), max_length=200)
    reason = models.TextField(_("reason"), blank=True)
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                           on_delete=models.CASCADE, related_name="schedule_windows",
                           verbose_name=_("CI or service"),
                           help_text=_("Empty for a freeze: it applies everywhere."))
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    recurrence = models.CharField(_("repeats"), max_length=10, choices=Recurrence.choices,
                                  default=Recurrence.NONE)
    repeat_until = models.DateField(_("repeats until"), null=True, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["kind", "ci"], name="window_kind_ci_idx")]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")),
                                              name="window_ends_after_start")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.starts_at and self.ends_at:
            if self.ends_at <= self.starts_at:
                errors["ends_at"] = [_("The end must be after the start.")]
            period = RECURRENCE_PERIOD.get(self.recurrence)
            if period and self.ends_at - self.starts_at >= period:
                errors["ends_at"] = [_(
                    "A window repeating %(every)s must be shorter than that, or it "
                    "overlaps itself.") % {"every": self.get_recurrence_display().lower()}]
        if self.kind == WindowKind.MAINTENANCE and not self.ci_id:
            errors["ci"] = [_("A maintenance window belongs to a CI or service.")]
        if self.recurrence == Recurrence.NONE and self.repeat_until:
            errors["repeat_until"] = [_("Only a repeating window repeats until a date.")]
        if self.repeat_until and self.starts_at and self.repeat_until < self.starts_at.date():
            errors["repeat_until"] = [_("Must be on or after the first start.")]
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = [_("Not a known time zone.")]
        if errors:
            raise ValidationError(errors)


# --- Conflicts -------------------------------------------------------------------------

class ConflictKind(models.TextChoices):
    OVERLAP = "overlap", _("Overlapping change")
    OUTSIDE_MAINTENANCE = "outside_maintenance", _("Outside the maintenance window")
    FREEZE = "freeze", _("Inside a change freeze")


class ChangeConflict(models.Model):
    """A conflict found when the change was last scheduled or rescheduled; replaced at
    each detection."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="conflicts")
    kind = models.CharField(_("kind"), max_length=20, choices=ConflictKind.choices)
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                           on_delete=models.CASCADE, related_name="+")
    other_change = models.ForeignKey(Change, null=True, blank=True,
                                     on_delete=models.CASCADE, related_name="+")
    window = models.ForeignKey(ScheduleWindow, null=True, blank=True,
                               on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("reason"), max_length=500)
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["change", "kind", "id"]

    def __str__(self) -> str:
        return self.reason


# --- Post-implementation review --------------------------------------------------------

class ChangeReview(models.Model):
    change = models.OneToOneField(Change, on_delete=models.CASCADE, related_name="review")
    result = models.CharField(_("result"), max_length=30, choices=ChangeResult.choices)
    deviations = models.TextField(_("deviations from the plan"), blank=True)
    lessons = models.TextField(_("lessons learned"), blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+",
                                 verbose_name=_("reviewer"))
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Review of {self.change_id}"
