"""channels-redis's own commands in fewer Redis round trips.

`PipelinedRedisChannelLayer` is channels-redis's `RedisChannelLayer` sending
the same commands and scripts in the same order, pipelined: ``group_add`` in
one round trip instead of two, ``group_send`` in two instead of four, and the
receive step in three instead of four. With several Redis servers it also
sends to a process-specific channel on the server that channel is read from
(see `send`). It changes nothing else; surviving Redis outages is
`chat.layers`'s job.

It copies two Lua scripts and replaces or leans on private methods of
channels-redis, written against the version in `WRITTEN_AGAINST`.
`upstream_changes()` names those that differ in the installed version, and a
test fails on any, so that an upgrade is read before it is trusted.
"""

import asyncio
import hashlib
import inspect
import logging
import time

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

WRITTEN_AGAINST = "4.3.0"

# channels-redis's methods this class replaces (the first four) or whose behaviour it relies
# on, with a digest of their source in WRITTEN_AGAINST.
UPSTREAM_SOURCES = {
    "group_add": "85ed67999d94bb85",
    "group_send": "c9623ea6ccfa7308",
    "send": "1b2ad54990702acb",
    "_brpop_with_clean": "363a120edcef61d5",
    "receive_single": "5a498bb3a2545bf1",
    "_clean_receive_backup": "7142822d70070e39",
    "_map_channel_keys_to_connection": "789f9193b4536625",
    "_group_key": "7e89938e1cb20f26",
    "_backup_channel_name": "3add6e0ef708a9de",
}

# channels-redis's scripts (in group_send and _brpop_with_clean), run here inside pipelines.
GROUP_SEND_SCRIPT = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""
RESTORE_BACKUP_SCRIPT = """
    local backed_up = redis.call('ZRANGE', ARGV[2], 0, -1, 'WITHSCORES')
    for i = #backed_up, 1, -2 do
        redis.call('ZADD', ARGV[1], backed_up[i], backed_up[i - 1])
    end
    redis.call('DEL', ARGV[2])
"""


def source_digest(function: object) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def upstream_changes() -> list[str]:
    """The channels-redis methods in `UPSTREAM_SOURCES` whose installed source differs from the one recorded."""
    return [
        name
        for name, digest in UPSTREAM_SOURCES.items()
        if getattr(RedisChannelLayer, name, None) is None or source_digest(getattr(RedisChannelLayer, name)) != digest
    ]


class PipelinedRedisChannelLayer(RedisChannelLayer):
    """channels-redis's layer, its group and receive commands pipelined; see the module docstring."""

    # How long one server may take over one step of a group send; None waits as channels-redis does.
    command_timeout: float | None = None

    def server_unavailable(self, index: int) -> bool:
        """Whether server `index` is known to be away, so that a delivery skips it rather than waits for it."""
        return False

    def _refuse_if_unavailable(self, index: int) -> None:
        if self.server_unavailable(index):
            error = ConnectionError(f"Redis server {index} is being waited for")
            error.redis_server_index = index
            raise error

    async def group_add(self, group: str, channel: str) -> None:
        """channels-redis's group_add, its two commands sent in one round trip."""
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        key = self._group_key(group)
        async with self.connection(self.consistent_hash(group)).pipeline(transaction=False) as pipe:
            pipe.zadd(key, {channel: time.time()})
            pipe.expire(key, self.group_expiry)
            await pipe.execute()

    async def group_send(self, group: str, message: dict) -> None:
        """channels-redis's group_send, its commands in two round trips instead of four.

        The same commands in the same order: drop expired members and read the
        rest; then, per Redis server, drop expired messages and add this one
        where there is room.
        """
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        index = self.consistent_hash(group)
        self._refuse_if_unavailable(index)
        async with asyncio.timeout(self.command_timeout):
            async with self.connection(index).pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
                pipe.zrange(key, 0, -1)
                _, members = await pipe.execute()
        channels = [member.decode("utf8") for member in members]
        over_capacity = await self._deliver(channels, message)
        if over_capacity:
            logger.info("%s of %s channels over capacity in group %s", over_capacity, len(channels), group)

    async def send(self, channel: str, message: dict) -> None:
        """channels-redis's send, except that a process-specific channel's message goes where it is read.

        channels-redis 4.3 hashes such a channel's full name to pick the server,
        while its receiver reads (and group_send delivers) on the server its
        process part hashes to: with several servers most such messages would
        wait where nothing reads them. Sent the way group_send delivers instead.
        """
        if "!" not in channel or self.ring_size == 1:
            await super().send(channel, message)
            return
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        if await self._deliver([channel], message):
            raise ChannelFull()

    async def _deliver(self, channels: list[str], message: dict) -> int:
        """Add `message` to each channel's queue, one round trip per Redis server; returns how many were full.

        Every server that answers gets its part, whatever another does: one that
        is away, known to be away, or slower than ``command_timeout`` raises
        after the rest, its error naming it (``redis_server_index``) so that a
        layer above can tell which server to wait for.
        """
        keys_by_connection, message_by_key, capacity_by_key = self._map_channel_keys_to_connection(channels, message)
        over_capacity = 0
        failure: Exception | None = None
        for index, keys in keys_by_connection.items():
            now = time.time()
            try:
                self._refuse_if_unavailable(index)
                pipeline = self.connection(index).pipeline(transaction=True)
                async with asyncio.timeout(self.command_timeout), pipeline as pipe:
                    for channel_key in keys:
                        pipe.zremrangebyscore(channel_key, min=0, max=int(now) - int(self.expiry))
                    pipe.eval(
                        GROUP_SEND_SCRIPT,
                        len(keys),
                        *keys,
                        *(message_by_key[channel_key] for channel_key in keys),
                        *(capacity_by_key[channel_key] for channel_key in keys),
                        now,
                        self.expiry,
                    )
                    over_capacity += (await pipe.execute())[-1]
            except Exception as exc:
                exc.redis_server_index = index
                failure = failure or exc
        if failure is not None:
            raise failure
        return over_capacity

    async def _brpop_with_clean(self, index: int, channel: str, timeout: float) -> bytes | None:
        """channels-redis's receive step, its first two commands in one round trip.

        Put back what an interrupted receive left in the backup queue, then
        wait for a message; the message waits in the backup queue until the
        consumer has it.
        """
        backup_queue = self._backup_channel_name(channel)
        connection = self.connection(index)
        async with connection.pipeline(transaction=False) as pipe:
            pipe.eval(RESTORE_BACKUP_SCRIPT, 0, channel, backup_queue)
            pipe.bzpopmin(channel, timeout=timeout)
            _, popped = await pipe.execute()
        if popped is None:
            return None
        _, member, score = popped
        await connection.zadd(backup_queue, {member: float(score)})
        return member
