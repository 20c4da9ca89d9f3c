"""Settings for bench/incidents.py's creation runs with a database connection pool: the
project's settings, plus Django's PostgreSQL pool (needs the psycopg-pool package).

Under ASGI every request runs in its own thread, so persistent connections
(CONN_MAX_AGE) are never reused: each request opens a new PostgreSQL connection. A pool
hands the same few connections from request to request."""

from itsm.settings import *  # noqa: F403
from itsm.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them instead
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 8}
