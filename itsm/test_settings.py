"""Test overlay: the real settings, plus what makes tests fast and isolated."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def _isolate_xdist_worker() -> None:
    """Under pytest-xdist each worker gets its own var directory (filesystem broker, file
    cache, keys, media) and its own Redis database, set in the environment so the real
    processes a test starts (Celery worker, channel server, web server) share them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    number = int(worker[2:])
    base = os.environ.get("ITSM_VAR_DIR") or str(Path(__file__).resolve().parents[1] / "var")
    if not base.endswith(f"xdist-{worker}"):
        os.environ["ITSM_VAR_DIR"] = str(Path(base) / f"xdist-{worker}")
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url and number:
        parts = urlsplit(redis_url)
        db = int(parts.path.strip("/") or 0)
        db = db - number if db >= number else db + number
        os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{db}"))


_isolate_xdist_worker()

from .settings import *  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "tests.sample_tickets"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_AUTOREFRESH = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a real worker process can share the test database.
    # Per process, so two test runs in one checkout do not share (and delete) it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
