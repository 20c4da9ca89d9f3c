"""Fixtures of the change tests: people in the change roles, CIs, a template."""

import datetime

import pytest
from django.utils import timezone

from changes import services
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import MembershipFactory, TeamFactory, UserFactory


def soon(**delta) -> datetime.datetime:
    return (timezone.now() + datetime.timedelta(**delta)).replace(microsecond=0)


@pytest.fixture
def change_manager(db):
    return UserFactory(username="cm", roles=["change_manager"])


@pytest.fixture
def implementer(db):
    return UserFactory(username="impl", roles=["resolver"])


@pytest.fixture
def requester(db):
    return UserFactory(username="caller", roles=["requester"])


@pytest.fixture
def team(db, implementer):
    team = TeamFactory(name="Platform")
    MembershipFactory(team=team, user=implementer)
    return team


@pytest.fixture
def server(db):
    return CIFactory(name="web-01", ci_class=ci_class("server"))


@pytest.fixture
def app_ci(db):
    return CIFactory(name="payroll-app", ci_class=ci_class("application"))


@pytest.fixture
def template(change_manager, server):
    version = services.template_create(
        actor=change_manager, name="Patch a Linux server", title="Monthly OS patching",
        implementation_plan="apt upgrade; reboot", backout_plan="Restore the snapshot",
        test_plan="Health check green", risk="low", expected_minutes=45,
        allowed_ci_classes=[ci_class("server")])
    services.template_version_approve(actor=change_manager, version=version)
    return version.template


def normal_change(actor, **fields):
    defaults = {"title": "Upgrade the database", "justification": "End of support",
                "implementation_plan": "Run the upgrade", "backout_plan": "Restore backup",
                "planned_start": soon(days=2), "planned_end": soon(days=2, hours=2)}
    defaults.update(fields)
    return services.change_create(actor=actor, type=fields.pop("type", "normal"),
                                  **{k: v for k, v in defaults.items() if k != "type"})
