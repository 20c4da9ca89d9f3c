"""API rate limits counted per fixed window.

DRF's default throttles keep, per client, the list of every request time in the window:
each request reads and writes the whole list (at 1,200 a minute, 1,200 numbers each way)
and two requests at once can both read the old list, so some go uncounted. These count
with one atomic increment per request and keep one number per client and window. Across
a window boundary a client can make up to twice the rate in a short burst, which these
limits (abuse protection, not billing) accept.
"""

from __future__ import annotations

from typing import Any

from rest_framework import throttling


class _WindowCounter(throttling.SimpleRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{self.key}:{window}"
        try:
            count = self.cache.incr(key)
        except ValueError:  # first request of the window (or the key expired meanwhile)
            count = 1 if self.cache.add(key, 1, self.duration + 1) else self.cache.incr(key)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(0.0, self.window_end - self.now)


class AnonRateThrottle(_WindowCounter, throttling.AnonRateThrottle):
    """Anonymous clients, per address (the ``anon`` rate)."""


class UserRateThrottle(_WindowCounter, throttling.UserRateThrottle):
    """Signed-in people and API tokens, per person (the ``user`` rate)."""
