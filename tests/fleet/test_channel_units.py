"""Pieces of the channel without a server: the per-agent token bucket and the batcher
(one call per batch; a failing batch retried item by item so one bad item does not sink
the rest)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fleet.hub import Batcher
from fleet.ratelimit import RateLimiter


def test_the_bucket_allows_a_burst_then_refills_per_agent():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.hit("a") == 0 for _ in range(60))
    assert limiter.hit("a") == pytest.approx(1.0)  # one token a second
    assert limiter.hit("b") == 0  # another agent has its own bucket
    now[0] += 2.0
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") > 0
    now[0] += 1000.0
    limiter.hit("c")  # forgets idle buckets now and then
    assert len(limiter) == 1


async def _run_sync(fn: Any, *args: Any) -> Any:
    return fn(*args)


def test_items_of_many_callers_are_one_call():
    calls: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * 2 for item in items]

    async def main() -> list[int]:
        batcher = Batcher(_run_sync, double, name="double", window=0.01, size=3)
        return list(await asyncio.gather(*(batcher.submit(i) for i in range(5))))

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert calls == [[0, 1, 2], [3, 4]]  # full at three, the rest after the window


def test_a_failing_batch_is_retried_one_by_one_when_isolated():
    def picky(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return items

    async def main() -> list[Any]:
        batcher = Batcher(_run_sync, picky, name="picky", isolate=True)
        return list(await asyncio.gather(*(batcher.submit(i) for i in (1, 13, 2)),
                                         return_exceptions=True))

    first, bad, second = asyncio.run(main())
    assert (first, second) == (1, 2) and isinstance(bad, ValueError)


def test_with_an_in_flight_limit_items_wait_and_go_in_fuller_batches():
    calls: list[list[int]] = []
    release = None

    async def held(fn: Any, *args: Any) -> Any:
        await release.wait()  # the batch in flight is slow
        return fn(*args)

    def echo(items: list[int]) -> list[int]:
        calls.append(items)
        return items

    async def main() -> list[int]:
        nonlocal release
        release = asyncio.Event()
        batcher = Batcher(held, echo, name="echo", window=0.001, size=3, in_flight=1)
        first = [batcher.submit(i) for i in range(2)]
        await asyncio.sleep(0.01)  # the first batch (0, 1) is in flight
        later = [batcher.submit(i) for i in range(2, 7)]
        await asyncio.sleep(0.01)  # windows passed: still one batch in flight
        assert len(calls) == 0 and batcher.batches == 1
        release.set()
        answers = await asyncio.gather(*first, *later)
        await batcher.drain()
        return list(answers)

    assert asyncio.run(main()) == list(range(7))
    assert calls == [[0, 1], [2, 3, 4], [5, 6]]  # at most `size`, one at a time
