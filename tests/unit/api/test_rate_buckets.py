"""The per-token rate limit's buckets (api/guard.py): a burst, then the rate, each token
on its own, and a bounded number of tokens remembered."""

from __future__ import annotations

from corral.api import guard
from corral.api.guard import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take(b"a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(b"a") == 0.5  # one more in half a second, at 2 a second
    assert buckets.take(b"b") == 0.0  # another token: its own bucket
    clock.now += 0.5
    assert buckets.take(b"a") == 0.0
    assert buckets.take(b"a") > 0
    clock.now += 60
    assert [buckets.take(b"a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # never past the burst


def test_only_the_most_recent_tokens_are_remembered() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=Clock())
    for i in range(guard.MAX_BUCKETS + 10):
        buckets.take(str(i).encode())
    assert len(buckets.buckets) == guard.MAX_BUCKETS
    assert b"0" not in buckets.buckets and str(guard.MAX_BUCKETS + 9).encode() in buckets.buckets
