"""Service availability: outages of business services (recorded by hand or opened by
major incidents), maintenance windows (agreed time the service may be down) and each
service's availability target. The figures are computed by
:mod:`availability.calculations`; every write goes through :mod:`availability.services`."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

TARGET_MIN_EXCLUSIVE = Decimal("0")
TARGET_MAX = Decimal("100")


class Outage(models.Model):
    """A period during which a business service was unavailable. ``ended_at`` is empty
    while the outage goes on. Outages opened by a major incident name it as their
    ``source_incident`` and follow it (resolve ends, reopen reopens)."""

    service = models.ForeignKey("cmdb.ConfigurationItem", on_delete=models.PROTECT,
                                related_name="outages", verbose_name=_("service"))
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True,
                                    help_text=_("Empty while the outage goes on."))
    description = models.TextField(_("description"), blank=True)
    source_incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.PROTECT,
        related_name="outages", verbose_name=_("major incident"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("recorded by"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["service", "started_at"], name="outage_service_idx")]
        constraints = [models.CheckConstraint(
            condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
            name="outage_ends_after_start")]

    def __str__(self) -> str:
        return f"{self.service} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_ongoing(self) -> bool:
        return self.ended_at is None


class MaintenanceWindow(models.Model):
    """Agreed time the service may be down: it is not counted as agreed service time,
    and outages inside it are not downtime."""

    service = models.ForeignKey("cmdb.ConfigurationItem", on_delete=models.CASCADE,
                                related_name="maintenance_windows",
                                verbose_name=_("service"))
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    reason = models.CharField(_("reason"), max_length=300)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("recorded by"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["service", "starts_at"], name="maintenance_service_idx")]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")),
                                              name="maintenance_ends_after_start")]

    def __str__(self) -> str:
        return f"{self.service} {self.starts_at:%Y-%m-%d %H:%M}"


class AvailabilityTarget(models.Model):
    """The availability a service promises, in percent of agreed time per month. A model
    of its own (not a CI field): the CMDB stays free of service-level data, and a service
    without a row simply has no target."""

    service = models.OneToOneField("cmdb.ConfigurationItem", on_delete=models.CASCADE,
                                   primary_key=True, related_name="availability_target",
                                   verbose_name=_("service"))
    target_percent = models.DecimalField(
        _("target (%)"), max_digits=6, decimal_places=3,
        validators=[MinValueValidator(Decimal("0.001")), MaxValueValidator(TARGET_MAX)],
        help_text=_("For example 99.5: the share of agreed time the service is up."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(
            condition=Q(target_percent__gt=0) & Q(target_percent__lte=100),
            name="availability_target_range")]

    def __str__(self) -> str:
        return f"{self.service}: {self.target_percent}%"
