"""The ASGI entry point: the agent channel (``/agent/*``, fleet/channel.py) beside Django.

Agent traffic never enters Django's request handler, which runs each request in a thread
of its own (docs/agent-channel.md); everything else is Django's application as it was.
Django ignores lifespan events, so they go to the channel, whose hub starts and stops
with the server."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itsm.settings")
# Read by the settings: the web process pools its PostgreSQL connections.
os.environ.setdefault("ITSM_WEB_PROCESS", "1")

django_application = get_asgi_application()

# Imported after Django is set up: the channel uses the ORM and the settings.
from fleet.channel import application as channel_application  # noqa: E402

AGENT_PREFIX = "/agent/"


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    agent_traffic = kind in ("http", "websocket") and scope["path"].startswith(AGENT_PREFIX)
    if kind == "lifespan" or agent_traffic:
        await channel_application(scope, receive, send)
    elif kind == "websocket":
        # Django serves no WebSockets: refuse politely instead of raising.
        await send({"type": "websocket.close", "code": 1000})
    else:
        await django_application(scope, receive, send)
