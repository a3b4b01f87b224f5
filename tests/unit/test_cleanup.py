"""Whatever ends a consumer, what its socket held is let go: presence, fan-out membership, address slot, gauge."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from chat import limits, presence
from chat.fanout import local_fanout
from chat.groups import room_group_name
from tests.unit.communicator import connect, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def open_sockets() -> float:
    return REGISTRY.get_sample_value("chat_open_sockets")


async def held_by_nobody(room: str, before: float) -> None:
    assert await presence.store().names(room) == []
    assert local_fanout().members(room_group_name(room)) == 0
    assert limits.connections.open.get("unknown", 0) == 0
    assert open_sockets() == before


async def test_a_consumer_the_server_cancels_still_lets_go_of_everything() -> None:
    # Daphne cancels a consumer that takes too long to finish after its socket closed;
    # disconnect() never runs then.
    before = open_sockets()
    ann = await connect("cancelled", await session_cookie(display_name="Ann"))
    await ann.send_json_to({"type": "ping"})  # answered once connect() has finished
    assert (await ann.receive_json_from())["type"] == "pong"
    assert await presence.store().names("cancelled") == ["Ann"]
    ann.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ann.future
    await held_by_nobody("cancelled", before)


async def test_a_closed_socket_lets_go_of_everything() -> None:
    before = open_sockets()
    ann = await connect("closed", await session_cookie(display_name="Ann"))
    await ann.disconnect()
    await held_by_nobody("closed", before)
