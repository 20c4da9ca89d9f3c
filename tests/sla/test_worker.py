"""The tick sent through the real broker to a real worker process fires a breach once:
the escalation is recorded and the warnings passed over are not sent late."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from incidents import services
from incidents.models import Incident
from sla.engine import schedule
from sla.models import Firing, Metric, ThresholdAction, Timer
from tests.platform.test_worker import worker  # noqa: F401  (the fixture)

from .conftest import make_agreement


@pytest.mark.worker
def test_the_tick_in_a_real_worker_fires_the_breach_once(worker, always, desk,  # noqa: F811
                                                         requester):
    make_agreement("Standard", always, first_response=None, resolution=60,
                   actions={100: [ThresholdAction.MARK_ESCALATED]})
    incident = services.incident_create(actor=requester, title="Opened two hours ago")
    timer = Timer.objects.get(object_id=incident.pk, metric=Metric.RESOLUTION)
    timer.started_at = timezone.now() - dt.timedelta(hours=2)  # as if beat had been down
    schedule(timer)
    timer.save()
    from sla.tasks import tick

    tick.delay()
    tick.delay()  # a second tick (or a redelivery) changes nothing
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        breach = Firing.objects.filter(timer=timer, percent=100,
                                       actions_done_at__isnull=False).first()
        if breach is not None:
            break
        time.sleep(0.3)
    else:
        pytest.fail("the worker did not fire the breach")
    time.sleep(1)
    assert [(f.percent, f.skipped) for f in Firing.objects.filter(timer=timer)] == [
        (50, True), (75, True), (90, True), (100, False)]
    assert breach.outcome[0]["action"] == "mark_escalated"
    assert Incident.objects.get(pk=incident.pk).escalation_level == 2
    timer.refresh_from_db()
    assert timer.breached_at == timer.started_at + dt.timedelta(minutes=60)
