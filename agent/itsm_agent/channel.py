"""The agent's side of the channel (AGENT.md, "Channel", "Long-poll fallback", "Backoff").

One ``AgentService`` holds a WebSocket to ``/agent/v1/ws`` (or, when WebSockets are
blocked, long-polls ``/agent/v1/poll`` and posts to ``/agent/v1/messages``), says hello,
sends heartbeats and inventory, runs the jobs it is sent (checks on the loop, work in a
thread pool) and keeps every result on disk until the server acknowledges it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from . import __version__, inventory
from .config import Config
from .diff import canonical_json, digest, make_diff
from .envelope import load_public_keys, verify_signature
from .policy import Policy, load_policy
from .runner import JobProcessor
from .state import State, now_iso

log = logging.getLogger(__name__)

API = "/agent/v1"
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
WS_FAILURES_BEFORE_POLL = 3
LONGPOLL_PERIOD = 600.0
POLL_WAIT = 25
MAX_MESSAGE = 2 * 1024 * 1024
DEFAULT_HEARTBEAT = 60
DEFAULT_INVENTORY = 3600
EXIT_REVOKED = 3
# An action still running after this long is reported "started" (the server shows it
# running); a quicker one's result says it all, and a wave of 10,000 quick actions
# costs the server 10,000 fewer messages and writes.
STARTED_AFTER = 0.5
CLOSE_REVOKED = 4401
CLOSE_RATE_LIMITED = 4429


class Revoked(Exception):
    """401 / close 4401: the token is wrong or revoked; stop and do not retry."""


class RateLimited(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(f"rate limited (retry after {retry_after})")
        self.retry_after = retry_after


class ChannelError(Exception):
    """The connection failed or closed; reconnect after the backoff."""


class WebSocketUnavailable(ChannelError):
    """The WebSocket could not be opened (counts towards the long-poll fallback)."""


def backoff_delay(attempt: int, rng: random.Random | None = None,
                  base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """min(cap, base × 2^attempt) × a random factor in [0.5, 1.5]."""
    rng = rng or random.Random()
    return min(cap, base * 2 ** min(attempt, 32)) * rng.uniform(0.5, 1.5)


def restart_jitter(reconnect_jitter: float, rng: random.Random | None = None) -> float:
    """The extra random wait of the first reconnect after the server went away."""
    return (rng or random.Random()).uniform(0, max(0.0, reconnect_jitter))


def ws_url(server: str) -> str:
    """http → ws, https → wss (ws/wss kept), plus the channel path."""
    parts = urllib.parse.urlsplit(server.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"the server URL must start with http:// or https://: {server}")
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + f"{API}/ws", "", ""))


def http_url(server: str, path: str) -> str:
    parts = urllib.parse.urlsplit(server.rstrip("/"))
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, "", "")) + API + path


def http_request(method: str, url: str, *, body: Any = None, token: str | None = None,
                 timeout: float = 30) -> tuple[int, Any]:
    """(status, decoded JSON or None). Network failures raise OSError (URLError)."""
    data = canonical_json(body) if body is not None else None
    headers = {"Accept": "application/json", "User-Agent": f"itsm-agent/{__version__}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    return status, payload


def _check_status(status: int, payload: Any) -> None:
    """Raise for the statuses every agent request treats alike."""
    if status == 401:
        raise Revoked((payload or {}).get("code", "unauthenticated")
                      if isinstance(payload, dict) else "unauthenticated")
    if status == 429:
        retry = payload.get("retry_after") if isinstance(payload, dict) else None
        raise RateLimited(float(retry) if isinstance(retry, int | float) else None)
    if status >= 400:
        code = payload.get("code") if isinstance(payload, dict) else ""
        raise ChannelError(f"HTTP {status} {code}".strip())


Send = Callable[[dict[str, Any]], Awaitable[None]]


class AgentService:
    def __init__(self, config: Config, state: State, *,
                 collect: Callable[[], dict[str, Any]] = inventory.collect,
                 rng: random.Random | None = None) -> None:
        identity = state.identity()
        token = state.token()
        if identity is None or token is None:
            raise RuntimeError("not enrolled")
        self.config, self.state, self.token = config, state, token
        self.agent_id = str(identity["agent_id"])
        self.server = (config.server or identity.get("server") or "").rstrip("/")
        self.heartbeat_seconds = int(config.heartbeat_seconds
                                     or identity.get("heartbeat_seconds") or DEFAULT_HEARTBEAT)
        self.inventory_seconds = int(config.inventory_seconds
                                     or identity.get("inventory_seconds") or DEFAULT_INVENTORY)
        self.collect = collect
        self.rng = rng or random.Random()
        self.keys = load_public_keys(identity.get("signing_keys") or [])
        self.policy: Policy = load_policy(config.config_dir)
        self.processor = JobProcessor(state, self.agent_id, lambda: self.keys,
                                      lambda: self.policy,
                                      clearable_roots=config.clearable_roots)
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="itsm-job")
        self.started = time.monotonic()
        # Inventory: the last one the server acknowledged (diffs are made against it).
        self.base: dict[str, Any] | None = None
        self.base_digest = ""
        self.unacked_inventory: dict[str, dict[str, Any]] = {}
        self.last_inventory_at: float | None = None
        self.ws_failures = 0
        self.longpoll_until = 0.0
        self.backoff_base = BACKOFF_BASE
        self.poll_wait = POLL_WAIT
        self._send: Send | None = None
        self._stop: asyncio.Event | None = None
        self._inventory_now: asyncio.Event | None = None
        self._job_tasks: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()  # action executions not finished yet
        self._last_contact_write = 0.0

    # -- the service loop -------------------------------------------------------------
    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> int:
        """Connect, serve and reconnect until stopped (0) or revoked (3)."""
        self._stop = asyncio.Event()
        self._inventory_now = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.stop)
        self.state.prune_records()
        log.info("itsm-agent %s starting: agent %s, server %s, policy %s",
                 __version__, self.agent_id, self.server, self.policy.as_dict()["allow"])
        attempt = 0
        try:
            while not self._stop.is_set():
                connected, delay = False, 0.0
                use_poll = self.config.prefer_longpoll or time.monotonic() < self.longpoll_until
                self._connected = False
                try:
                    if use_poll:
                        await self._poll_session()
                    else:
                        await self._ws_session()
                    connected = self._connected
                    if self._stop.is_set():
                        break
                    if not self._switching:
                        log.info("the server closed the channel")
                except Revoked as exc:
                    log.error("the server refused this agent's token (%s): the agent was "
                              "revoked or enrolled again elsewhere; stopping. Enrol again "
                              "with `itsm-agent enroll` to resume.", exc)
                    self.state.mark_revoked()
                    return EXIT_REVOKED
                except RateLimited as exc:
                    connected = self._connected
                    log.warning("rate limited by the server")
                    delay = exc.retry_after or 0.0
                except WebSocketUnavailable as exc:
                    log.warning("WebSocket connection failed: %s", exc)
                    self.ws_failures += 1
                    if self.ws_failures >= WS_FAILURES_BEFORE_POLL and await self._reachable():
                        log.warning("WebSocket failed %d times in a row but HTTP works: "
                                    "long-polling for %d minutes", self.ws_failures,
                                    LONGPOLL_PERIOD // 60)
                        self.longpoll_until = time.monotonic() + LONGPOLL_PERIOD
                        self.ws_failures = 0
                except (ChannelError, OSError, TimeoutError, ConnectionClosed) as exc:
                    connected = self._connected
                    log.warning("channel error: %s", exc or type(exc).__name__)
                except Exception:
                    # A bug must not end the service: log it and reconnect after backoff.
                    connected = self._connected
                    log.exception("unexpected error in the channel session")
                finally:
                    self._send = None
                if connected:
                    # The server went away after we were in: it may be restarting with the
                    # whole fleet about to reconnect, so spread out.
                    attempt = 0
                    delay = max(delay, backoff_delay(0, self.rng, base=self.backoff_base)
                                + restart_jitter(self.config.reconnect_jitter, self.rng))
                else:
                    delay = max(delay, backoff_delay(attempt, self.rng, base=self.backoff_base))
                    attempt += 1
                if self._switching:
                    delay, self._switching = 0.0, False
                log.info("reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
            return 0
        finally:
            for task in list(self._job_tasks):
                task.cancel()
            self.executor.shutdown(wait=False, cancel_futures=True)

    _connected = False
    _switching = False

    async def _reachable(self) -> bool:
        """HTTP works (any HTTP answer); 401 here is a revocation too. The probe posts an
        empty message batch: unlike a poll it cannot take jobs off the server's queue."""
        try:
            status, payload = await asyncio.to_thread(
                http_request, "POST", http_url(self.server, "/messages"),
                body={"messages": []}, token=self.token, timeout=10)
        except OSError:
            return False
        if status == 401:
            _check_status(status, payload)
        return True

    async def _run_tasks(self, *coros: Coroutine[Any, Any, None]) -> None:
        """Run the session's tasks until one ends or the agent stops; re-raise its error."""
        assert self._stop is not None
        tasks = [asyncio.create_task(c) for c in coros]
        stopper = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopper],
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*tasks, stopper]:
                task.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
        for task in done:
            if task is not stopper and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]

    # -- WebSocket ------------------------------------------------------------------
    async def _ws_session(self) -> None:
        url = ws_url(self.server)
        try:
            ws = await connect(url, additional_headers={"Authorization": f"Bearer {self.token}"},
                               user_agent_header=f"itsm-agent/{__version__}",
                               open_timeout=15, max_size=4 * MAX_MESSAGE,
                               ping_interval=max(30, self.heartbeat_seconds), ping_timeout=30,
                               close_timeout=5, compression=None)
        except InvalidStatus as exc:
            status = exc.response.status_code
            try:
                payload = json.loads(exc.response.body or b"null")
            except ValueError:
                payload = None
            if status in (401, 429):
                _check_status(status, payload)
            raise WebSocketUnavailable(f"HTTP {status}") from exc
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise WebSocketUnavailable(str(exc) or type(exc).__name__) from exc
        self.ws_failures = 0
        self._connected = True
        log.info("connected (WebSocket) to %s", url)

        async def send(message: dict[str, Any]) -> None:
            await ws.send(json.dumps(message, ensure_ascii=False))

        async def receive() -> None:
            try:
                async for raw in ws:
                    await self._handle(_decode(raw), send)
            except ConnectionClosed as exc:
                _raise_for_close(exc.rcvd.code if exc.rcvd else None)
                raise ChannelError(f"connection closed ({exc})") from exc
            _raise_for_close(ws.close_code)

        try:
            await self._start_session(send)
            await self._run_tasks(receive(), self._heartbeats(send), self._inventories(send))
        except ConnectionClosed as exc:
            _raise_for_close(exc.rcvd.code if exc.rcvd else None)
            raise ChannelError(f"connection closed ({exc})") from exc
        finally:
            with contextlib.suppress(Exception):
                await ws.close()

    # -- long-poll ----------------------------------------------------------------------
    async def _poll_session(self) -> None:
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def send(message: dict[str, Any]) -> None:
            outbox.put_nowait(message)

        async def post(messages: list[dict[str, Any]]) -> None:
            status, payload = await asyncio.to_thread(
                http_request, "POST", http_url(self.server, "/messages"),
                body={"messages": messages}, token=self.token, timeout=30)
            _check_status(status, payload)
            self._touch()
            for reply in (payload or {}).get("replies", []) if isinstance(payload, dict) else []:
                await self._handle(reply, send)

        async def sender() -> None:
            while True:
                batch = [await outbox.get()]
                while not outbox.empty():
                    batch.append(outbox.get_nowait())
                await post(batch)

        async def poller() -> None:
            while True:
                if not self.config.prefer_longpoll and time.monotonic() >= self.longpoll_until:
                    log.info("long-poll period over: trying the WebSocket again")
                    self._switching = True
                    return
                status, payload = await asyncio.to_thread(
                    http_request, "GET", http_url(self.server, f"/poll?wait={self.poll_wait}"),
                    token=self.token, timeout=self.poll_wait + 15)
                _check_status(status, payload)
                self._touch()
                if status == 200 and isinstance(payload, dict):
                    await self._handle({"type": "jobs", "jobs": payload.get("jobs", [])}, send)

        # The hello goes out alone first: it proves the server answers before we count
        # the session as connected.
        await post([self._hello()])
        self._connected = True
        log.info("connected (long-poll) to %s", self.server)
        await self._start_session(send, hello=False)
        await self._run_tasks(sender(), poller(), self._heartbeats(send),
                              self._inventories(send))

    # -- what a session does --------------------------------------------------------
    def _hello(self) -> dict[str, Any]:
        self.policy = load_policy(self.config.config_dir)  # the owner may have edited it
        return {"type": "hello", "agent_version": __version__,
                "last_sequence": self.state.highest_sequence(),
                "policy": self.policy.as_dict()}

    async def _start_session(self, send: Send, hello: bool = True) -> None:
        if hello:
            await send(self._hello())
        self._send = send
        pending = self.state.pending_results()
        if pending:
            log.info("sending %d result(s) not yet acknowledged", len(pending))
        for result in pending:
            await send(result)

    async def _heartbeats(self, send: Send) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await send({"type": "heartbeat", "uptime": int(time.monotonic() - self.started)})

    async def _inventories(self, send: Send) -> None:
        assert self._inventory_now is not None
        while True:
            due = 0.0 if self.last_inventory_at is None else (
                self.last_inventory_at + self.inventory_seconds - time.monotonic())
            if due > 0 and not self._inventory_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._inventory_now.wait(), timeout=due)
            self._inventory_now.clear()
            await self._send_inventory(send)

    async def _send_inventory(self, send: Send) -> None:
        data = fit_inventory(await asyncio.to_thread(self.collect))
        if data is None:
            self.last_inventory_at = time.monotonic()
            return
        ours = digest(data)
        if self.base is None:
            message: dict[str, Any] = {"type": "inventory", "full": data}
        else:
            message = {"type": "inventory", "base": self.base_digest,
                       "diff": make_diff(self.base, data)}
        if len(canonical_json(message)) > MAX_MESSAGE:
            message = {"type": "inventory", "full": data}
        self.unacked_inventory = {ours: data}  # only the latest can become the base
        self.last_inventory_at = time.monotonic()
        await send(message)
        kind = "full" if "full" in message else "diff"
        log.debug("inventory sent (%s, %s)", kind, ours[:12])
        self.state.update_status(last_inventory_sent=now_iso(), last_inventory_kind=kind)

    async def _handle(self, message: Any, send: Send) -> None:
        if not isinstance(message, dict):
            log.warning("ignoring a message that is not a JSON object")
            return
        self._touch()
        kind = message.get("type")
        if kind == "jobs":
            for job in message.get("jobs") or []:
                await self._job(job)
        elif kind == "ping":
            await send({"type": "pong"})
        elif kind == "ack":
            ids = [str(i) for i in message.get("ids") or []]
            self.state.ack(ids)
        elif kind == "inventory_ack":
            self._inventory_acked(str(message.get("digest", "")))
        elif kind == "inventory_resync":
            log.info("the server asked for a full inventory")
            self.base, self.base_digest = None, ""
            assert self._inventory_now is not None
            self._inventory_now.set()
        elif kind == "keys":
            self._new_keys(message)
        elif kind == "error":
            log.warning("the server reported an error: %s %s", message.get("code"),
                        message.get("message", ""))
            if message.get("code") == "bad_inventory":
                self.base, self.base_digest = None, ""
        else:
            log.debug("ignoring message type %r", kind)

    def _inventory_acked(self, server_digest: str) -> None:
        data = self.unacked_inventory.pop(server_digest, None)
        if data is None and len(self.unacked_inventory) == 1:
            # The server hashed it differently (it should not): take its digest as the
            # base name so the next diff still names what the server holds.
            ours, data = self.unacked_inventory.popitem()
            log.warning("inventory digest differs: ours %s, server %s", ours[:12],
                        server_digest[:12])
        if data is not None:
            self.base, self.base_digest = data, server_digest
        self.unacked_inventory = {}

    def _new_keys(self, message: dict[str, Any]) -> None:
        keys = message.get("signing_keys")
        # Signed by a key we already pin, over the canonical JSON of the key list.
        if not isinstance(keys, list) or not keys or not verify_signature(
                keys, message.get("signature"), message.get("key_id"), self.keys):
            log.warning("ignoring a signing-key list that does not verify")
            return
        new = load_public_keys(keys)
        if new and set(new) != set(self.keys):
            log.info("pinned signing keys now: %s", ", ".join(sorted(new)))
            self.keys = new
            self.state.set_signing_keys(keys)

    async def _job(self, job: Any) -> None:
        decision = self.processor.accept(job)
        if decision.result is not None:
            await self._deliver(decision.result)
        elif decision.envelope is not None:
            task = asyncio.create_task(self._run_job(decision.envelope))
            self._job_tasks.add(task)
            task.add_done_callback(self._job_tasks.discard)

    async def _run_job(self, envelope: dict[str, Any]) -> None:
        log.info("running job %s (%s %s)", envelope["execution_id"], envelope["kind"],
                 envelope["action"])
        loop = asyncio.get_running_loop()
        execution_id = str(envelope["execution_id"])

        def started() -> None:  # in the job's thread, just before the action runs
            loop.call_soon_threadsafe(loop.call_later, STARTED_AFTER, lambda: (
                asyncio.ensure_future(self._send_started(execution_id))))

        self._running.add(execution_id)
        try:
            result = await loop.run_in_executor(self.executor, self.processor.execute,
                                                envelope, started)
        finally:
            self._running.discard(execution_id)
        await self._deliver(result)

    async def _send_started(self, execution_id: str) -> None:
        """Tell the server an action is running (best effort: the result follows anyway),
        unless it finished meanwhile."""
        if execution_id in self._running and self._send is not None:
            try:
                await self._send({"type": "started", "execution_id": execution_id})
            except Exception as exc:
                log.debug("started %s not sent: %s", execution_id, exc)

    async def _deliver(self, result: dict[str, Any]) -> None:
        """Kept on disk until acknowledged; sent now if a channel is open."""
        self.state.queue_result(result)
        if self._send is not None:
            try:
                await self._send(result)
            except Exception as exc:  # the session notices and reconnects
                log.debug("result %s not sent now: %s", result["execution_id"], exc)

    def _touch(self) -> None:
        now = time.monotonic()
        if now - self._last_contact_write >= 30:
            self._last_contact_write = now
            self.state.update_status(last_contact=now_iso(), server=self.server)


def fit_inventory(data: dict[str, Any]) -> dict[str, Any] | None:
    """Keep a full inventory under the 2 MB message limit: first the process list is cut
    to the 500 largest by memory; if it still does not fit it is not sent."""
    if len(canonical_json(data)) <= MAX_MESSAGE - 1024:
        return data
    trimmed = dict(data)
    trimmed["processes"] = sorted(data.get("processes", []), key=lambda p: -p["memory_mb"])[:500]
    if len(canonical_json(trimmed)) <= MAX_MESSAGE - 1024:
        log.warning("inventory over 2 MB: sending the 500 largest processes only")
        return trimmed
    log.error("inventory over 2 MB even without most processes: not sent")
    return None


def _decode(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        log.warning("ignoring a frame that is not JSON")
        return None


def _raise_for_close(code: int | None) -> None:
    if code == CLOSE_REVOKED:
        raise Revoked("closed 4401")
    if code == CLOSE_RATE_LIMITED:
        raise RateLimited(None)
