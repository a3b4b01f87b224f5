"""Whatever ends a consumer, what its socket held is let go: presence, fan-out membership, address slot, gauge."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from chat import limits
from chat.cleanup import Cleanup
from chat.groups import room_group_name
from chat.process import process_state
from tests.unit.communicator import connect, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def open_sockets() -> float:
    return REGISTRY.get_sample_value("chat_open_sockets")


async def held_by_nobody(room: str, before: float) -> None:
    assert await process_state().presence.names(room) == []
    assert process_state().fanout.members(room_group_name(room)) == 0
    assert limits.connections.open.get("unknown", 0) == 0
    assert open_sockets() == before


async def test_a_consumer_the_server_cancels_still_lets_go_of_everything() -> None:
    # Daphne cancels a consumer that takes too long to finish after its socket closed;
    # disconnect() never runs then.
    before = open_sockets()
    ann = await connect("cancelled", await session_cookie(display_name="Ann"))
    await ann.send_json_to({"type": "ping"})  # answered once connect() has finished
    assert (await ann.receive_json_from())["type"] == "pong"
    assert await process_state().presence.names("cancelled") == ["Ann"]
    ann.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ann.future
    await held_by_nobody("cancelled", before)


async def test_a_closed_socket_lets_go_of_everything() -> None:
    before = open_sockets()
    ann = await connect("closed", await session_cookie(display_name="Ann"))
    await ann.disconnect()
    await held_by_nobody("closed", before)


async def test_clean_up_runs_every_release_once_newest_first_whatever_one_of_them_does(caplog) -> None:
    ran: list[str] = []

    async def cancelled() -> None:
        ran.append("cancelled")
        raise asyncio.CancelledError

    def failing() -> None:
        ran.append("failing")
        raise RuntimeError("a fault of the server's")

    cleanup = Cleanup()
    cleanup.add(lambda: ran.append("first"))
    cleanup.add(cancelled)
    cleanup.add(failing)
    cleanup.add(lambda: ran.append("last"))
    with pytest.raises(asyncio.CancelledError):
        await cleanup.run()
    await cleanup.run()  # a second call (disconnect, then the consumer's end) lets go of nothing twice
    assert ran == ["last", "failing", "cancelled", "first"]
    assert "a fault of the server's" in caplog.text
