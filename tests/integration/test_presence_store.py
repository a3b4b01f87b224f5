"""The presence store against a real Redis: correct under many writes at once, and few round trips for them."""

import asyncio
import time

import pytest

from chat.presence import RedisPresence
from tests.servers import RedisServer


async def test_a_class_joining_at_once_is_written_in_one_batch(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisPresence(redis_server.url)
    batches: list[int] = []
    send = store._send

    async def counted(batch: list) -> dict[str, int]:
        batches.append(len(batch))
        return await send(batch)

    monkeypatch.setattr(store, "_send", counted)
    room = f"maths-{id(store)}"
    await asyncio.gather(*(store.touch(room, f"socket-{n}", f"pupil-{n % 10}") for n in range(50)))
    assert batches == [50], "the writes made together went to Redis together"
    assert await store.names(room) == sorted(f"pupil-{n}" for n in range(10))
    await asyncio.gather(*(store.remove(room, f"socket-{n}", f"pupil-{n % 10}") for n in range(45)))
    assert await store.names(room) == sorted(f"pupil-{n}" for n in range(5, 10))
    await store.redis.aclose()


async def test_expired_entries_are_dropped_and_counted(redis_server: RedisServer, settings) -> None:
    store = RedisPresence(redis_server.url)
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
    await store.redis.aclose()
