"""The held-names store against a real Redis: one holder per name across processes, even when they race."""

import asyncio
import time
import uuid

import pytest
from pytest_channels_live import RedisServer

from chat import held_names
from chat.held_names import RedisHeldNames


def a_name() -> str:
    return f"zoe-{uuid.uuid4().hex[:8]}"  # each test's own, as the server is shared


async def test_a_name_is_one_guest_s_through_all_their_sockets(redis_server: RedisServer) -> None:
    servers = [{"address": redis_server.url}]
    first, second = RedisHeldNames(servers), RedisHeldNames(servers)  # two processes
    name = a_name()
    assert await first.hold(name, "guest:zoe", "tab-1") is None
    assert await second.hold(name, "guest:zoe", "tab-2") is None, "the same guest on another process"
    assert await second.hold(name, "guest:other", "tab-3") == "guest:zoe"
    assert await second.holders([name, "nobody's"]) == {name: "guest:zoe"}
    await first.release(name, "guest:zoe", "tab-1")
    assert await second.hold(name, "guest:other", "tab-3") == "guest:zoe", "one tab left keeps it"
    await second.release(name, "guest:zoe", "tab-2")
    assert await second.hold(name, "guest:other", "tab-3") is None
    assert await first.holders([name]) == {name: "guest:other"}
    for store in (first, second):
        await store.aclose()


async def test_guests_racing_for_one_name_on_many_processes_get_one_holder(redis_server: RedisServer) -> None:
    stores = [RedisHeldNames([{"address": redis_server.url}]) for _ in range(4)]
    name = a_name()
    answers = await asyncio.gather(
        *(stores[number % 4].hold(name, f"guest:{number}", f"socket-{number}") for number in range(20))
    )
    winners = [number for number, other in enumerate(answers) if other is None]
    assert len(winners) == 1
    assert set(answers) - {None} == {f"guest:{winners[0]}"}
    for store in stores:
        await store.aclose()


async def test_a_hold_nobody_refreshes_ends_after_the_ttl(redis_server: RedisServer, settings) -> None:
    store = RedisHeldNames([{"address": redis_server.url}])
    name = a_name()
    settings.CHAT_PRESENCE_TTL = 0.05
    await store.hold(name, "guest:gone", "socket-1")  # its process killed: never refreshed, never released
    held = time.time()
    while time.time() < held + 0.1:  # until the hold is older than the TTL
        await asyncio.sleep(0.01)
    assert await store.holders([name]) == {}
    assert await store.hold(name, "guest:new", "socket-2") is None
    await store.aclose()


def test_the_lobby_reads_the_holders_without_an_event_loop(redis_server: RedisServer, settings) -> None:
    settings.REDIS_SERVERS = [{"address": redis_server.url}]
    store, name = RedisHeldNames([{"address": redis_server.url}]), a_name()
    assert asyncio.run(store.hold(name, "guest:zoe", "socket-1")) is None
    assert held_names.holder_now(name) == "guest:zoe"
    assert held_names.holder_now(a_name()) is None


@pytest.mark.parametrize("operation", ["hold", "holders", "holder_now"])
def test_without_redis_nobody_holds_anything(operation: str, settings) -> None:
    settings.REDIS_SERVERS = [{"address": "redis://127.0.0.1:9/0"}]  # nothing listens there
    store = RedisHeldNames(settings.REDIS_SERVERS)
    answers = {
        "hold": lambda: asyncio.run(store.hold("zoe", "guest:zoe", "socket-1")),
        "holders": lambda: asyncio.run(store.holders(["zoe"])) or None,
        "holder_now": lambda: held_names.holder_now("zoe"),
    }
    assert answers[operation]() is None
