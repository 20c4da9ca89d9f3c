import datetime

import pytest
from django.utils import timezone

from incidents import services as incidents
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


@pytest.fixture
def incident_manager(db):
    return UserFactory(username="grace", roles=["incident_manager"])


@pytest.fixture
def email_service(db):
    return CIFactory(name="Email & Collaboration", ci_class=ci_class("business_service"))


@pytest.fixture
def payroll_service(db):
    return CIFactory(name="Payroll", ci_class=ci_class("business_service"))


@pytest.fixture
def mail_server(db):
    return CIFactory(name="mail-01", ci_class=ci_class("application"))


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def email_incident(requester, desk_team, email_service):
    return incidents.incident_create(actor=requester, title="Email is down",
                                     service=email_service, impact=1, urgency=1)


def ago(**delta):
    return timezone.now() - datetime.timedelta(**delta)
