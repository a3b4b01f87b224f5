"""Limits on what one client may do: frames per second, sockets, handshakes and new rooms per address."""

import collections
import time
from collections.abc import Callable

# Heartbeat pings a socket may send without spending its rate limit: on average per second, and at once.
# Pages ping every CHAT_CLIENT_HEARTBEAT seconds, at least 1; pings beyond this count like any frame.
PING_RATE = 1.0
PING_BURST = 3


class TokenBucket:
    """Allows `rate` actions a second on average, and bursts of up to `burst`.

    A rate of 0 switches the limit off.
    """

    __slots__ = ("rate", "burst", "clock", "tokens", "updated", "refusals")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.clock = clock
        self.tokens = float(self.burst)
        self.updated = clock()
        self.refusals = 0  # takes refused since the last one allowed

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        """Spend one token if there is one; False means over the limit."""
        if self.rate <= 0:
            return True
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            self.refusals = 0
            return True
        self.refusals += 1
        return False

    def reserve(self, amount: float) -> float | None:
        """Spend up to `amount` tokens if any are left, into debt no deeper than one burst; None if none are left.

        Returns what was spent, for `refund` once the real cost is known.
        """
        if self.rate <= 0:
            return 0.0
        self._refill()
        if self.tokens <= 0:
            return None
        spent = min(amount, self.tokens + self.burst)
        self.tokens -= spent
        return spent

    def refund(self, amount: float) -> None:
        """Give back `amount` tokens spent on something that cost less than expected."""
        if self.rate > 0 and amount > 0:
            self._refill()
            self.tokens = min(self.tokens + amount, float(self.burst))

    def empty(self) -> None:
        """Refuse for as long as the bucket takes to refill from empty (burst / rate seconds), from now."""
        if self.rate > 0:
            self._refill()
            self.tokens = min(self.tokens, 1 - self.burst)

    def seconds_until_next(self) -> float:
        """How long until `take` can succeed again."""
        return 0.0 if self.rate <= 0 or self.tokens >= 1 else (1 - self.tokens) / self.rate

    def is_full(self) -> bool:
        """Whether the bucket has refilled to its burst: no different from a new one."""
        return self.rate <= 0 or self.tokens + (self.clock() - self.updated) * self.rate >= self.burst


class FrameAllowance:
    """What one socket may send: frames within its rate, heartbeats on top, and refusals before it is cut off.

    A frame past the rate is refused and the client told how long to wait.
    Refused frames have a budget of their own, twice the rate's: twice the
    burst at once, twice the rate a second. A client that waits as told stays
    well within it (the room page paces every frame to the rate and is refused
    none; a client that sends its next frame as soon as one is taken is
    refused one per frame taken, half the budget); one that sends past both
    budgets is flooding, and its socket is closed. So a socket gets at most
    about three times its rate's frames read, whatever it sends.
    """

    __slots__ = ("frames", "pings", "refusals")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.frames = TokenBucket(rate, burst, clock)
        self.pings = TokenBucket(PING_RATE, PING_BURST, clock)
        self.refusals = TokenBucket(2 * rate, 2 * burst, clock)

    def ping(self) -> bool:
        """Whether a heartbeat fits its own allowance."""
        return self.pings.take()

    def take(self) -> bool:
        """Whether a frame fits the rate."""
        return self.frames.take()

    def refuse(self) -> bool:
        """Count a refused frame; False when the socket has been refused more than it may be: a flood."""
        return self.refusals.take()


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
    """Distinct things per key within the current hour of this process; a limit of 0 switches it off.

    Every count starts again when the hour is over, so it holds entries only
    for the keys that acted within the hour: bounded by what those keys did.
    A thing counted twice (messages racing to store one room) counts once.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, seconds: float = 3600) -> None:
        self.clock = clock
        self.seconds = seconds
        self.counts: dict[str, set[str]] = {}
        self.hour_ends = clock() + seconds

    def take(self, key: str, limit: int, thing: str = "") -> bool:
        """Count `thing` for `key`; False, counting nothing, when `key` has had `limit` other things this hour."""
        if limit <= 0:
            return True
        now = self.clock()
        if now >= self.hour_ends:
            self.counts.clear()
            self.hour_ends = now + self.seconds
        things = self.counts.setdefault(key, set())
        if thing in things:
            return True
        if len(things) >= limit:
            return False
        things.add(thing)
        return True

    def seconds_left(self) -> float:
        """How long until the counts start again."""
        return max(self.hour_ends - self.clock(), 0.0)


# Rooms stored by a client's first message in them, per client address (`services.apost_message`).
new_rooms = HourlyCounter()


class RateLimiter:
    """One `TokenBucket` per key (an API caller, a client address), made on first use.

    A full bucket is no different from a new one, so full buckets are dropped
    each time the number of buckets has doubled since the last sweep: memory
    follows the keys seen within the time a bucket takes to refill, not all
    the keys ever seen (a client with many addresses cannot grow it for good).
    """

    FIRST_SWEEP = 1024

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.sweep_at = self.FIRST_SWEEP

    def bucket(self, key: str, rate: float, burst: int) -> TokenBucket:
        found = self.buckets.get(key)
        if found is None:
            if len(self.buckets) >= self.sweep_at:
                self.sweep()
            found = self.buckets[key] = TokenBucket(rate, burst, self.clock)
        return found

    def sweep(self) -> None:
        """Drop the full buckets; sweep again once the rest has doubled (a sweep's cost is shared out)."""
        self.buckets = {key: bucket for key, bucket in self.buckets.items() if not bucket.is_full()}
        self.sweep_at = max(self.FIRST_SWEEP, 2 * len(self.buckets))


api_callers = RateLimiter()
# Accounts made per client address in this process (CHAT_SIGNUPS_PER_IP an hour).
signups = RateLimiter()
# Sockets opened per client address in this process (CHAT_HANDSHAKE_RATE, CHAT_HANDSHAKE_BURST).
handshakes = RateLimiter()
# Notifications made by one sender's mentions and invitations (CHAT_NOTIFICATIONS_PER_SENDER a minute).
notification_senders = RateLimiter()


def extra_handshakes(messages: int, history_length: int) -> float:
    """How many handshakes more a socket's first `messages` count as: one per `history_length` beyond the first.

    A socket that opens a room gets the recent history, `history_length`
    messages at most, for its one handshake; one that reconnects with
    ``?after=0`` to a long room gets up to CHAT_CATCH_UP_LIMIT. Charged this
    way, reconnecting in a loop spends the address's handshake budget in
    proportion to what it is sent.
    """
    history_length = max(history_length, 1)
    return max(messages - history_length, 0) / history_length


# Warnings about one client address: a hundred at once, then one a second. A client
# repeating a refused request must not fill the disk with the log of its refusals.
LOG_LINES_PER_SECOND = 1.0
LOG_LINES_AT_ONCE = 100
log_lines = RateLimiter()


def may_log_about(address: str) -> bool:
    """Whether one more warning about a client `address` goes in the log now (see `LOG_LINES_PER_SECOND`)."""
    return log_lines.bucket(address, LOG_LINES_PER_SECOND, LOG_LINES_AT_ONCE).take()
