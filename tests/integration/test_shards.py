"""The channel layer and this project's own keys on two Redis servers (shards), one stopped and started at will."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from pytest_channels_live import RedisServer

from chat.events import LAYER_RECOVERED
from chat.groups import room_group_name
from chat.layers import ResilientRedisChannelLayer
from chat.presence import RedisPresence
from chat.redis_servers import server_index


@pytest.fixture
def shards(tmp_path: Path) -> Iterator[list[RedisServer]]:
    servers = [RedisServer(tmp_path / f"shard-{index}") for index in range(2)]
    for server in servers:
        server.workdir.mkdir()
        server.start()
    yield servers
    for server in servers:
        server.stop()


def new_layer(shards: list[RedisServer]) -> ResilientRedisChannelLayer:
    return ResilientRedisChannelLayer(
        hosts=[{"address": server.url, "socket_timeout": None, "socket_connect_timeout": 2} for server in shards]
    )


def group_on(index: int, prefix: str) -> str:
    """A Group name that channels-redis keeps on server `index` of two."""
    return next(f"{prefix}-{n}" for n in range(100) if server_index(f"{prefix}-{n}", 2) == index)


async def test_a_process_channel_hears_a_direct_send_whichever_server_keeps_it(shards: list[RedisServer]) -> None:
    layer = new_layer(shards)
    # A channel whose full name hashes to another server than its process part, where it is read.
    for _ in range(100):
        channel = await layer.new_channel()
        if layer.consistent_hash(channel) != layer.server_of_channel(channel):
            break
    await layer.send(channel, {"type": "health.ping"})
    async with asyncio.timeout(5):
        assert (await layer.receive(channel))["type"] == "health.ping"
    await layer.flush()


async def test_groups_and_presence_of_a_room_live_on_one_server_and_rooms_on_both(shards: list[RedisServer]) -> None:
    layer = new_layer(shards)
    presence = RedisPresence([{"address": server.url} for server in shards])
    channel = await layer.new_channel()
    rooms = [f"physics-{n}" for n in range(12)]
    for room in rooms:
        await layer.group_add(room_group_name(room), channel)
        await presence.touch(room, "socket-1", "Ann")
    clients = [redis.Redis.from_url(server.url) for server in shards]
    for room in rooms:
        kept_by = server_index(room_group_name(room), 2)
        for index, client in enumerate(clients):
            holds_room = index == kept_by
            assert client.exists(layer._group_key(room_group_name(room))) == holds_room
            assert client.exists(presence.key(room)) == holds_room
    assert {server_index(room_group_name(room), 2) for room in rooms} == {0, 1}
    assert await presence.rooms() == sorted(rooms)
    await presence.aclose()
    await layer.flush()


async def test_a_stopped_server_leaves_the_rooms_of_the_other_alone(shards: list[RedisServer]) -> None:
    # A process whose channels read from server 1; server 0 goes away and comes back.
    layer = new_layer(shards)
    while layer.server_of_channel(await layer.new_channel()) != 1:
        layer = new_layer(shards)
    in_both, in_one = await layer.new_channel(), await layer.new_channel()
    lost, kept = group_on(0, "lost"), group_on(1, "kept")
    for group, channel in [(lost, in_both), (kept, in_both), (kept, in_one)]:
        await layer.group_add(group, channel)

    shards[0].stop()
    await layer.group_send(lost, {"type": "chat.message", "id": 1})  # queued, not raised
    await layer.group_send(kept, {"type": "chat.message", "id": 2})
    async with asyncio.timeout(5):
        assert (await layer.receive(in_one))["id"] == 2, "the other server's room goes on"
        assert (await layer.receive(in_both))["id"] == 2
    assert not layer.recovering, "this process still hears its own server"

    await asyncio.to_thread(shards[0].start)  # a fresh server: it has forgotten the lost room's Group
    async with asyncio.timeout(10):
        heard = [await layer.receive(in_both), await layer.receive(in_both)]
    assert sorted(message["type"] for message in heard) == ["chat.message", LAYER_RECOVERED]
    await layer.group_send(lost, {"type": "chat.message", "id": 3})
    await layer.group_send(kept, {"type": "chat.message", "id": 4})
    async with asyncio.timeout(5):
        assert (await layer.receive(in_both))["id"] == 3, "the lost room's Group was rejoined"
        assert (await layer.receive(in_one))["id"] == 4, (
            "nothing to catch up for a channel that needed nothing of server 0"
        )
    await layer.flush()


@pytest.mark.parametrize("outage", ["stopped", "hung"])
async def test_a_room_s_members_on_a_server_that_answers_hear_it_while_another_is_away(
    shards: list[RedisServer], outage: str
) -> None:
    # Two processes: one reading from server 0, which goes away, one from server 1.
    layers = {}
    while len(layers) < 2:
        layer = new_layer(shards)
        layer.command_timeout = 0.5
        layers.setdefault(layer.server_of_channel(await layer.new_channel()), layer)
    deaf, hearing = layers[0], layers[1]
    room = group_on(1, "kept")
    deaf_channel, hearing_channel = await deaf.new_channel(), await hearing.new_channel()
    await deaf.group_add(room, deaf_channel)  # first in the Group: its queue is written to first
    await hearing.group_add(room, hearing_channel)

    if outage == "stopped":
        shards[0].stop()
    else:
        shards[0].pause()
    for number in (1, 2):
        await hearing.group_send(room, {"type": "chat.message", "id": number})
        async with asyncio.timeout(5):
            assert (await hearing.receive(hearing_channel))["id"] == number
    assert hearing._waiting_for(0), "the server that failed is the one waited for"
    assert not hearing._waiting_for(1)
    assert not hearing.recovering, "the process whose own server answers is ready"
    # Rooms kept on the server waited for are not asked of it again until it is back.
    hearing.command_timeout = 60
    lost = group_on(0, "lost")
    async with asyncio.timeout(5):
        await hearing.group_add(lost, hearing_channel)
        await hearing.group_send(lost, {"type": "chat.message", "id": 3})
    if outage == "hung":
        shards[0].resume()
    else:
        await asyncio.to_thread(shards[0].start)
    async with asyncio.timeout(10):
        while hearing._waiting_for(0):
            await asyncio.sleep(0.05)
    await hearing.flush()
    await deaf.flush()
