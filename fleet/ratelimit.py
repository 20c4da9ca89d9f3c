"""Per-agent rate limits of the channel: an in-process token bucket per agent.

In memory and per process on purpose: an agent talks to one process at a time (one
WebSocket, or one long-poll after another), the check must cost nothing next to the
message it guards, and a restart forgetting the buckets only forgives a minute's
excess."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """``per_minute`` requests per key, in bursts of up to ``per_minute``, refilled
    continuously (so an agent that sends a burst of results after a reconnect is not cut
    off, but one that loops is)."""

    # Buckets idle this long are full again and can be forgotten.
    FORGET_AFTER = 120.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, updated)
        self._last_prune = clock()

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` from ``key``'s bucket: 0 when allowed, else the seconds to wait
        before it would be (nothing is taken then)."""
        now = self.clock()
        tokens, updated = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - updated) * self.rate)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate
        self._buckets[key] = (tokens - cost, now)
        if now - self._last_prune > self.FORGET_AFTER:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        self._last_prune = now
        stale = [key for key, (_tokens, updated) in self._buckets.items()
                 if now - updated > self.FORGET_AFTER]
        for key in stale:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
