"""The channel's per-process hub: which agents are connected here (WebSockets and parked
long-polls), and the few coroutines that do the database work for all of them.

Nothing here runs a thread per connection (docs/agent-channel.md; the issue measured
10,000 parked requests making 10,000 threads). Work from many connections is gathered
into batches — token checks of a reconnect storm, pending jobs, results, presence — and
each batch is one call of a sync service in a small dedicated thread pool. Nudges come
from one Redis pub/sub subscriber per process, or, without Redis (the embedded profile),
from polling the database twice a second for the agents connected here."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import close_old_connections

from . import bulk, services, tokens
from .ratelimit import RateLimiter

log = logging.getLogger("fleet.channel")

T = TypeVar("T")
R = TypeVar("R")

PING_SECONDS = 30.0
# No frame at all from an agent for this long (it answers pings every 30 s): drop it.
SILENT_SECONDS = 100.0
PRESENCE_FLUSH_SECONDS = 2.0
DB_POLL_SECONDS = 0.5
DB_POLL_SECONDS_WITH_REDIS = 5.0
# Revocations: at once by pub/sub with Redis; the database check is the embedded
# profile's way, and a safety net for a pub/sub message lost during a Redis reconnect.
CREDENTIAL_CHECK_SECONDS = 3.0
CREDENTIAL_CHECK_SECONDS_WITH_REDIS = 30.0
# A token known good is not looked up again for this long (a long-polling agent asks
# every ~25 s); revocation and re-enrolment evict it at the next credential check.
TOKEN_CACHE_SECONDS = 60.0
# A job handed to a long-poll is not handed over again for this long unless answered
# (the agent is running it; sending it at once again would turn polling into a loop).
REDELIVER_AFTER = 300.0
BATCH_WINDOW = 0.02
BATCH_SIZE = 200
# A nudge for thousands of agents is delivered in chunks of this many, a few fetched at
# once: the first agents have their jobs after one chunk's fetch, not the fleet's.
DELIVER_CHUNK = 500
DELIVER_IN_FLIGHT = 2
# Python's are (700, 10, 10): see _tune_gc.
GC_THRESHOLDS = (50_000, 20, 20)
# IN lists are cut to this size (SQLite's host-parameter limit, PostgreSQL's plans).
CHUNK = 5000

# Close codes (docs/agent.md).
CLOSE_UNAUTHORISED = 4401
CLOSE_RATE_LIMITED = 4429
CLOSE_REPLACED = 4409
CLOSE_SILENT = 4408
CLOSE_TOO_BIG = 1009
CLOSE_SERVER_ERROR = 1011

REVOKED = "revoked"


class Revoked(Exception):
    """The agent's token was revoked (or replaced) while it was waiting."""


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _in_thread(fn: Callable[..., R], *args: Any) -> R:
    # Executor threads live as long as the process: give back (or drop a broken)
    # database connection around every call, as Django does around a request.
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


