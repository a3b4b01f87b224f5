"""Limits on what one client may do: frames per second, sockets per address, new rooms per address."""

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


def client_address(scope: dict) -> str:
    """The socket's client address, as Daphne gives it (the proxy's X-Forwarded-For with --proxy-headers)."""
    return (scope.get("client") or ["unknown"])[0]


class HourlyCounter:
    """Actions per key within the current hour of this process; a limit of 0 switches it off.

    Every count starts again when the hour is over, so it holds an entry only
    for each key that acted within the hour: bounded by what those keys did.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, seconds: float = 3600) -> None:
        self.clock = clock
        self.seconds = seconds
        self.counts: collections.Counter[str] = collections.Counter()
        self.hour_ends = clock() + seconds

    def take(self, key: str, limit: int) -> bool:
        """Count one action of `key`; False, counting nothing, when it has had `limit` this hour."""
        if limit <= 0:
            return True
        now = self.clock()
        if now >= self.hour_ends:
            self.counts.clear()
            self.hour_ends = now + self.seconds
        if self.counts[key] >= limit:
            return False
        self.counts[key] += 1
        return True

    def seconds_left(self) -> float:
        """How long until the counts start again."""
        return max(self.hour_ends - self.clock(), 0.0)


# Rooms stored by a client's first message in them, per client address (`services.apost_message`).
new_rooms = HourlyCounter()


class RateLimiter:
    """One `TokenBucket` per key (an API caller, say), made on first use."""

    def __init__(self) -> None:
        self.buckets: dict[str, TokenBucket] = {}

    def bucket(self, key: str, rate: float, burst: int) -> TokenBucket:
        if key not in self.buckets:
            self.buckets[key] = TokenBucket(rate, burst)
        return self.buckets[key]


api_callers = RateLimiter()
