import factory.random
import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _repeatable_fakes(request):
    # The factories' names and emails are the same on every run of a test, so a failure
    # that depends on them (a name that happens to match a search) shows every time.
    factory.random.reseed_random(request.node.nodeid)


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle and lockout counters must not leak between tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin_user(db):
    return UserFactory(username="root", roles=["administrator"])


@pytest.fixture
def agent(db):
    return UserFactory(username="agent1", roles=["service_desk_agent"])


@pytest.fixture
def requester(db):
    return UserFactory(username="req1", roles=["requester"])


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def signing_key(db, settings, tmp_path):
    """A job-signing key in a temporary file (what the dispatching worker reads)."""
    settings.FLEET_SIGNING_KEY_FILE = str(tmp_path / "keys" / "fleet-signing.pem")
    call_command("fleet_keygen", verbosity=0)
    return settings.FLEET_SIGNING_KEY_FILE

