import datetime as dt

import pytest
import time_machine

from sla.models import Agreement, AgreementKind, BusinessCalendar, Metric, Target, Threshold
from sla.models import WorkingInterval as Interval
from tests.factories import MembershipFactory, TeamFactory, UserFactory

# A Monday, 09:00 in London (GMT in January).
MONDAY_9 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    """Time under the test's control: ``clock.move_to(datetime)`` / ``clock.shift(td)``."""
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def always(db):
    calendar = BusinessCalendar.objects.create(name="24×7", time_zone="UTC")
    Interval.objects.bulk_create(Interval(calendar=calendar, weekday=d, start_minute=0,
                                          end_minute=1440) for d in range(7))
    return calendar


@pytest.fixture
def office(db):
    """Monday to Friday, 09:00–17:00 London time."""
    calendar = BusinessCalendar.objects.create(name="Office hours", time_zone="Europe/London")
    Interval.objects.bulk_create(Interval(calendar=calendar, weekday=d, start_minute=9 * 60,
                                          end_minute=17 * 60) for d in range(5))
    return calendar


def make_agreement(name, calendar, *, kind=AgreementKind.SLA, order=100, first_response=60,
                   resolution=480, thresholds=(50, 75, 90, 100), actions=None, **conditions):
    categories = conditions.pop("categories", [])
    services = conditions.pop("services", [])
    groups = conditions.pop("assignment_groups", [])
    reset_on = conditions.pop("reset_on", [])
    agreement = Agreement.objects.create(name=name, kind=kind, order=order, **conditions)
    agreement.categories.set(categories)
    agreement.services.set(services)
    agreement.assignment_groups.set(groups)
    for metric, goal in ((Metric.FIRST_RESPONSE, first_response),
                         (Metric.RESOLUTION, resolution)):
        if goal is None:
            continue
        target = Target.objects.create(agreement=agreement, metric=metric, goal_minutes=goal,
                                       calendar=calendar, reset_on=reset_on)
        for percent in thresholds:
            Threshold.objects.create(target=target, percent=percent,
                                     actions=(actions or {}).get(percent, []))
    return agreement


@pytest.fixture
def desk(db):
    team = TeamFactory(name="Service Desk", is_service_desk=True)
    return team


@pytest.fixture
def resolver(desk):
    person = UserFactory(username="res1", roles=["service_desk_agent"])
    MembershipFactory(team=desk, user=person)
    return person


@pytest.fixture
def outsider(db):
    """A desk agent who is not in the incident's assignment group."""
    return UserFactory(username="other1", roles=["service_desk_agent"])
