"""The production profile is chosen by environment only and refuses unsafe settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = secrets.token_urlsafe(64)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
    base.update({"DJANGO_SETTINGS_MODULE": "itsm.settings", **env})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=120)


PRODUCTION = {
    "ITSM_PROFILE": "production", "SECRET_KEY": STRONG, "ALLOWED_HOSTS": "desk.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/0", "EMAIL_URL": "smtp://mail.example.com:587",
}


def test_deploy_checks_are_clean_on_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(("change", "message"), [
    ({"DEBUG": "1"}, "refuses to start with DEBUG on"),
    ({"SECRET_KEY": ""}, "needs SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
    ({"SECRET_KEY": "a" * 60}, "SECRET_KEY is too weak"),
    ({"DATABASE_URL": ""}, "needs DATABASE_URL"),
    ({"REDIS_URL": ""}, "needs REDIS_URL"),
])
def test_production_refuses_unsafe_settings(change, message):
    env = {**PRODUCTION, **change}
    env = {k: v for k, v in env.items() if v != ""}
    result = manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_unknown_profile_is_refused():
    result = manage("check", ITSM_PROFILE="staging")
    assert result.returncode != 0 and "ITSM_PROFILE must be" in result.stderr


def test_embedded_profile_uses_sqlite_wal_and_filesystem_broker(tmp_path):
    script = (
        "import django; django.setup();"
        "from django.conf import settings; from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]);"
        "print(settings.CELERY_BROKER_URL); print(settings.EMAIL_BACKEND); print(settings.DEBUG)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="itsm.settings", ITSM_VAR_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert out == ["wal", "filesystem://", "django.core.mail.backends.console.EmailBackend",
                   "False"]
