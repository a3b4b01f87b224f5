"""Limits on what one client may do: frames per second, and sockets per address."""

import collections
import time
from collections.abc import Callable


class TokenBucket:
    """Allows `rate` actions a second on average, and bursts of up to `burst`.

    A rate of 0 switches the limit off.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.clock = clock
        self.tokens = float(self.burst)
        self.updated = clock()

    def take(self) -> bool:
        """Spend one token if there is one; False means over the limit."""
        if self.rate <= 0:
            return True
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def seconds_until_next(self) -> float:
        """How long until `take` can succeed again."""
        return 0.0 if self.rate <= 0 or self.tokens >= 1 else (1 - self.tokens) / self.rate


class ConnectionCounter:
    """Open sockets per client address in this process; a limit of 0 switches it off."""

    def __init__(self) -> None:
        self.open: collections.Counter[str] = collections.Counter()

    def acquire(self, address: str, limit: int) -> bool:
        if limit > 0 and self.open[address] >= limit:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


connections = ConnectionCounter()


class RateLimiter:
    """One `TokenBucket` per key (an API caller, say), made on first use."""

    def __init__(self) -> None:
        self.buckets: dict[str, TokenBucket] = {}

    def bucket(self, key: str, rate: float, burst: int) -> TokenBucket:
        if key not in self.buckets:
            self.buckets[key] = TokenBucket(rate, burst)
        return self.buckets[key]


api_callers = RateLimiter()
