"""The channel layer: a Redis layer that rides out Redis outages and hangs, and a start-up note.

`ResilientRedisChannelLayer` is channels-redis's `RedisChannelLayer` with one
promise added: losing Redis never takes a socket down. While Redis is away,
receiving waits instead of raising (the tutorial's consumers die with 1011),
group changes and group sends are remembered; when Redis answers again this
process rejoins its groups (a restarted Redis has forgotten them), sends what
was queued, and hands each of its channels a ``layer.recovered`` event so
consumers can fetch from the database whatever they missed. A Redis that
hangs rather than goes is treated the same way: every command but the
blocking receive gives up after ``command_timeout`` seconds.

With several Redis servers (shards) each is waited for on its own: while one
is away, Groups on the others go on as before, and when it is back only the
Groups it keeps are rejoined and only the channels that depended on it (in
one of its Groups, or reading their messages from it) are told to catch up.
A primary that Sentinel replaces is the same case: the connection to the old
one fails, and the next one asks Sentinel for the new one.

It builds on `chat.layer_speedups`, which sends channels-redis's commands in
fewer round trips.
"""

import asyncio
import collections
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio
import redis.exceptions
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import BoundedQueue
from django.conf import settings

from chat import events
from chat.layer_speedups import PipelinedRedisChannelLayer

logger = logging.getLogger(__name__)

