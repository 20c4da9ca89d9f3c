"""A real channel server for the channel tests: ``uvicorn itsm.asgi:application`` in a
subprocess, on a free port, against the test database (a file SQLite database, or the
test PostgreSQL database when DATABASE_URL is set) so the test process can create jobs
and revoke agents while clients talk to the server. Clients: ``urllib`` and
``websockets``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
# Small limits so the tests reach them quickly.
RATE_PER_MINUTE = 30
MESSAGE_MAX_BYTES = 256 * 1024


def database_url() -> str:
    """The test database as a URL the server process can open (tests/platform)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy (its value) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or condition}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ChannelServer:
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/agent/v1/ws"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        with self.log.open("a") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "itsm.asgi:application",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n"
                            f"{self.output()}", pytrace=False)
            if http(self, "GET", "/agent/v1/poll?wait=0", timeout=2).status == 401:
                self.starts.append(time.monotonic())
                return
            time.sleep(0.1)
        pytest.fail(f"the channel did not answer within {START_TIMEOUT:.0f}s:\n"
                    f"{self.output()}", pytrace=False)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def threads(self) -> int:
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("Threads:")))


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


def http(server: ChannelServer, method: str, path: str, body: Any = None,
         token: str | None = None, timeout: float = 10, raw: bytes | None = None) -> Reply:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                        else None)
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            content = response.read()
            return Reply(response.status, json.loads(content) if content else None,
                         response.headers)
    except urllib.error.HTTPError as error:
        with error:
            content = error.read()
            return Reply(error.code, json.loads(content) if content else None, error.headers)
    except OSError:
        return Reply(0, None, {})


@pytest.fixture(scope="module")
def database_as_migrated(django_db_setup, django_db_blocker):
    """The tests use ``serialized_rollback``: each starts from the database as migrated,
    primary keys included, which matters because the server process caches content
    types by id for the whole module. A transactional test of another module may have
    left rows that its flush re-created (roles, content types); the restore would
    collide with them, so the module starts from an empty database, and leaves one
    flushed the ordinary way, as other transactional tests do."""
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module", name="channel_server")
def channel_server_fixture(database_as_migrated, django_db_blocker, tmp_path_factory):
    """The web process as it runs in production, on the test database."""
    directory = tmp_path_factory.mktemp("channel")
    with django_db_blocker.unblock():
        url = database_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "itsm.settings",
        "ITSM_PROFILE": "embedded",
        "DATABASE_URL": url,
        "ITSM_VAR_DIR": str(directory / "var"),
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "FLEET_RATE_PER_MINUTE": str(RATE_PER_MINUTE),
        "FLEET_MESSAGE_MAX_BYTES": str(MESSAGE_MAX_BYTES),
        "PYTHONUNBUFFERED": "1",
    }  # REDIS_URL, when set, is kept: the server then gets nudges by pub/sub.
    server = ChannelServer(env=env, port=free_port(), log=directory / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if os.environ.get("ITSM_SHOW_SERVER_LOG"):
            print(server.output())
