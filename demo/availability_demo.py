"""Demo service availability: each business service's monthly target, the monthly patch
windows, and a few outages recorded by hand in the last months (the ones from the demo's
major incidents are recorded by the incidents themselves): one service missed its target
last month, one outage fell inside a maintenance window and does not count."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from availability import services
from availability.models import AvailabilityTarget
from cmdb.models import ConfigurationItem

User = get_user_model()

TARGETS = {"Online Ordering": "99.9", "Payroll": "99.5", "Email & Collaboration": "99.5",
           "Clinical Records": "99.95", "Warehouse Management": "99.8",
           "Finance & Accounting": "99.0"}
HOUR = datetime.timedelta(hours=1)


def _month_start(months_ago: int) -> datetime.datetime:
    today = timezone.localdate()
    year, month = divmod(today.year * 12 + today.month - 1 - months_ago, 12)
    return datetime.datetime(year, month + 1, 1, tzinfo=timezone.get_current_timezone())


def _first_sunday(start: datetime.datetime) -> datetime.datetime:
    return start + datetime.timedelta(days=(6 - start.weekday()) % 7)


def load_availability() -> None:
    if AvailabilityTarget.objects.exists():  # seeded once
        return
    actor = User.objects.get(username="asset.manager")
    named = {ci.name: ci for ci in ConfigurationItem.objects.filter(
        name__in=TARGETS, ci_class__is_service=True)}
    for name, percent in TARGETS.items():
        if name in named:
            services.availability_target_set(actor=actor, service=named[name],
                                              target_percent=percent)
    shop, clinical, warehouse = (named.get(n) for n in (
        "Online Ordering", "Clinical Records", "Warehouse Management"))
    if shop is not None:
        for months_ago in (2, 1, 0, -1):  # the monthly patch window, and next month's
            sunday = _first_sunday(_month_start(months_ago)) + 2 * HOUR
            services.maintenance_window_create(
                actor=actor, service=shop, starts_at=sunday, ends_at=sunday + 2 * HOUR,
                reason="Monthly patching of the web shop platform")
        last_month = _month_start(1) + datetime.timedelta(days=11, hours=14)
        services.outage_record(actor=actor, service=shop, started_at=last_month,
                               ended_at=last_month + datetime.timedelta(minutes=55),
                               description="Payment gateway certificate expired.")
    if clinical is not None:
        sunday = _first_sunday(_month_start(1)) + 22 * HOUR
        services.maintenance_window_create(
            actor=actor, service=clinical, starts_at=sunday, ends_at=sunday + 3 * HOUR,
            reason="Database upgrade")
        services.outage_record(
            actor=actor, service=clinical, started_at=sunday + HOUR,
            ended_at=sunday + HOUR + datetime.timedelta(minutes=20),
            description="Restart during the upgrade (inside the maintenance window).")
    if warehouse is not None:
        two_months = _month_start(2) + datetime.timedelta(days=17, hours=6)
        services.outage_record(actor=actor, service=warehouse, started_at=two_months,
                               ended_at=two_months + datetime.timedelta(minutes=35),
                               description="Scanner gateway lost its network link.")