class Batcher(Generic[T, R]):
    """Gathers items submitted by many coroutines and hands them to ``handle`` (a sync
    function run in a hub thread) as one list — after ``window`` seconds or ``size``
    items, whichever comes first. ``handle`` returns one result per item.

    With ``isolate``, a batch that fails is retried item by item, so one bad item (say,
    text the database refuses) does not cost the rest of the fleet its answers.

    With ``in_flight``, at most that many batches are handed over at a time: meanwhile
    items gather (up to ``size`` a batch), so a busy moment makes fewer, fuller batches
    instead of a queue of small ones in front of the others' work in the hub threads."""

    def __init__(self, run: Callable[..., Awaitable[Any]],
                 handle: Callable[[list[T]], list[R]], *, name: str,
                 window: float = BATCH_WINDOW, size: int = BATCH_SIZE,
                 isolate: bool = False, in_flight: int = 0) -> None:
        self._run_sync, self.handle, self.name = run, handle, name
        self.window, self.size, self.isolate = window, size, isolate
        self.in_flight = in_flight
        self._running = 0
        self._items: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # for tests and the benchmark: how many calls were made

    def submit(self, item: T) -> asyncio.Future[R]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._items.append((item, future))
        if len(self._items) >= self.size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.window, self._flush)
        return future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.in_flight and self._running >= self.in_flight:
            return  # handed over when a batch in flight is done (_done)
        # Items answered already (withdrawn) are not handed over.
        items = [pair for pair in self._items if not pair[1].done()]
        if self.in_flight:
            items, self._items = items[:self.size], items[self.size:]
        else:
            self._items = []
        self._handed(items)
        if items:
            self._running += 1
            task = asyncio.ensure_future(self._process(items))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _handed(self, items: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Items leaving for a batch (a hook for KeyedBatcher)."""

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._running -= 1
        # Items that waited for this batch: now, unless their window is still open.
        if self._items and (self._timer is None or len(self._items) >= self.size):
            self._flush()

    async def _process(self, items: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        try:
            results = await self._run_sync(self.handle, [item for item, _ in items])
        except Exception as error:
            if self.isolate and len(items) > 1:
                log.warning("%s: a batch of %d failed (%s); retrying one by one",
                            self.name, len(items), error)
                for pair in items:
                    await self._process([pair])
                return
            log.exception("%s: a batch of %d failed", self.name, len(items))
            for _, future in items:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(items, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def drain(self) -> None:
        """Hand over what is gathered and wait for the batches in flight."""
        self._flush()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._flush()  # what waited for an in-flight limit


class KeyedBatcher(Batcher[T, R]):
    """A Batcher of hashable items: an item submitted again before its batch is handed
    over is the same item (one answer for both), and such an item can be withdrawn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: dict[T, asyncio.Future[R]] = {}

    def submit(self, item: T) -> asyncio.Future[R]:
        future = self._waiting.get(item)
        if future is None or future.done():
            future = self._waiting[item] = super().submit(item)
        return future

    def _handed(self, items: list[tuple[T, asyncio.Future[R]]]) -> None:
        for item, _future in items:
            self._waiting.pop(item, None)

    def withdraw(self, item: T, answer: R) -> bool:
        """Take back an item not handed over yet, answering it with ``answer``."""
        future = self._waiting.pop(item, None)
        if future is None or future.done():
            return False
        future.set_result(answer)
        return True


# --- The sync side: each function is one batch, run in a hub thread ----------------------

@dataclass(frozen=True)
class KnownAgent:
    agent_id: str
    agent_version: str
    policy: Any


def _check_tokens(raw_tokens: list[str]) -> list[KnownAgent | str | None]:
    """Per token: the agent, ``"revoked"``, or None (unknown) — one query, and a second
    only when some were not found (to tell revoked from unknown, for the 401's code)."""
    from .models import Agent

    found = services.agents_for_tokens(raw_tokens)
    missing = {tokens.digest(raw): raw for raw in raw_tokens if raw not in found}
    revoked: set[str] = set()
    if missing:
        revoked = {missing[h] for h in Agent.objects.filter(
            token_hash__in=list(missing), revoked_at__isnull=False).values_list(
            "token_hash", flat=True)}
    answers: list[KnownAgent | str | None] = []
    for raw in raw_tokens:
        agent = found.get(raw)
        if agent is not None:
            answers.append(KnownAgent(str(agent.pk), agent.agent_version, agent.policy))
        else:
            answers.append(REVOKED if raw in revoked else None)
    return answers


# A pending job here: (execution id, its wire JSON text), sent as it is (jobs_frame).
Wire = tuple[str, str]


def jobs_frame(wires: Iterable[str]) -> str:
    """The ``jobs`` frame, assembled from the jobs' wire texts (never decoded here)."""
    return '{"type": "jobs", "jobs": [' + ", ".join(wires) + "]}"


def _fetch_pending(agent_ids: Sequence[str]) -> dict[str, list[Wire]]:
    """Pending jobs of these agents in wire form (one query per chunk), and the queued
    ones marked sent (one statement) before anything is sent."""
    pending: dict[str, list[Wire]] = {}
    queued: list[str] = []
    for chunk in _chunks(list(agent_ids)):
        for agent_id, jobs in services.jobs_pending_wire(chunk).items():
            pending[agent_id] = [(job.execution_id, job.text) for job in jobs]
            queued += [job.execution_id for job in jobs if job.queued]
    if queued:
        services.jobs_mark_sent(queued)
    return pending


def _mark_pushed(pushed: dict[str, list[Wire]]) -> dict[str, list[Wire]]:
    """Jobs that came with their nudge: those still queued marked sent (one statement),
    and only those kept: one sent, answered or cancelled meanwhile is not sent again."""
    moved = set(services.jobs_mark_sent(
        [execution_id for jobs in pushed.values() for execution_id, _wire in jobs]))
    kept: dict[str, list[Wire]] = {}
    for agent_id, jobs in pushed.items():
        jobs = [job for job in jobs if job[0] in moved]
        if jobs:
            kept[agent_id] = jobs
    return kept


def _fetch_pending_batch(agent_ids: list[str]) -> list[list[Wire]]:
    found = _fetch_pending(list(dict.fromkeys(agent_ids)))
    return [found.get(agent_id, []) for agent_id in agent_ids]


def _agents_with_queued_jobs(agent_ids: Sequence[str]) -> list[str]:
    """The database check's nudge: which of these agents have queued jobs. Asked the
    other way round (the agents with queued jobs, those here kept): queued jobs are few
    and indexed, while an IN list of the 10,000 agents connected here cost a thread over
    a second per check."""
    from django.utils import timezone

    from .models import Job, JobState

    here = set(agent_ids)
    return sorted({agent_id for agent_id in map(str, Job.objects.filter(
        state=JobState.QUEUED, finished_at__isnull=True,  # the unfinished jobs' index
        expires_at__gt=timezone.now()).values_list(
        "agent_id", flat=True).order_by().distinct()) if agent_id in here})


def _current_tokens(agent_ids: Sequence[str]) -> dict[str, str]:
    """Token hash of each of these agents that is still active."""
    from .models import Agent

    current: dict[str, str] = {}
    for chunk in _chunks(list(agent_ids)):
        current.update((str(pk), token_hash) for pk, token_hash in Agent.objects.filter(
            pk__in=chunk, revoked_at__isnull=True).values_list("pk", "token_hash"))
    return current


def _record_results(items: list[tuple[str, dict[str, Any]]]) -> list[bool]:
    committed = set(services.results_record(items))
    return [str(message.get("execution_id")) in committed for _, message in items]


def _record_started(items: list[tuple[str, str]]) -> list[bool]:
    services.jobs_started(items)
    return [True] * len(items)


def _write_presence(online: dict[str, list[str]], offline: list[str],
                    hellos: dict[str, tuple[str, Any]]) -> None:
    from .models import Agent

    for channel, ids in online.items():
        for chunk in _chunks(ids):
            services.agents_seen(chunk, online=True, channel=channel)
    for chunk in _chunks(offline):
        services.agents_seen(chunk, online=False)
    # What an agent says in its hello, written only when it changed: one statement per
    # distinct (version, policy), as a reconnecting fleet mostly says the same thing.
    groups: dict[str, tuple[str, Any, list[str]]] = {}
    for agent_id, (version, policy) in hellos.items():
        key = json.dumps([version, policy], sort_keys=True, default=str)
        groups.setdefault(key, (version, policy, []))[2].append(agent_id)
    for version, policy, ids in groups.values():
        # Rows locked in id order, as presence and a dispatch's sequences lock them.
        bulk.update_returning(Agent, assignments={"agent_version": "%s", "policy": "%s"},
                              params=[version, bulk.prep(Agent, "policy", policy)],
                              ids=ids, returning=(), lock_in_order=True)


# --- Connections -------------------------------------------------------------------------

class Socket:
    """One agent's WebSocket. Frames go out through an outbox drained by one short-lived
    task, so the hub never waits on a slow client and frames never interleave."""

    def __init__(self, agent_id: str, token_digest: str,
                 send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.agent_id, self.token_digest = agent_id, token_digest
        self._send = send
        self._outbox: list[dict[str, Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self.last_heard = time.monotonic()
        self.delivered: set[str] = set()  # execution ids sent here and not yet acked
        self.jobs_sent = False  # a jobs frame went out on this socket
        self._acks: list[str] = []

    def push(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self._queue({"type": "websocket.send", "text": json.dumps(message)})

    def push_text(self, text: str) -> None:
        """A frame already encoded (a ``jobs`` frame)."""
        if not self.closed:
            self._queue({"type": "websocket.send", "text": text})

    def close(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self._queue({"type": "websocket.close", "code": code, "reason": reason})

    def _queue(self, event: dict[str, Any]) -> None:
        self._outbox.append(event)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._outbox:
                await self._send(self._outbox.pop(0))
        except Exception:  # the peer is gone: the receive loop sees the disconnect
            self._outbox.clear()
            self.closed = True

    async def flush(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    def jobs(self, jobs: Sequence[Wire], *, always: bool = False) -> None:
        """Send the jobs not already sent on this socket (a nudge and the connect-time
        fetch may both find one). ``always`` sends a frame even with nothing new, unless
        one was sent already: the connect-time "nothing waiting" must not follow a
        nudge's frame that the database check delivered first."""
        new = [wire for execution_id, wire in jobs if execution_id not in self.delivered]
        self.delivered.update(execution_id for execution_id, _ in jobs)
        if new or (always and not self.jobs_sent):
            self.jobs_sent = True
            self.push_text(jobs_frame(new))

    def ack_when_committed(self, execution_id: str, future: asyncio.Future[bool]) -> None:
        future.add_done_callback(functools.partial(self._committed, execution_id))

    def _committed(self, execution_id: str, future: asyncio.Future[bool]) -> None:
        if future.cancelled() or future.exception() is not None or not future.result():
            return  # not stored: no ack, so the agent sends it again later
        if not self._acks:
            # All results of one batch resolve in one loop pass: one ack frame for them.
            asyncio.get_running_loop().call_soon(self._send_acks)
        self._acks.append(execution_id)

    def _send_acks(self) -> None:
        ids, self._acks = self._acks, []
        self.delivered.difference_update(ids)
        self.push({"type": "ack", "ids": ids})


@dataclass
class CachedToken:
    agent_id: str
    expires: float


# --- The hub -------------------------------------------------------------------------------

def _tune_gc() -> None:
    """The process keeps some hundred objects per connected agent (a million for 10,000)
    and a full garbage collection walks them all with the event loop stopped: 0.6–0.75 s
    measured, and at Python's default thresholds one ran every 2–4 s while the fleet
    answered a run (docs/benchmarks.md, "Remediation"). What exists at startup (modules,
    Django) is frozen out of the collections; young collections run less often, so fewer
    short-lived objects (frames, results waiting for their batch) live long enough to be
    promoted and trigger full ones. Cycles are still collected."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Hub:
    """Connections of this process and the background work for them. One per process
    (``fleet.channel.hub``)."""

    def __init__(self) -> None:
        self.sockets: dict[str, Socket] = {}
        self.waiters: dict[str, asyncio.Future[list[str]]] = {}
        self._recent: dict[str, dict[str, float]] = {}  # long-poll agent → id → handed
        self._seen: dict[str, str] = {}  # agent → channel, online at the next flush
        self._gone: set[str] = set()  # disconnected: offline at the next flush
        self._known: dict[str, KnownAgent] = {}  # what the database has (for hello)
        self._hellos: dict[str, tuple[str, Any]] = {}
        self._tokens: dict[str, CachedToken] = {}  # token digest → agent
        self._nudged: set[str] = set()
        self._delivering: set[str] = set()  # agents of a delivery under way
        self._nudge_task: asyncio.Task[None] | None = None
        self._pushes: set[asyncio.Task[None]] = set()
        self._deliver_slots: asyncio.Semaphore | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._batch_pool: ThreadPoolExecutor | None = None
        self._single_pool: ThreadPoolExecutor | None = None
        self.limiter = RateLimiter(120)
        self.token_checks: Batcher[str, KnownAgent | str | None] = Batcher(
            self.run_batch, _check_tokens, name="token checks")
        self.pending: Batcher[str, list[Wire]] = Batcher(
            self.run_batch, _fetch_pending_batch, name="pending jobs")
        self.results: Batcher[tuple[str, dict[str, Any]], bool] = Batcher(
            self.run_batch, _record_results, name="results", window=0.05, size=500,
            isolate=True, in_flight=1)
        # "started" messages of action jobs: batched like results (no ack: a lost one
        # only means the job goes from sent to finished without showing "running").
        self.started: KeyedBatcher[tuple[str, str], bool] = KeyedBatcher(
            self.run_batch, _record_started, name="started", window=0.05, size=500,
            in_flight=1)

    # -- threads ---------------------------------------------------------------------------

    async def run_batch(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a batch's sync call in the batch threads (kept apart from per-agent work
        so a wave of inventories never delays token checks or acks)."""
        return await self._run("batch", fn, *args)

    async def run_single(self, fn: Callable[..., R], *args: Any) -> R:
        """Per-agent work (inventories, enrolment): in its own few threads."""
        return await self._run("single", fn, *args)

    async def _run(self, kind: str, fn: Callable[..., R], *args: Any) -> R:
        await self.ensure_started()
        pool = self._batch_pool if kind == "batch" else self._single_pool
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(pool, context.run, _in_thread, fn, *args)

    # -- lifecycle -------------------------------------------------------------------------

    async def ensure_started(self) -> None:
        """Started by the ASGI lifespan; lazily too, for a server run without it."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.start()

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        _tune_gc()
        threads = settings.FLEET_CHANNEL_THREADS
        self._batch_pool = ThreadPoolExecutor(threads, thread_name_prefix="fleet-batch")
        self._single_pool = ThreadPoolExecutor(threads, thread_name_prefix="fleet-single")
        self.limiter = RateLimiter(settings.FLEET_RATE_PER_MINUTE)
        loops: list[Callable[[], Awaitable[None]]] = [self._flush_loop, self._ping_loop,
                                                      self._credential_loop]
        loops.append(self._poll_database)
        if settings.REDIS_URL:
            loops.append(self._listen_redis)
        self._tasks = [asyncio.ensure_future(self._forever(fn)) for fn in loops]
        log.info("fleet channel hub started (%s nudges)",
                 "Redis" if settings.REDIS_URL else "database-polling")

    async def stop(self) -> None:
        """Stop the background work; close what is still open; write presence."""
        if not self._started:
            return
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for socket in list(self.sockets.values()):
            socket.close(1012, "restart")  # "service restart": agents come back later
            self.detach(socket)
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_result([])
        await asyncio.gather(*self._pushes, return_exceptions=True)
        self._deliver_slots = None
        for batcher in (self.token_checks, self.pending, self.started, self.results):
            await batcher.drain()
        try:
            await self.flush_presence()
        except Exception:
            log.exception("fleet channel: presence not written at shutdown")
        for pool in (self._batch_pool, self._single_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._batch_pool = self._single_pool = None
        self._started = False

    async def _forever(self, loop_fn: Callable[[], Awaitable[None]]) -> None:
        # A background loop that fails is logged and started again, never lost.
        while True:
            try:
                await loop_fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fleet channel: %s failed; restarting it", loop_fn.__name__)
                await asyncio.sleep(1.0)

    # -- authentication --------------------------------------------------------------------

    async def authenticate(self, raw: str) -> KnownAgent | str | None:
        """The agent of a bearer token, ``"revoked"`` or None. Checked in batches."""
        if not raw.startswith(tokens.TOKEN_PREFIX) or len(raw) > 200:
            return None
        digest = tokens.digest(raw)
        cached = self._tokens.get(digest)
        now = time.monotonic()
        if cached is not None and cached.expires > now:
            return self._known.get(cached.agent_id) or KnownAgent(cached.agent_id, "", None)
        answer = await self.token_checks.submit(raw)
        if isinstance(answer, KnownAgent):
            self._tokens[digest] = CachedToken(answer.agent_id, now + TOKEN_CACHE_SECONDS)
            self._known[answer.agent_id] = answer
        return answer

    # -- presence --------------------------------------------------------------------------

    def seen(self, agent_id: str, channel: str) -> None:
        self._seen[agent_id] = channel
        self._gone.discard(agent_id)

    def hello(self, agent_id: str, message: dict[str, Any]) -> None:
        version = str(message.get("agent_version") or "")[:40]
        policy = message.get("policy")
        known = self._known.get(agent_id)
        if not isinstance(policy, dict):
            policy = known.policy if known is not None else {}
        if known is None or (known.agent_version, known.policy) != (version, policy):
            self._hellos[agent_id] = (version, policy)
            self._known[agent_id] = KnownAgent(agent_id, version, policy)

    async def flush_presence(self) -> None:
        online: dict[str, list[str]] = {}
        for agent_id, channel in self._seen.items():
            online.setdefault(channel, []).append(agent_id)
        offline = [a for a in self._gone if a not in self.sockets]
        hellos = self._hellos
        self._seen, self._gone, self._hellos = {}, set(), {}
        if online or offline or hellos:
            await self.run_batch(_write_presence, online, offline, hellos)

    # -- connections -----------------------------------------------------------------------

    def attach(self, socket: Socket) -> None:
        old = self.sockets.get(socket.agent_id)
        if old is not None and old is not socket:
            old.close(CLOSE_REPLACED, "replaced by a newer connection")
        self.sockets[socket.agent_id] = socket
        self.seen(socket.agent_id, "websocket")

    def detach(self, socket: Socket) -> None:
        if self.sockets.get(socket.agent_id) is socket:
            del self.sockets[socket.agent_id]
            self._seen.pop(socket.agent_id, None)
            self._gone.add(socket.agent_id)

    async def connected(self, socket: Socket) -> None:
        """A new socket gets every pending job (an empty list says "nothing waiting")."""
        jobs = await self.pending.submit(socket.agent_id)
        socket.jobs(jobs, always=True)

    async def poll(self, agent_id: str, wait: float,
                   disconnected: asyncio.Future[Any] | None = None) -> list[str]:
        """A long-poll: jobs at once when some are pending, else park (no thread) until
        a nudge brings some, the wait is over, or the client goes away."""
        loop = asyncio.get_running_loop()
        previous = self.waiters.get(agent_id)
        if previous is not None and not previous.done():
            previous.set_result([])  # an agent polls once at a time: the newer one wins
        waiter: asyncio.Future[list[str]] = loop.create_future()
        # Parked before the first fetch, so a nudge in between is not missed.
        self.waiters[agent_id] = waiter
        try:
            jobs = await self.pending.submit(agent_id)
            if not waiter.done():
                fresh = self._fresh_for_poll(agent_id, jobs)
                if fresh:
                    return fresh
                waits: list[asyncio.Future[Any]] = [waiter]
                if disconnected is not None:
                    waits.append(disconnected)
                await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done() and not waiter.cancelled():
                return waiter.result()  # raises Revoked when it was
            return []
        finally:
            if self.waiters.get(agent_id) is waiter:
                del self.waiters[agent_id]
            if not waiter.done():
                waiter.cancel()

    def _fresh_for_poll(self, agent_id: str, jobs: Sequence[Wire]) -> list[str]:
        now = time.monotonic()
        recent = self._recent.setdefault(agent_id, {})
        fresh = []
        for execution_id, wire in jobs:
            if now - recent.get(execution_id, -REDELIVER_AFTER) >= REDELIVER_AFTER:
                recent[execution_id] = now
                fresh.append(wire)
        return fresh

    def acked(self, agent_id: str, execution_ids: Iterable[str]) -> None:
        recent = self._recent.get(agent_id)
        if recent:
            for execution_id in execution_ids:
                recent.pop(execution_id, None)

    # -- delivery --------------------------------------------------------------------------

    def here(self, agent_ids: Iterable[str]) -> list[str]:
        return [a for a in agent_ids if a in self.sockets or a in self.waiters]

    def nudge(self, agent_ids: Iterable[str]) -> None:
        """Agents with new jobs: gathered for a moment, then one fetch for all of them."""
        self._nudged.update(self.here(agent_ids))
        if self._nudged and (self._nudge_task is None or self._nudge_task.done()):
            self._nudge_task = asyncio.ensure_future(self._deliver_nudged())

    async def _deliver_nudged(self) -> None:
        await asyncio.sleep(0.005)  # a dispatch may publish in several messages
        while self._nudged:
            ids, self._nudged = sorted(self._nudged), set()
            try:
                await self.deliver(ids)
            except Exception:
                log.exception("fleet channel: nudged jobs not delivered to %d agents",
                              len(ids))

    async def deliver(self, agent_ids: Sequence[str]) -> None:
        """Send the pending jobs of these agents that are connected here: in chunks, each
        sent as soon as it is fetched while the next ones are fetched."""
        targets = self.here(agent_ids)
        if targets:
            await self._in_chunks(targets, lambda chunk: self.run_batch(_fetch_pending, chunk),
                                  "jobs not fetched")

    def push(self, jobs: Iterable[Sequence[str]]) -> None:
        """Jobs that came with their nudge, (agent id, execution id, wire text) each: those
        of agents connected here are marked sent and handed over, in chunks, without
        being read back from the database."""
        pushed: dict[str, list[Wire]] = {}
        for agent_id, execution_id, wire in jobs:
            if agent_id in self.sockets or agent_id in self.waiters:
                pushed.setdefault(agent_id, []).append((execution_id, wire))
        if pushed:
            task = asyncio.ensure_future(self._deliver_pushed(pushed))
            self._pushes.add(task)
            task.add_done_callback(self._pushes.discard)

    async def _deliver_pushed(self, pushed: dict[str, list[Wire]]) -> None:
        await self._in_chunks(list(pushed), lambda chunk: self.run_batch(
            _mark_pushed, {agent_id: pushed[agent_id] for agent_id in chunk}),
            "pushed jobs not marked sent")

    async def _in_chunks(self, agents: Sequence[str],
                         batch: Callable[[Sequence[str]], Awaitable[dict[str, list[Wire]]]],
                         failure: str) -> None:
        """Hand over what ``batch`` finds for each chunk of these agents as soon as it is
        found, a few chunks at a time (the first agents do not wait for the last)."""
        self._delivering.update(agents)

        async def chunk_delivered(chunk: Sequence[str]) -> None:
            try:
                async with self._slots():
                    found = await batch(chunk)
            except Exception:
                # This chunk's agents get their jobs from the database check instead.
                log.exception("fleet channel: %s for %d agents", failure, len(chunk))
                return
            self._hand_over(found)

        try:
            await asyncio.gather(*(chunk_delivered(chunk)
                                   for chunk in _chunks(agents, DELIVER_CHUNK)))
        finally:
            self._delivering.difference_update(agents)

    def _slots(self) -> asyncio.Semaphore:
        # Chunks of every delivery under way share these (created in the running loop).
        if self._deliver_slots is None:
            self._deliver_slots = asyncio.Semaphore(DELIVER_IN_FLIGHT)
        return self._deliver_slots

    def _hand_over(self, found: dict[str, list[Wire]]) -> None:
        for agent_id, jobs in found.items():
            socket = self.sockets.get(agent_id)
            if socket is not None:
                socket.jobs(jobs)
            waiter = self.waiters.get(agent_id)
            if waiter is not None and not waiter.done():
                fresh = self._fresh_for_poll(agent_id, jobs)
                if fresh:
                    waiter.set_result(fresh)

    def revoke(self, agent_ids: Iterable[str]) -> None:
        """Cut these agents off now: sockets closed 4401, long-polls answered 401."""
        ids = set(agent_ids)
        for agent_id in ids:
            socket = self.sockets.get(agent_id)
            if socket is not None:
                socket.close(CLOSE_UNAUTHORISED, REVOKED)
            waiter = self.waiters.get(agent_id)
            if waiter is not None and not waiter.done():
                waiter.set_exception(Revoked())
            self._known.pop(agent_id, None)
        for digest in [d for d, c in self._tokens.items() if c.agent_id in ids]:
            del self._tokens[digest]

    # -- background loops ------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_FLUSH_SECONDS)
            await self.flush_presence()
            self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        for digest in [d for d, c in self._tokens.items() if c.expires <= now]:
            del self._tokens[digest]
        for agent_id in list(self._recent):
            recent = self._recent[agent_id]
            for execution_id in [e for e, at in recent.items() if now - at > REDELIVER_AFTER]:
                del recent[execution_id]
            if not recent:
                del self._recent[agent_id]
        live = set(self.sockets) | set(self.waiters) | {c.agent_id for c in self._tokens.values()}
        for agent_id in [a for a in self._known if a not in live]:
            del self._known[agent_id]

    async def _ping_loop(self) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            now = time.monotonic()
            for socket in list(self.sockets.values()):
                if now - socket.last_heard > SILENT_SECONDS:
                    socket.close(CLOSE_SILENT, "silent")
                else:
                    socket.push({"type": "ping"})

    async def _credential_loop(self) -> None:
        every = (CREDENTIAL_CHECK_SECONDS_WITH_REDIS if settings.REDIS_URL
                 else CREDENTIAL_CHECK_SECONDS)
        while True:
            await asyncio.sleep(every)
            await self.check_credentials()

    async def check_credentials(self) -> None:
        """Agents revoked, or enrolled again (a new token), lose what this process holds
        for the old token: sockets closed 4401, cached tokens forgotten."""
        ids = set(self.sockets) | set(self.waiters) | {c.agent_id for c in self._tokens.values()}
        if not ids:
            return
        current = await self.run_batch(_current_tokens, sorted(ids))
        gone = {a for a in ids if a not in current}
        self.revoke(gone)
        for socket in list(self.sockets.values()):
            if current.get(socket.agent_id, socket.token_digest) != socket.token_digest:
                socket.close(CLOSE_UNAUTHORISED, REVOKED)
        for digest in [d for d, c in self._tokens.items()
                       if c.agent_id in current and current[c.agent_id] != d]:
            del self._tokens[digest]

    async def _poll_database(self) -> None:
        """Queued jobs of the agents connected here, one query per tick, nothing when
        nobody is connected. Without Redis it is how jobs arrive (every 0.5 s); with
        Redis it is the safety net for a nudge that was never published (every 5 s)."""
        interval = DB_POLL_SECONDS_WITH_REDIS if settings.REDIS_URL else DB_POLL_SECONDS
        while True:
            await asyncio.sleep(interval)
            ids = sorted(set(self.sockets) | set(self.waiters))
            if ids:
                due = await self.run_batch(_agents_with_queued_jobs, ids)
                # Not those whose delivery is under way (their jobs are queued until their
                # chunk is fetched): they would be fetched twice.
                due = [agent_id for agent_id in due if agent_id not in self._delivering]
                if due:
                    await self.deliver(due)

    async def _listen_redis(self) -> None:
        """One pub/sub subscriber per process for nudges and revocations."""
        import redis.asyncio as aioredis

        backoff = 1.0
        while True:
            client = aioredis.Redis.from_url(settings.REDIS_URL)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(services.NUDGE_CHANNEL, services.REVOKE_CHANNEL)
                backoff = 1.0
                # Nudges published while we were not subscribed: catch up once.
                self.nudge(list(self.sockets) + list(self.waiters))
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._on_pubsub(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("fleet channel: Redis subscriber lost (%s); again in %.0fs",
                            error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            finally:
                try:
                    await pubsub.aclose()
                    await client.aclose()
                except Exception:
                    pass

    def _on_pubsub(self, channel: bytes | str, data: bytes | str) -> None:
        if isinstance(channel, bytes):
            channel = channel.decode()
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("fleet channel: unreadable message on %s", channel)
            return
        if channel == services.NUDGE_CHANNEL and isinstance(message, dict):
            jobs = message.get("jobs")
            if isinstance(jobs, list):
                self.push(job for job in jobs if isinstance(job, list) and len(job) == 3
                          and all(isinstance(part, str) for part in job))
            return
        if not isinstance(message, list):
            return
        ids = [str(i) for i in message]
        if channel == services.NUDGE_CHANNEL:
            self.nudge(ids)
        elif channel == services.REVOKE_CHANNEL:
            self.revoke(ids)

