"""Trend detection: clusters of recent incidents (the same CI, the same service, the same
category, similar text) above a threshold, proposed to problem managers as a problem to
open. A proposal is one row per cluster, keyed by ``(kind, key)``, so detection run again
finds the same row instead of making another; its state says what was decided.

Detection is :func:`trends.services.detect`; settings are :class:`TrendSettings` (one
row, edited by administrators); see docs/trends.md."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class ClusterKind(models.TextChoices):
    CI = "ci", _("Same configuration item")
    SERVICE = "service", _("Same service")
    CATEGORY = "category", _("Same category")
    TEXT = "text", _("Similar text")


class ProposalState(models.TextChoices):
    OPEN = "open", _("Open")
    ACCEPTED = "accepted", _("Accepted")
    DISMISSED = "dismissed", _("Dismissed")


class TrendSettings(models.Model):
    """Business settings of trend detection (one row), edited by administrators."""

    window_days = models.PositiveSmallIntegerField(
        _("window (days)"), default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Incidents opened this recently are looked at."))
    threshold = models.PositiveSmallIntegerField(
        _("threshold (incidents)"), default=4,
        validators=[MinValueValidator(2), MaxValueValidator(1000)],
        help_text=_("A cluster is proposed from this many incidents."))
    text_similarity = models.DecimalField(
        _("text similarity (0–1)"), max_digits=3, decimal_places=2, default=Decimal("0.35"),
        validators=[MinValueValidator(0.05), MaxValueValidator(1)],
        help_text=_("How alike titles and descriptions must be (TF-IDF cosine) to count "
                    "as the same issue."))
    kinds = models.CharField(
        _("kinds of cluster"), max_length=100, default="ci,service,category,text",
        help_text=_("Comma-separated, from: ci, service, category, text."))

    class Meta:
        verbose_name = _("trend settings")
        verbose_name_plural = _("trend settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls) -> TrendSettings:
        """The saved row, or the defaults when none was saved."""
        return cls.objects.first() or cls()

    @property
    def kind_list(self) -> tuple[str, ...]:
        wanted = {part.strip() for part in (self.kinds or "").split(",") if part.strip()}
        return tuple(kind for kind in ClusterKind.values if kind in wanted)

    def clean(self) -> None:
        wanted = {part.strip() for part in (self.kinds or "").split(",") if part.strip()}
        unknown = wanted - set(ClusterKind.values)
        if unknown:
            raise ValidationError({"kinds": _("Unknown kinds: %(names)s.") % {
                "names": ", ".join(sorted(unknown))}})


class Proposal(models.Model):
    """A cluster of incidents proposed as a problem. ``incidents`` are the cluster's
    members when it was last seen open (or when it was decided); ``new_incidents``, on an
    accepted proposal only, are incidents that joined the cluster since, to be linked to
    its problem."""

    kind = models.CharField(_("kind"), max_length=20, choices=ClusterKind.choices)
    key = models.CharField(_("key"), max_length=100,
                           help_text=_("Stable per cluster: ci:<id>, service:<id>, "
                                       "category:<id> or text:<hash of its top terms>."))
    title = models.CharField(_("suggested title"), max_length=200)
    description = models.TextField(_("why it is proposed"), blank=True)
    ci = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+",
                           verbose_name=_("configuration item"))
    service = models.ForeignKey("cmdb.ConfigurationItem", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+",
                                verbose_name=_("service"))
    category = models.ForeignKey("incidents.Category", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+",
                                 verbose_name=_("category"))
    terms = models.CharField(_("top terms"), max_length=200, blank=True,
                             help_text=_("For text clusters: the words their incidents "
                                         "share most."))
    incidents = models.ManyToManyField("incidents.Incident", related_name="trend_proposals",
                                       verbose_name=_("incidents"))
    new_incidents = models.ManyToManyField(
        "incidents.Incident", related_name="+", blank=True,
        verbose_name=_("incidents that joined after acceptance"))
    incident_count = models.PositiveIntegerField(_("incidents"), default=0)
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))
    state = models.CharField(_("state"), max_length=20, choices=ProposalState.choices,
                             default=ProposalState.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    dismiss_reason = models.TextField(_("reason for dismissing"), blank=True)
    dismissed_count = models.PositiveIntegerField(
        _("incidents when dismissed"), null=True, blank=True,
        help_text=_("Proposed again only when the cluster grows beyond this."))
    reopened_note = models.CharField(_("reopened because"), max_length=200, blank=True)
    problem = models.ForeignKey("problems.Problem", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="trend_proposals",
                                verbose_name=_("problem"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"],
                                               name="unique_proposal_cluster")]
        indexes = [models.Index(fields=["state", "last_seen"], name="proposal_state_idx")]
        permissions = [("decide_proposal", "Can accept or dismiss trend proposals")]

    def __str__(self) -> str:
        return self.title
