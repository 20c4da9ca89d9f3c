from pathlib import Path

import factory.random
import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import UserFactory

BROWSER = Path(__file__).resolve().parent / "browser"


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction")
                               or marker.kwargs.get("reset_sequences")):
        return True
    return bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # Under pytest-xdist (dev.py test: --dist loadgroup) a module's tests stay together on
    # one worker, in their order, so module fixtures (a channel server, a migrated
    # database) start once; the browser journeys share one server and one Chromium. A
    # module's transactional tests are a group of their own: pytest-django runs them after
    # the others, as their flush takes away the data migrations seeded (CI classes), and
    # a group keeps the place of its first test.
    for item in items:
        if BROWSER in item.path.resolve().parents:
            group = "browser"
        else:
            group = item.nodeid.split("::")[0] + (":transactional" if _transactional(item)
                                                  else "")
        item.add_marker(pytest.mark.xdist_group(group))


class _BrowserFirst:
    """After pytest-django's sort (which puts tests without the database last): the
    browser journeys first, so under xdist their long group starts at once instead of
    running alone at the end while the other workers wait."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: BROWSER not in item.path.resolve().parents)


def pytest_configure(config):
    config.pluginmanager.register(_BrowserFirst(), "itsm-browser-first")


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

