"""The presence store against a real Redis: correct under many writes at once, few round trips for them,
and entries that last as long as the expiry says across processes."""

import asyncio
import time

import pytest
import redis
import websocket
from pytest_channels_live import DaphneCluster, RedisServer

from chat import services
from chat.presence import RedisPresence
from tests.conftest import server_environment
from tests.wsclient import ChatClient


async def test_a_class_joining_at_once_is_written_in_one_batch(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisPresence([{"address": redis_server.url}])
    batches: list[int] = []
    server = store.servers[0]
    send = server._send

    async def counted(batch: list) -> dict[str, int]:
        batches.append(len(batch))
        return await send(batch)

    monkeypatch.setattr(server, "_send", counted)
    room = f"maths-{id(store)}"
    await asyncio.gather(*(store.touch(room, f"socket-{n}", f"pupil-{n % 10}") for n in range(50)))
    assert batches == [50], "the writes made together went to Redis together"
    assert await store.names(room) == sorted(f"pupil-{n}" for n in range(10))
    await asyncio.gather(*(store.remove(room, f"socket-{n}", f"pupil-{n % 10}") for n in range(45)))
    assert await store.names(room) == sorted(f"pupil-{n}" for n in range(5, 10))
    await store.aclose()


async def test_expired_entries_are_dropped_and_counted(redis_server: RedisServer, settings) -> None:
    store = RedisPresence([{"address": redis_server.url}])
    room = f"physics-{id(store)}"
    settings.CHAT_PRESENCE_TTL = 60
    await store.touch(room, "old-socket", "ann")
    written = time.time()
    settings.CHAT_PRESENCE_TTL = 0.01
    while time.time() < written + 0.05:  # until ann's entry is older than the TTL
        await asyncio.sleep(0.01)
    assert await store.touch(room, "new-socket", "bob") == 1
    settings.CHAT_PRESENCE_TTL = 60
    assert await store.names(room) == ["bob"]
    await store.aclose()


async def test_entries_keep_their_kind_and_those_from_before_kinds_still_read(redis_server: RedisServer) -> None:
    store = RedisPresence([{"address": redis_server.url}])
    room = f"biology-{id(store)}"
    # An entry a process of the version before kinds wrote: its socket id, a line break, its name.
    await store.servers[0].redis.zadd(store.key(room), {"old-socket\nCy": time.time()})
    await store.touch(room, "socket-1", "ann", kind="account")
    await store.touch(room, "socket-2", "ann", kind="account")  # her second tab
    await store.touch(room, "socket-3", "ann", kind="guest")  # a guest of her name, from before the name rules
    await store.touch(room, "socket-4", "teacher", kind="staff")
    assert await store.people(room) == [("Cy", "guest"), ("ann", "account"), ("ann", "guest"), ("teacher", "staff")]
    assert await store.names(room) == ["Cy", "ann", "teacher"]
    # A process of the version before reads a name as all after the first line break: still right.
    members = await store.servers[0].redis.zrange(store.key(room), 0, -1)
    assert sorted({member.decode().split("\n", 1)[1] for member in members}) == ["Cy", "ann", "teacher"]
    await store.remove(room, "socket-3", "ann", kind="guest")
    assert await store.people(room) == [("Cy", "guest"), ("ann", "account"), ("teacher", "staff")]
    await store.aclose()


@pytest.mark.server_databases("postgres")  # presence lives in Redis, whatever the database
def test_an_entry_nobody_refreshes_goes_after_the_ttl_and_live_ones_stay(
    cluster: DaphneCluster, redis_server: RedisServer, room_name: str
) -> None:
    environment = server_environment("")
    ttl, heartbeat = float(environment["CHAT_PRESENCE_TTL"]), float(environment["CHAT_PRESENCE_HEARTBEAT"])
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        for client, text in ((ann, "ann here"), (bob, "bob here")):
            client.send(text)
        live = {ann.receive_message("ann here")["author"], bob.receive_message("bob here")["author"]}
        # The entry of a socket whose process died this moment: its id, a line break, its name.
        written = time.time()
        redis.Redis.from_url(redis_server.url).zadd(RedisPresence.key(room_name), {"ghost-socket\nGhost": written})
        with ChatClient(cluster[0], room_name) as cy:  # his arrival tells the room, the ghost included
            cy.send("cy here")
            live.add(cy.receive_message("cy here")["author"])
            lists = [ann.receive_ambient("presence")["users"]]
            while "Ghost" not in lists[-1]:
                lists = [ann.receive_ambient("presence")["users"]]  # from before Cy came
            # Some process's heartbeat drops the ghost within a beat of its expiry and tells the
            # room once the burst of changes is over; 1.5 s of slack on top for a slow machine.
            deadline = written + ttl + heartbeat + services.PRESENCE_COALESCE_SECONDS + 1.5
            try:
                while "Ghost" in lists[-1]:
                    lists.append(ann.receive_ambient("presence", timeout=deadline - time.time())["users"])
            except websocket.WebSocketTimeoutException:
                pytest.fail(f"the ghost was still listed {deadline - written:.2f} s after it was last seen: {lists}")
            assert time.time() > written + ttl, "the ghost went before its time was up"
            # Ann's and Bob's entries are older than the ghost's: only their heartbeats kept them.
            assert set(lists[-1]) == live
            assert all(live <= set(users) for users in lists), lists
