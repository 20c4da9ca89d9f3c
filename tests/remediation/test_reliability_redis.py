"""Redis restarted in the middle of a run (PostgreSQL + Redis profile): nudges published
while it is down are lost, the channel's subscriber reconnects, and the run still ends
with every execution succeeded, each once. The server and this test use a private
redis-server on its own port, so stopping it touches nothing else."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from remediation.models import Execution
from tests.fleet.conftest_channel import (
    channel_server_fixture,  # noqa: F401 (the fixture "channel_server")
    database_as_migrated,  # noqa: F401 (a fixture)
    free_port,
)

from .test_reliability import (  # noqa: F401 (fixtures)
    AGENTS,
    agents,
    settled,
    setup_run,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("database_as_migrated")]


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.key = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_for(lambda: _pings(redis.Redis.from_url(self.url)), what="redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture(scope="module", autouse=True)
def private_redis(tmp_path_factory):
    """Before the channel server starts (module fixtures that are autouse come first).
    The server runs its tasks eagerly here (it is also the worker), so it sends the later
    waves itself and gets the job-signing key file too."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("the embedded profile has no Redis")
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server binary")
    server = PrivateRedis()
    server.start()
    from fleet import signing

    key = tmp_path_factory.mktemp("keys") / "fleet-signing.pem"
    signing.generate(key)
    saved = os.environ["REDIS_URL"]
    os.environ.update(REDIS_URL=server.url, FLEET_SIGNING_KEY_FILE=str(key))
    server.key = key
    try:
        yield server
    finally:
        os.environ["REDIS_URL"] = saved
        os.environ.pop("FLEET_SIGNING_KEY_FILE", None)
        server.stop()


@pytest.fixture
def signing_key(private_redis, settings):
    """The module's key file, recorded as the current key (the flush between modules
    removed any row)."""
    from django.core.management import call_command

    settings.FLEET_SIGNING_KEY_FILE = str(private_redis.key)
    call_command("fleet_keygen", "--if-missing", verbosity=0)
    return str(private_redis.key)


def test_a_redis_restart_mid_run_loses_nothing_and_runs_nothing_twice(
        private_redis, agents, setup_run, settings,  # noqa: F811
        django_capture_on_commit_callbacks):
    settings.REDIS_URL = private_redis.url
    with django_capture_on_commit_callbacks(execute=True):
        run = setup_run(seconds=2, rollout="waves", canary_size=1, batch_size=1)
    wait_for(lambda: Execution.objects.filter(run=run, wave=1, state="running").exists(),
             what="the canary running")
    private_redis.stop()  # the next waves' nudges are published into the void
    time.sleep(4)
    private_redis.start()
    wait_for(lambda: settled(run), timeout=60, what="the run to finish")
    assert list(Execution.objects.filter(run=run).values_list("state", flat=True)) == [
        "succeeded"] * AGENTS
    assert agents.runs_on_each() == [1] * AGENTS
