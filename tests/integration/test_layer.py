"""`ResilientRedisChannelLayer` against a redis-server of its own, stopped and started at will."""

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from pytest_channels_live import RedisServer, free_port

from chat.events import LAYER_RECOVERED
from chat.layers import ResilientRedisChannelLayer


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def new_layer(url: str) -> ResilientRedisChannelLayer:
    return ResilientRedisChannelLayer(hosts=[{"address": url, "socket_timeout": None, "socket_connect_timeout": 2}])


async def test_group_send_during_an_outage_is_queued_and_delivered_after(private_redis: RedisServer) -> None:
    layer = new_layer(private_redis.url)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)

    private_redis.stop()
    await layer.group_send("room", {"type": "chat.message", "id": 1})  # must not raise
    assert layer.recovering
    failed_reads: list[Exception] = []
    read = layer._brpop_with_clean

    async def counted_read(*args: object, **kwargs: object) -> bytes | None:
        try:
            return await read(*args, **kwargs)
        except Exception as exc:
            failed_reads.append(exc)
            raise

    layer._brpop_with_clean = counted_read
    receiving = asyncio.ensure_future(layer.receive(channel))
    async with asyncio.timeout(5):
        while not failed_reads:  # until receive has met the outage
            await asyncio.sleep(0.01)
    assert not receiving.done(), "receive must wait for Redis, not fail"

    await asyncio.to_thread(private_redis.start)  # a fresh Redis: it has forgotten the group
    async with asyncio.timeout(10):
        first = await receiving
        second = await layer.receive(channel)
    assert {first["type"], second["type"]} == {"chat.message", LAYER_RECOVERED}
    assert not layer.recovering

    # The membership was restored in the new Redis: live sends reach the channel again.
    await layer.group_send("room", {"type": "chat.message", "id": 2})
    async with asyncio.timeout(5):
        assert (await layer.receive(channel))["id"] == 2
    await layer.flush()


async def test_group_changes_during_an_outage_do_not_raise(private_redis: RedisServer) -> None:
    layer = new_layer(private_redis.url)
    channel = await layer.new_channel()
    private_redis.stop()
    await layer.group_add("room", channel)
    await layer.group_discard("room", channel)
    await layer.group_add("other", channel)
    await asyncio.to_thread(private_redis.start)
    async with asyncio.timeout(10):
        assert (await layer.receive(channel))["type"] == LAYER_RECOVERED
    await layer.group_send("other", {"type": "chat.message", "id": 1})
    async with asyncio.timeout(5):
        assert (await layer.receive(channel))["id"] == 1


async def test_cleaning_a_receive_backup_on_a_dead_redis_does_not_raise() -> None:
    layer = new_layer(f"redis://127.0.0.1:{free_port()}/0")
    await layer._clean_receive_backup(0, "asgi:specific.x!")


async def test_a_burst_wider_than_the_connection_pool_waits_instead_of_failing(private_redis: RedisServer) -> None:
    # redis-py's default pool refuses at once ("Too many connections") past its size.
    layer = ResilientRedisChannelLayer(
        hosts=[{"address": private_redis.url, "socket_timeout": None, "max_connections": 2}]
    )
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await asyncio.gather(*(layer.group_send("room", {"type": "chat.message", "id": n}) for n in range(30)))
    assert not layer.recovering, "a full pool is not an outage"
    async with asyncio.timeout(10):
        received = {(await layer.receive(channel))["id"] for _ in range(30)}
    assert received == set(range(30))
    await layer.flush()


class CountingConnection(redis.asyncio.Connection):
    """A real connection that counts its round trips (one per command or pipeline sent)."""

    round_trips = 0

    async def send_packed_command(self, *args, **kwargs) -> None:
        CountingConnection.round_trips += 1
        await super().send_packed_command(*args, **kwargs)


async def test_a_group_send_takes_two_round_trips_and_reaches_every_member(private_redis: RedisServer) -> None:
    # channels-redis's own group_send takes four: the same commands, sent one by one.
    layer = ResilientRedisChannelLayer(
        hosts=[{"address": private_redis.url, "socket_timeout": None, "connection_class": CountingConnection}]
    )
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("room", channel)
    CountingConnection.round_trips = 0
    await layer.group_send("room", {"type": "chat.message", "id": 1})
    assert CountingConnection.round_trips == 2
    async with asyncio.timeout(5):
        for channel in channels:
            assert (await layer.receive(channel))["id"] == 1
    await layer.flush()


async def test_a_full_channel_drops_group_messages_and_says_so(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    layer = ResilientRedisChannelLayer(hosts=[{"address": private_redis.url, "socket_timeout": None}], capacity=2)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    for number in range(3):
        await layer.group_send("room", {"type": "chat.message", "id": number})
    assert "1 of 1 channels over capacity in group room" in caplog.text
    async with asyncio.timeout(5):
        assert [(await layer.receive(channel))["id"] for _ in range(2)] == [0, 1]
    await layer.flush()


async def test_a_message_an_interrupted_receive_left_behind_comes_with_the_next(private_redis: RedisServer) -> None:
    layer = new_layer(private_redis.url)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "chat.message", "id": 1})
    # Where a receive cancelled after its pop leaves the message: in the channel's backup queue.
    queue = layer.prefix + layer.non_local_name(channel)
    client = redis.Redis.from_url(private_redis.url)
    [(message, score)] = client.zpopmin(queue)
    client.zadd(layer._backup_channel_name(queue), {message: score})
    async with asyncio.timeout(5):
        assert (await layer.receive(channel))["id"] == 1
    client.close()
    await layer.flush()


async def test_a_message_for_a_channel_that_left_its_group_is_not_kept(private_redis: RedisServer) -> None:
    """A hub leaves its room while an event is on its way to it; the next receive must not keep that event forever."""
    layer = new_layer(private_redis.url)
    gone, staying = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room-left", gone)
    await layer.group_add("room-kept", staying)
    await layer.group_send("room-left", {"type": "chat.message", "id": 1})
    await layer.group_discard("room-left", gone)
    await layer.group_send("room-kept", {"type": "chat.message", "id": 2})
    assert (await layer.receive(staying))["id"] == 2
    assert gone not in layer.receive_buffer, "nothing will ever receive it"
    assert list(layer.receive_buffer) == []
    await layer.flush()
