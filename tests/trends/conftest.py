"""Fixtures of the trend tests: people, CIs, categories, and ``log`` to open incidents
(optionally ``age`` ago)."""

import datetime

import pytest
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Category, Incident
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory

DAYS = datetime.timedelta(days=1)


@pytest.fixture
def problem_manager(db):
    return UserFactory(username="pm", roles=["problem_manager"])


@pytest.fixture
def agent(db):
    return UserFactory(username="agent1", roles=["service_desk_agent"])


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def caller(db):
    return UserFactory(username="caller", roles=["requester"])


@pytest.fixture
def log(caller, desk_team):
    def make(title="Something is wrong", *, age=None, actor=None, **fields):
        incident = incident_services.incident_create(actor=actor or caller, title=title,
                                                     **fields)
        if age is not None:  # opened that long ago
            Incident.objects.filter(pk=incident.pk).update(created_at=timezone.now() - age)
            incident.refresh_from_db()
        return incident
    return make


@pytest.fixture
def server(db):
    return CIFactory(name="vpn-gw-01", ci_class=ci_class("server"))


@pytest.fixture
def other_server(db):
    return CIFactory(name="db-07", ci_class=ci_class("server"))


@pytest.fixture
def service(db):
    return CIFactory(name="Remote access", ci_class=ci_class("business_service"))


@pytest.fixture
def network(db):
    return Category.objects.create(name="Network")


@pytest.fixture
def vpn(network):
    return Category.objects.create(name="VPN", parent=network)


# Unrelated titles, so a cluster of one kind does not also make a text cluster.
VARIED = ("Printer jams on the second floor", "Laptop battery drains in an hour",
          "Password reset link expired", "Excel add-in fails to load",
          "Docking station not detecting monitors", "Phone will not sync email",
          "Payroll export stuck at half way", "New starter has no account")


@pytest.fixture
def cluster_on(log):
    """``count`` incidents sharing ``fields`` (a CI, a service, a category), with unlike
    titles, opened a day apart (the oldest ``count`` days ago)."""
    def make(count=4, *, offset=0, **fields):
        return [log(VARIED[(offset + n) % len(VARIED)], age=(count - n) * DAYS, **fields)
                for n in range(count)]
    return make
