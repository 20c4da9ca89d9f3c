# The one image for web, worker and beat (docker-compose.yml picks the command).
# Production profile at run time; see docs/operations.md for every variable.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=itsm.settings \
    ITSM_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/app/media

WORKDIR /app

RUN groupadd --system --gid 10001 itsm \
 && useradd --system --uid 10001 --gid itsm --home-dir /app --no-create-home \
    --shell /usr/sbin/nologin itsm

# Dependencies first, read from pyproject.toml, so this layer is rebuilt only when the
# dependency list changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The project itself. Installed in place (editable): templates/ and static/ sit beside the
# packages and settings find them relative to itsm/, so the code must stay in /app.
COPY . .
RUN pip install --no-deps --editable .

# Static files, collected at build time with the production storage (hashed names and a
# manifest, which the production profile requires). The settings only need to import:
# a throwaway key and placeholder URLs, never connected to, never kept in the image.
RUN ITSM_PROFILE=production \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    ITSM_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --no-input --verbosity 0 \
 && rm -rf /tmp/build-var \
 && mkdir -p /app/var /app/media \
 && chown itsm:itsm /app/var /app/media

# The code stays owned by root: the service user can write only var/ and media/.
USER itsm

EXPOSE 8000

# Workers: uvicorn reads WEB_CONCURRENCY (default 1). Client addresses behind a proxy:
# uvicorn trusts X-Forwarded-For only from FORWARDED_ALLOW_IPS (default 127.0.0.1).
# No per-message WebSocket compression: agents send small JSON, and a zlib compressor per
# connection would cost some 45 KB each across a fleet (bench/fleet.py).
CMD ["uvicorn", "itsm.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off", "--ws-per-message-deflate", "false"]
