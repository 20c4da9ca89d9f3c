"""Fixtures of the remediation run tests: a signing key, devices with enrolled agents
behind a service, an approved action, an incident on the service and an approved change
whose window is open now."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.utils import timezone

from changes.models import Change
from cmdb.models import Relationship
from fleet.models import Agent
from incidents.models import Incident
from remediation import services
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import UserFactory
from tickets.services import ticket_create

ALLOW_ALL = {"allow": ["snapshot", "query:*", "*"]}




@pytest.fixture
def operator(db):
    return UserFactory(username="operator", roles=["remediation_operator"])


@pytest.fixture
def approver(db):
    return UserFactory(username="approver", roles=["remediation_approver"])


@pytest.fixture
def agent_hand(db):
    return UserFactory(username="agent-hand", roles=["service_desk_agent"])


def make_device(name: str, *, os_name: str = "Ubuntu 24.04", online: bool = True,
                policy: dict | None = None, cls: str = "workstation") -> Agent:
    device = CIFactory(name=name, ci_class=ci_class(cls))
    digest = hashlib.sha256(name.encode()).hexdigest()
    return Agent.objects.create(device=device, token_prefix=digest[:12], token_hash=digest,
                                hostname=name, os_name=os_name, online=online,
                                last_seen_at=timezone.now(),
                                policy=ALLOW_ALL if policy is None else policy)


@pytest.fixture
def service(db):
    return CIFactory(name="Desktop DNS", ci_class=ci_class("business_service"))


@pytest.fixture
def fleet(service, signing_key):
    """Ten online laptops using the service."""
    agents = [make_device(f"lap-{n:02d}") for n in range(10)]
    for agent in agents:
        Relationship.objects.create(source=agent.device, target=service,
                                    type=rel_type("depends_on"))
    return agents


def approve(operator, approver, name="flush-dns", **fields):
    values = {"kind": "builtin", "builtin": "flush_dns", "platforms": ["linux"],
              "timeout_seconds": 60}
    values.update(fields)
    version = services.action_create(actor=operator, name=name, title=name, **values)
    return services.version_approve(actor=approver, version=version)


@pytest.fixture
def action(operator, approver):
    return approve(operator, approver)


@pytest.fixture
def incident(agent_hand, service):
    return ticket_create(model=Incident, actor=agent_hand, title="DNS fails on laptops",
                         service=service)


@pytest.fixture
def change(agent_hand, service):
    """A normal change, approved and scheduled around now."""
    now = timezone.now()
    change = ticket_create(model=Change, actor=agent_hand, title="Flush DNS everywhere",
                           type="normal", planned_start=now - datetime.timedelta(hours=1),
                           planned_end=now + datetime.timedelta(hours=2))
    Change.objects.filter(pk=change.pk).update(state="scheduled", authorized_at=now)
    change.refresh_from_db()
    change.services.set([service])
    return change