# OSError covers TimeoutError, which `asyncio.timeout` raises for a command that took too long.
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class ChannelBuffers(dict):
    """channels-redis's buffered messages per local channel, kept only for channels in use here.

    The layer's shared receive files every message it pulls in under the
    message's channel, in a queue made on first use, and frees that queue only
    when something receives on the channel (django/channels_redis#384). A hub
    that left its Group with an event already on its way, or a membership Redis
    kept after this process lost track of it, left such a queue behind for good,
    up to ``capacity`` messages each. Here a message for a channel that nothing
    receives on and that is in no Group goes nowhere.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.in_use: set[str] = set()

    def __missing__(self, channel: str) -> BoundedQueue:
        queue = BoundedQueue(self.capacity)
        if channel in self.in_use:
            self[channel] = queue
        return queue

    def __delitem__(self, channel: str) -> None:
        self.pop(channel, None)  # channels-redis deletes what it looked up, which may not have been kept

    def forget(self, channel: str) -> None:
        self.in_use.discard(channel)
        self.pop(channel, None)


class ResilientRedisChannelLayer(PipelinedRedisChannelLayer):
    """A `RedisChannelLayer` whose sockets survive a Redis restart; see the module docstring."""

    def __init__(
        self,
        *args,
        retry_delay_max: float = 2.0,
        pending_send_limit: int = 10_000,
        command_timeout: float = 2.0,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.retry_delay_max = retry_delay_max
        # How long a group command may take. The connections have no socket timeout
        # (the blocking receive must outlive quiet rooms), so a Redis that is hung
        # rather than gone would otherwise hold a disconnect until Daphne kills it.
        self.command_timeout = command_timeout
        # This process's memberships, to rejoin after Redis lost them.
        self._groups_by_channel: dict[str, set[str]] = collections.defaultdict(set)
        # Group sends that failed, oldest first; past the limit the oldest go (catch-up covers them).
        self._pending_sends: collections.deque[tuple[str, dict]] = collections.deque(maxlen=pending_send_limit)
        # Recoveries under way, by the index of the Redis server they wait for.
        self._recoveries: dict[int, asyncio.Task] = {}
        self._restoring: set[int] = set()  # servers that answer again, being rejoined
        self.receive_buffer = ChannelBuffers(self.capacity)

    def create_pool(self, index: int) -> redis.asyncio.ConnectionPool:
        """A pool that waits for a free connection rather than failing.

        redis-py's default pool refuses at once past 100 connections in use
        ("Too many connections"), which a class joining at once reaches.
        """
        host = dict(self.hosts[index])
        if "address" not in host:
            return super().create_pool(index)  # Sentinel and other forms: channels-redis's own pools
        host.setdefault("max_connections", 100)
        host.setdefault("timeout", 20)
        return redis.asyncio.BlockingConnectionPool.from_url(host.pop("address"), **host)

    async def group_add(self, group: str, channel: str) -> None:
        self._groups_by_channel[channel].add(group)
        self.receive_buffer.in_use.add(channel)
        if self.server_unavailable(self.consistent_hash(group)):
            return  # joined when that server is back, with the rest of its Groups
        try:
            async with asyncio.timeout(self.command_timeout):
                await super().group_add(group, channel)
        except REDIS_ERRORS as exc:
            self._start_recovery(self.consistent_hash(group), exc)

    async def group_discard(self, group: str, channel: str) -> None:
        groups = self._groups_by_channel.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._groups_by_channel[channel]
                self.forget_channel(channel)
        if self.server_unavailable(self.consistent_hash(group)):
            return  # Redis drops the stale membership itself after group_expiry
        try:
            async with asyncio.timeout(self.command_timeout):
                await super().group_discard(group, channel)
        except REDIS_ERRORS as exc:
            # Redis drops the stale membership itself after group_expiry.
            self._start_recovery(self.consistent_hash(group), exc)

    def server_unavailable(self, index: int) -> bool:
        # Skipped while waited for, but not by its own recovery once it answers.
        return self._waiting_for(index) and index not in self._restoring

    async def group_send(self, group: str, message: dict) -> None:
        try:
            # Each step is bounded by command_timeout in the pipelined layer, per server.
            await super().group_send(group, message)
        except REDIS_ERRORS as exc:
            self._pending_sends.append((group, message))
            self._start_recovery(self._failed_server(exc, group), exc)

    async def receive(self, channel: str) -> dict:
        self.receive_buffer.in_use.add(channel)
        try:
            while True:
                try:
                    return await super().receive(channel)
                except REDIS_ERRORS as exc:
                    index = self.server_of_channel(channel)
                    self._start_recovery(index, exc)
                    # Shielded: a consumer that goes away must not cancel the recovery the others wait for.
                    await asyncio.shield(self._recoveries[index])
        except asyncio.CancelledError:
            if channel not in self._groups_by_channel:  # its consumer has gone; a hub forgets it on leaving its Group
                self.forget_channel(channel)
            raise

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await super().new_channel(prefix)
        self.receive_buffer.in_use.add(channel)
        return channel

    def forget_channel(self, channel: str) -> None:
        """Nothing will receive on `channel` again: drop what waits for it, and what comes for it later.

        Done by the layer itself when a channel leaves its last Group, or when a
        receive on a channel in no Group is cancelled (its consumer has gone); a
        one-off channel (the readiness check's) is forgotten by its user.
        """
        self.receive_buffer.forget(channel)

    async def _clean_receive_backup(self, index: int, channel: str) -> None:
        # channels-redis runs this as a task nobody awaits, so a lost Redis would
        # surface as "Task exception was never retrieved" with a traceback. If the
        # entry survives, its message may come again; consumers drop doubles.
        with contextlib.suppress(*REDIS_ERRORS):
            await super()._clean_receive_backup(index, channel)

    def _failed_server(self, error: Exception, group: str) -> int:
        """The server a failed group send waits for: the one its error names, else the Group's own."""
        return getattr(error, "redis_server_index", self.consistent_hash(group))

    def server_of_channel(self, channel: str) -> int:
        """The index of the Redis server `channel`'s messages wait on (a process's channels share one)."""
        return self.consistent_hash(self.non_local_name(channel) if "!" in channel else channel)

    @property
    def recovering(self) -> bool:
        """Whether this process is waiting for the server its own channels read from: until then it hears nothing."""
        return self._waiting_for(self.server_of_channel(f"specific.{self.client_prefix}!"))

    def _waiting_for(self, index: int) -> bool:
        recovery = self._recoveries.get(index)
        return recovery is not None and not recovery.done()

    def _server_name(self, index: int) -> str:
        return "Redis" if self.ring_size == 1 else f"Redis server {index + 1} of {self.ring_size}"

    def _start_recovery(self, index: int, error: Exception) -> None:
        if self._waiting_for(index):
            return
        logger.warning(
            "%s is unreachable (%r). Sockets stay open; retrying until it answers.", self._server_name(index), error
        )
        self._recoveries[index] = asyncio.ensure_future(self._recover(index))

    async def _recover(self, index: int) -> None:
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            try:
                rejoined = await self._restore(index)
                break
            except REDIS_ERRORS:
                delay = min(delay * 2, self.retry_delay_max)
        logger.warning("%s answers again: rejoined the groups of %d channels.", self._server_name(index), rejoined)

    async def _restore(self, index: int) -> int:
        """Rejoin the Groups server `index` keeps, send what waits, and tell the channels that depended on it."""
        async with asyncio.timeout(self.command_timeout):
            await self.connection(index).ping()
        self._restoring.add(index)
        try:
            return await self._rejoin(index)
        finally:
            self._restoring.discard(index)

    async def _rejoin(self, index: int) -> int:
        affected = []
        for channel, groups in list(self._groups_by_channel.items()):
            kept_there = [group for group in groups if self.consistent_hash(group) == index]
            for group in kept_there:
                await super().group_add(group, channel)
            if kept_there or self.server_of_channel(channel) == index:
                affected.append(channel)
        await self._send_pending(index)
        await self._announce_recovery(index, affected)
        return len(affected)

    async def _send_pending(self, index: int) -> None:
        """Send the queued group sends, oldest first; one that another server refuses waits for that server."""
        while self._pending_sends:
            group, message = self._pending_sends[0]
            try:
                await super().group_send(group, message)
            except REDIS_ERRORS as exc:
                failed = self._failed_server(exc, group)
                if failed == index:
                    raise
                self._start_recovery(failed, exc)
                return
            self._pending_sends.popleft()

    async def _announce_recovery(self, index: int, channels: list[str]) -> None:
        """Send ``layer.recovered`` to `channels`, as one message through Redis.

        Through Redis rather than into local buffers: a receive() blocked on
        Redis reads only what Redis hands it.
        """
        if not channels:
            return
        group = f"recovered.{self.client_prefix}.{index}"
        for channel in channels:
            await super().group_add(group, channel)
        await super().group_send(group, events.layer_recovered())
        await self.connection(self.consistent_hash(group)).delete(self._group_key(group))


def log_layer_mode() -> None:
    """Say once, at start, whether rooms can span processes."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer):
        logger.warning(
            "Channel layer: in-memory. Fan-out across processes is off: "
            "only sockets on this process hear each other. Set REDIS_URL to use Redis."
        )
    else:
        servers = [describe_server(server) for server in settings.REDIS_SERVERS]
        logger.info(
            "Channel layer: %s on %d Redis server%s: %s. Every process must list the same servers in the same order.",
            type(layer).__name__,
            len(servers),
            "" if len(servers) == 1 else "s",
            ", ".join(servers),
        )


def describe_server(server: dict) -> str:
    """One server of ``REDIS_SERVERS`` for a log line: where it is, without its password."""
    if "address" not in server:
        sentinels = ",".join(f"{host}:{port}" for host, port in server["sentinels"])
        return f"primary {server['master_name']!r} by Sentinel {sentinels}"
    parts = urlsplit(server["address"])
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
