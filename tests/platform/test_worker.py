"""A task sent through the real broker to a real worker process changes the database."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken
from audit.context import acting_as, user_actor
from audit.models import AuditEntry
from itsm.celery import app
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


def _broker_reachable() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return False
    return True


@pytest.fixture
def worker(transactional_db, tmp_path):
    if not _broker_reachable():
        message = f"broker {settings.CELERY_BROKER_URL} not reachable"
        if os.environ.get("ITSM_REQUIRE_WORKER"):
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "itsm.settings",
           "DATABASE_URL": _database_url(), "CELERY_TASK_ALWAYS_EAGER": "0"}
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "itsm", "worker", "--pool", "solo",
         "--queues", ",".join(settings.CELERY_QUEUES), "--without-mingle", "--without-gossip",
         "--loglevel", "INFO", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    app.conf.task_always_eager = False
    try:
        yield process
    finally:
        app.conf.task_always_eager = True
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if os.environ.get("ITSM_SHOW_WORKER_LOG"):
            print((tmp_path / "worker.log").read_text())


@pytest.mark.worker
def test_task_runs_in_a_real_worker_and_acts_as_the_sender(worker, tmp_path):
    admin = UserFactory(username="worker-admin", roles=["administrator"])
    token, _raw = services.api_token_create(actor=admin, user=admin, name="stale")
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - timezone.timedelta(minutes=1))
    from accounts.tasks import purge_expired_credentials

    with acting_as(user_actor(admin, "web")):
        purge_expired_credentials.delay()

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        token.refresh_from_db()
        if token.revoked_at is not None:
            break
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        time.sleep(0.5)
    assert token.revoked_at is not None, (tmp_path / "worker.log").read_text()
    entry = AuditEntry.objects.get(object_id=str(token.pk), message="Expired")
    assert entry.actor == admin and entry.source == "task"
