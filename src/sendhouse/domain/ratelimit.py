"""Per-key API rate limit (HTTP API and MCP alike): an in-process token bucket per key (each API
replica limits on its own). Pure: the clock is injected."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int


class RateLimiter:
    """`rate` requests per second per key, with a burst of `rate`."""

    def __init__(self, rate: int, clock=time.monotonic):
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def hit(self, key: str) -> Verdict:
        now = self._clock()
        bucket = self._buckets.get(key) or _Bucket(float(self.rate), now)
        bucket.tokens = min(float(self.rate), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        self._buckets[key] = bucket
        return self._verdict(allowed, bucket.tokens)

    def _verdict(self, allowed: bool, tokens: float) -> Verdict:
        missing = max(0.0, 1 - tokens)
        retry_after = max(1, math.ceil(missing / self.rate)) if not allowed else 0
        refill_full = (self.rate - tokens) / self.rate
        reset = int(time.time() + math.ceil(refill_full))
        return Verdict(allowed, self.rate, int(tokens), reset, retry_after)
