"""Browser journeys: a real server process, its own database, a real headless Chromium.

The server is started the way it runs in production (``uvicorn itsm.asgi:application``)
with ``itsm.settings``, against a database created for this run and loaded with the demo
organisation. Nothing here touches the test process's database: the tests only speak HTTP.

Fixtures are package-scoped, i.e. they live for the whole browser suite: Playwright's sync
API keeps an asyncio loop running in the main thread, and while it is alive Django refuses
database access from that thread (``SynchronousOnlyOperation``). Tearing it down when the
last browser test has run keeps the database tests that pytest runs afterwards working.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_executable fixture skips (or fails) with a reason
    expect = None

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = Path(os.environ.get("ITSM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DEMO_PASSWORD = "demo-Service-2026"  # demo/loader.py
SERVER_START_TIMEOUT = 30.0
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


# --- Helpers the tests use ------------------------------------------------------------

@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # to run manage.py on its database

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class ApiResponse:
    status: int
    headers: Any
    body: Any


def api_get(server: LiveServer, path: str, token: str | None = None) -> ApiResponse:
    """A plain HTTP client (no browser, no cookies): what a script using a token does."""
    request = urllib.request.Request(server.url + path, headers={"Accept": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return ApiResponse(response.status, response.headers, json.load(response))
    except urllib.error.HTTPError as error:
        with error:
            return ApiResponse(error.code, error.headers, json.load(error))


def sign_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Use the sign-in form like a person does; waits for the page after it."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def assert_columns_aligned(table: Any) -> None:
    """Each header cell starts where the cells below it start."""
    header, first_row = table.evaluate("""table => [
        [...table.querySelectorAll("thead th")],
        [...table.querySelector("tbody tr").children],
    ].map(cells => cells.map(cell => Math.round(cell.getBoundingClientRect().left)))""")
    assert header == first_row, f"header columns at {header}, first row at {first_row}"


# --- Database and server --------------------------------------------------------------

def _browser_required() -> bool:
    return os.environ.get("ITSM_REQUIRE_BROWSER", "") not in ("", "0")


def _unavailable(reason: str) -> None:
    if _browser_required():
        pytest.fail(f"{reason} (ITSM_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def chromium_executable() -> Path:
    """Skip (or fail, under ITSM_REQUIRE_BROWSER=1) when there is nothing to drive."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    if expect is None:
        _unavailable("the playwright package is not installed: pip install -e '.[dev]'")
    return CHROMIUM


@contextmanager
def _fresh_database(directory: Path) -> Iterator[str]:
    """A new, empty database for the server: on the PostgreSQL server named by
    DATABASE_URL when there is one, else a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        yield f"sqlite:///{(directory / 'e2e.sqlite3').resolve()}"
        return

    import psycopg
    from psycopg import sql

    name = f"itsm_e2e_{secrets.token_hex(4)}"
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(maintenance, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}",
                    pytrace=False)


def _wait_until_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode}:\n"
                        f"{server.output()}", pytrace=False)
        try:
            with urllib.request.urlopen(server.url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz within {SERVER_START_TIMEOUT:.0f}s:\n"
                f"{server.output()}", pytrace=False)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="package")
def app_server(chromium_executable: Path, tmp_path_factory) -> Iterator[LiveServer]:
    """The real web process (uvicorn + itsm.settings) on a fresh, demo-loaded database."""
    directory = tmp_path_factory.mktemp("e2e")
    with _fresh_database(directory) as database_url:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "itsm.settings",
            "ITSM_PROFILE": "embedded",
            "DATABASE_URL": database_url,
            "ITSM_VAR_DIR": str(directory / "var"),
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "PYTHONUNBUFFERED": "1",
        }  # REDIS_URL, when set, is kept: CI runs the server on Redis.
        _manage(env, "migrate", "--no-input")
        _manage(env, "load_demo", "--quiet")
        port = _free_port()
        log = directory / "server.log"
        with log.open("w") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "itsm.asgi:application",
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            )
        server = LiveServer(url=f"http://127.0.0.1:{port}", process=process, log=log,
                            env=env)
        try:
            _wait_until_healthy(server)
            yield server
        finally:
            _stop(process)
            if os.environ.get("ITSM_SHOW_SERVER_LOG"):
                print(server.output())


# --- Browser --------------------------------------------------------------------------

@pytest.fixture(scope="package")
def browser(chromium_executable: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(chromium_executable),
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, app_server: LiveServer, request) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh browser contexts (no cookies shared between them or tests)."""
    contexts: list[Any] = []

    def open_page(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(base_url=app_server.url, locale="en-GB", **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    report = getattr(request.node, "rep_call", None)
    for index, context in enumerate(contexts):
        if report is not None and report.failed:
            for number, page in enumerate(context.pages):
                path = SCREENSHOTS / "failures" / f"{request.node.name}-{index}-{number}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(path), full_page=True)
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under var/screenshots/ for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Overrides the suite-wide cache reset: the server keeps its own cache (on Redis in
    CI, the same database as the test process's), and the test process must not wipe it
    mid-journey."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


