"""Fixtures of the fleet tests: a signing key in a temporary file, a fleet manager, an
enrolment secret, and an enrolled agent."""

import datetime

import pytest
from django.utils import timezone

from fleet import services
from tests.factories import UserFactory


@pytest.fixture
def fleet_manager(db):
    return UserFactory(username="fleet-admin", roles=["administrator"])


@pytest.fixture
def group(fleet_manager):
    return services.enrolment_group_create(actor=fleet_manager, name="London laptops")


@pytest.fixture
def secret(fleet_manager, group):
    _row, raw = services.enrolment_secret_create(
        actor=fleet_manager, group=group, name="rollout",
        expires_at=timezone.now() + datetime.timedelta(days=1), max_uses=5)
    return raw


FACTS = {"hostname": "lap-0042", "domain": "corp.example", "os_name": "Ubuntu",
         "os_version": "24.04", "serial_number": "PF3XYZ42",
         "mac_addresses": ["aa:bb:cc:dd:ee:42"], "ip_addresses": ["10.1.2.42"],
         "agent_version": "1.0.0"}


@pytest.fixture
def enrolled(secret, signing_key):
    return services.agent_enrol(secret=secret, facts=dict(FACTS))
