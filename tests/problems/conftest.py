"""Fixtures of the problem tests: a problem manager, a desk agent, incidents, CIs."""

import pytest

from incidents import services as incident_services
from problems import services
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory


@pytest.fixture
def problem_manager(db):
    return UserFactory(username="pm", roles=["problem_manager"])


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def caller(db):
    return UserFactory(username="caller", roles=["requester"])


@pytest.fixture
def make_incident(caller, desk_team):
    def make(title="VPN drops every hour", **fields):
        return incident_services.incident_create(actor=caller, title=title, **fields)
    return make


@pytest.fixture
def service(db):
    return CIFactory(name="Remote access", ci_class=ci_class("business_service"))


@pytest.fixture
def server(db):
    return CIFactory(name="vpn-gw-01", ci_class=ci_class("server"), location="Leeds")


@pytest.fixture
def problem(problem_manager):
    return services.problem_create(actor=problem_manager, title="VPN tunnels drop hourly",
                                   description="Users lose the VPN on the hour.")


def analysed(problem, actor, **fields):
    """The problem in root cause analysis with a root cause written down."""
    fields.setdefault("root_cause", "The IKE lifetime is shorter than the rekey window.")
    services.problem_update(actor=actor, problem=problem, **fields)
    return services.problem_transition(actor=actor, problem=problem, to_state="rca")
