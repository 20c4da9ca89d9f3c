"""The agent channel: a lean ASGI app for ``/agent/v1/*`` beside Django.

Not a Django view on purpose: Django's request handler runs every request in a thread
of its own (thread-sensitive context, sync ``request_started`` receivers), so 10,000
parked long-polls made 10,000 threads (issue 7's measurements). Here a connection is a
coroutine; the database work of all connections is batched by the hub (fleet/hub.py).
The protocol is docs/agent.md; how this side works is docs/agent-channel.md."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from . import services, tokens
from .hub import (
    CLOSE_RATE_LIMITED,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORISED,
    REVOKED,
    Hub,
    KnownAgent,
    Revoked,
    Socket,
)

log = logging.getLogger("fleet.channel")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PREFIX = "/agent/v1/"
ENROL_MAX_BYTES = 64 * 1024
POLL_WAIT_DEFAULT = 25
POLL_WAIT_MAX = 30
# Messages parsed off the event loop from this size (a full inventory can be MBs).
PARSE_IN_THREAD_BYTES = 64 * 1024


class ClientGone(Exception):
    """The client hung up before its request was read: nobody to answer."""


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str = "",
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message or code)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _bearer(scope: Scope) -> str:
    scheme, _, value = _header(scope, b"authorization").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _respond(send: Send, status: int, body: dict[str, Any] | str | None = None,
                   headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """``body`` is an object, or JSON text already (jobs assembled from their wire text)."""
    if body is None:
        payload = b""
    else:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    head = [(b"content-length", str(len(payload)).encode()), (b"cache-control", b"no-store")]
    if body is not None:
        head.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status,
                "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": payload})


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused (413 too_large) as soon as it passes ``limit``."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise HttpError(413, "too_large", f"The body is larger than {limit} bytes.")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "too_large", f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise HttpError(400, "bad_request", f"The body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise HttpError(400, "bad_request", "The body must be a JSON object.")
    return data


class ChannelApp:
    """The ASGI app for ``/agent/v1/*``; ``itsm/asgi.py`` routes to it and passes it the
    lifespan events (which start and stop the hub)."""

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub or Hub()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(receive, send)
            return
        await self.hub.ensure_started()  # a server run without lifespan events
        if kind == "websocket":
            if scope["path"] == PREFIX + "ws":
                await self.websocket(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
        elif kind == "http":
            await self.http(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.hub.start()
                except Exception as error:
                    log.exception("fleet channel: the hub did not start")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- HTTP ------------------------------------------------------------------------------

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        routes = {"enroll": ("POST", self.enrol), "poll": ("GET", self.poll),
                  "messages": ("POST", self.messages)}
        path = scope["path"]
        name = path[len(PREFIX):] if path.startswith(PREFIX) else ""
        try:
            if name not in routes:
                raise HttpError(404, "not_found", "No such agent endpoint.")
            method, handler = routes[name]
            if scope["method"] != method:
                raise HttpError(405, "method_not_allowed", f"Use {method}.")
            await handler(scope, receive, send)
        except HttpError as error:
            headers = []
            if "retry_after" in error.extra:
                headers.append((b"retry-after", str(error.extra["retry_after"]).encode()))
            await _respond(send, error.status, {"code": error.code, "message": error.message,
                                                **error.extra}, headers)
        except ClientGone:
            return
        except Exception:
            log.exception("fleet channel: %s %s failed", scope["method"], path)
            await _respond(send, 500, {"code": "server_error",
                                       "message": "The server could not answer; try later."})

    async def _agent(self, scope: Scope) -> str:
        """The agent of the request's bearer token, counted against its rate limit."""
        raw = _bearer(scope)
        answer = await self.hub.authenticate(raw) if raw else None
        if answer == REVOKED:
            raise HttpError(401, "revoked", "This agent's token was revoked.")
        if not isinstance(answer, KnownAgent):
            raise HttpError(401, "unauthenticated", "Send a valid agent token.")
        wait = self.hub.limiter.hit(answer.agent_id)
        if wait > 0:
            raise HttpError(429, "rate_limited", "Too many requests from this agent.",
                            {"retry_after": max(1, round(wait))})
        return answer.agent_id

    async def enrol(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = _json_object(await _read_body(scope, receive, ENROL_MAX_BYTES))
        secret, facts = data.get("secret"), data.get("facts")
        try:
            enrolled, keys = await self.hub.run_single(_enrol, secret, facts)
        except services.EnrolmentRefused as refused:
            status = 400 if refused.code == "bad_request" else 403
            raise HttpError(status, refused.code, refused.message) from refused
        except Exception as error:
            from itsm.errors import DomainError

            if isinstance(error, DomainError):  # the facts do not make a valid device
                raise HttpError(400, "bad_request", str(error)) from error
            raise
        await _respond(send, 201, {
            "agent_id": str(enrolled.agent.pk), "token": enrolled.token,
            "signing_keys": keys, "reenrolled": enrolled.reenrolled,
            "heartbeat_seconds": settings.FLEET_HEARTBEAT_SECONDS,
            "inventory_seconds": settings.FLEET_INVENTORY_SECONDS})

    async def poll(self, scope: Scope, receive: Receive, send: Send) -> None:
        agent_id = await self._agent(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        try:
            wait = int(query.get("wait", [str(POLL_WAIT_DEFAULT)])[0])
        except ValueError as error:
            raise HttpError(400, "bad_request", "wait must be a number of seconds.") from error
        wait = min(max(wait, 0), POLL_WAIT_MAX)
        self.hub.seen(agent_id, "poll")
        await _read_body(scope, receive, ENROL_MAX_BYTES)  # so the next receive is the hang-up
        # A client that hangs up frees its place at once instead of after the wait.
        disconnected = asyncio.ensure_future(receive())
        try:
            jobs = await self.hub.poll(agent_id, wait, disconnected)
        except Revoked as error:
            raise HttpError(401, "revoked", "This agent's token was revoked.") from error
        finally:
            disconnected.cancel()
        if jobs:
            await _respond(send, 200, '{"jobs": [' + ", ".join(jobs) + "]}")
        else:
            await _respond(send, 204)

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        agent_id = await self._agent(scope)
        body = await _read_body(scope, receive, settings.FLEET_MESSAGE_MAX_BYTES)
        data = (await self.hub.run_single(_json_object, body)
                if len(body) > PARSE_IN_THREAD_BYTES else _json_object(body))
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise HttpError(400, "bad_request", "messages must be a list.")
        self.hub.seen(agent_id, "poll")
        replies: list[dict[str, Any]] = []
        results: list[tuple[str, asyncio.Future[bool]]] = []
        starts: list[asyncio.Future[bool]] = []
        for message in messages:
            await self.handle(agent_id, message, replies.append,
                              lambda eid, future: results.append((eid, future)),
                              starts.append)
        if starts:  # written before the answer, as results are
            await asyncio.gather(*starts, return_exceptions=True)
        if results:
            await asyncio.gather(*(future for _, future in results), return_exceptions=True)
            ids = [eid for eid, future in results if not future.cancelled()
                   and future.exception() is None and future.result()]
            if ids:
                self.hub.acked(agent_id, ids)
                replies.append({"type": "ack", "ids": ids})
        await _respond(send, 200, {"replies": replies})

    # -- messages (both transports) --------------------------------------------------------

    async def handle(self, agent_id: str, message: Any,
                     reply: Callable[[dict[str, Any]], None],
                     result: Callable[[str, asyncio.Future[bool]], None],
                     started: Callable[[asyncio.Future[bool]], None] | None = None) -> None:
        """One agent → server message. Replies go to ``reply``; a result's commit is
        handed to ``result`` (acknowledged once stored, never before); a ``started``
        write to ``started`` (not acknowledged)."""
        kind = message.get("type") if isinstance(message, dict) else None
        try:
            if kind in ("heartbeat", "pong"):
                return
            if kind == "hello":
                self.hub.hello(agent_id, message)
            elif kind == "result":
                execution_id = message.get("execution_id")
                if not isinstance(execution_id, str) or not execution_id:
                    reply(_error("bad_message", "A result needs its execution_id."))
                    return
                # A "started" still waiting for its batch is moot: the result ends the job
                # (one write instead of two for an action that finished at once).
                self.hub.started.withdraw((agent_id, execution_id), True)
                result(execution_id, self.hub.results.submit((agent_id, message)))
            elif kind == "started":
                execution_id = message.get("execution_id")
                if not isinstance(execution_id, str) or not execution_id:
                    reply(_error("bad_message", "started needs its execution_id."))
                    return
                future = self.hub.started.submit((agent_id, execution_id))
                future.add_done_callback(_log_failure)  # nobody else awaits it on a socket
                if started is not None:
                    started(future)
            elif kind == "inventory":
                reply(await self.hub.run_single(_inventory, agent_id, message))
            else:
                reply(_error("bad_message", "Unknown or missing message type."))
        except Exception:
            log.exception("fleet channel: a %s message of agent %s failed", kind, agent_id)
            reply(_error("server_error", "The server could not take this message."))

    # -- WebSocket -------------------------------------------------------------------------

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        raw = _bearer(scope)
        try:
            answer = await self.hub.authenticate(raw) if raw else None
        except Exception:
            log.exception("fleet channel: token check failed")
            await _close_at_once(send, CLOSE_SERVER_ERROR, "server_error")
            return
        if not isinstance(answer, KnownAgent):
            # Accepted first: a close before the accept is an HTTP 403 without our code.
            await _close_at_once(send, CLOSE_UNAUTHORISED, answer or "unauthenticated")
            return
        agent_id = answer.agent_id
        if self.hub.limiter.hit(agent_id) > 0:
            await _close_at_once(send, CLOSE_RATE_LIMITED, "rate_limited")
            return
        await send({"type": "websocket.accept"})
        socket = Socket(agent_id, tokens.digest(raw), send)
        self.hub.attach(socket)
        try:
            try:
                await self.hub.connected(socket)
            except Exception:
                log.exception("fleet channel: pending jobs of %s not fetched", agent_id)
                socket.close(CLOSE_SERVER_ERROR, "server_error")
            while not socket.closed:
                event = await receive()
                if event["type"] == "websocket.disconnect":
                    break
                await self._frame(socket, event)
            while socket.closed:  # wait for the peer's close (or its disappearance)
                if (await receive())["type"] == "websocket.disconnect":
                    break
        finally:
            self.hub.detach(socket)
            await socket.flush()

    async def _frame(self, socket: Socket, event: dict[str, Any]) -> None:
        socket.last_heard = time.monotonic()
        agent_id = socket.agent_id
        text = event.get("text")
        if text is None:
            try:
                text = (event.get("bytes") or b"").decode()
            except UnicodeDecodeError:
                socket.push(_error("bad_message", "Frames are UTF-8 JSON text."))
                return
        limit = settings.FLEET_MESSAGE_MAX_BYTES
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            socket.push(_error("too_large", f"Messages are limited to {limit} bytes."))
            socket.close(CLOSE_TOO_BIG, "too_large")
            return
        try:
            message = (await self.hub.run_single(json.loads, text)
                       if len(text) > PARSE_IN_THREAD_BYTES else json.loads(text))
        except ValueError:
            message = None
        is_pong = isinstance(message, dict) and message.get("type") == "pong"
        if not is_pong and self.hub.limiter.hit(agent_id) > 0:  # garbage counts too
            socket.close(CLOSE_RATE_LIMITED, "rate_limited")
            return
        if not isinstance(message, dict):
            socket.push(_error("bad_message", "Frames are JSON objects with a type."))
            return
        self.hub.seen(agent_id, "websocket")
        await self.handle(agent_id, message, socket.push, socket.ack_when_committed)


async def _close_at_once(send: Send, code: int, reason: str) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("fleet channel: a started message was not written (%s)",
                    future.exception())


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


# --- Sync calls (run in the hub's threads) -------------------------------------------------

def _enrol(secret: Any, facts: Any) -> tuple[services.Enrolled, list[dict[str, str]]]:
    return services.agent_enrol(secret=secret, facts=facts), services.signing_keys()


def _inventory(agent_id: str, message: dict[str, Any]) -> dict[str, Any]:
    from .inventory import inventory_record

    return inventory_record(agent_id, message)


hub = Hub()
application = ChannelApp(hub)
