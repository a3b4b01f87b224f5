"""Whatever ends a consumer, what its socket held is let go.

A room's socket: its presence entry, the heartbeat task refreshing it, its fan-out
membership, its address's socket slot and the open-sockets gauge. A lobby's socket:
its Group membership, the slot and the gauge. Whether the client closes, the server
cancels the consumer (as Daphne does one slow to finish, when `disconnect` never
runs), or the consumer fails.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import DatabaseError, connection
from prometheus_client import REGISTRY

from chat import limits
from chat.cleanup import Cleanup
from chat.groups import LOBBY_GROUP, room_group_name
from chat.process import process_state
from tests.unit.communicator import connect, login_data, session_cookie, socket_as

pytestmark = pytest.mark.django_db(transaction=True)


def open_sockets() -> float:
    return REGISTRY.get_sample_value("chat_open_sockets")


def presence_heartbeats() -> list[asyncio.Task]:
    """The attendance heartbeats still meant to run on this loop (a cancelled one may not have stopped yet)."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__ == "Attendance._stay" and not task.done() and not task.cancelling()
    ]


async def held_by_nobody(room: str, before: float) -> None:
    assert await process_state().presence.names(room) == []
    assert presence_heartbeats() == []
    assert process_state().fanout.members(room_group_name(room)) == 0
    assert limits.connections.open.get("unknown", 0) == 0
    assert open_sockets() == before


def lobby_members() -> int:
    return len(get_channel_layer().groups.get(LOBBY_GROUP, {}))


async def test_a_consumer_the_server_cancels_still_lets_go_of_everything() -> None:
    # Daphne cancels a consumer that takes too long to finish after its socket closed;
    # disconnect() never runs then.
    before = open_sockets()
    ann = await connect("cancelled", await session_cookie(display_name="Ann"))
    await ann.send_json_to({"type": "ping"})  # answered once connect() has finished
    assert (await ann.receive_json_from())["type"] == "pong"
    assert await process_state().presence.names("cancelled") == ["Ann"]
    assert len(presence_heartbeats()) == 1
    ann.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ann.future
    await held_by_nobody("cancelled", before)


@database_sync_to_async
def refuse_deletions(refused: bool) -> None:
    """Make the database fail (or stop failing) every change to a stored message, a (soft) deletion too.

    A fault no consumer expects.
    """
    with connection.cursor() as cursor:
        if refused:
            cursor.execute(
                "CREATE TRIGGER refuse_deletions BEFORE UPDATE ON chat_message "
                "BEGIN SELECT RAISE(ABORT, 'disk is failing'); END"
            )
        else:
            cursor.execute("DROP TRIGGER refuse_deletions")


@database_sync_to_async
def staff_login() -> dict[str, str]:
    return login_data(User.objects.create_user("mod", password="pw-for-tests-only", is_staff=True))


async def test_a_consumer_that_fails_still_lets_go_of_everything() -> None:
    before = open_sockets()
    moderator = await connect("failing", await session_cookie(**await staff_login()))
    await moderator.send_json_to({"message": "rude"})
    assert (await moderator.receive_json_from())["id"] == 1
    assert len(presence_heartbeats()) == 1
    await refuse_deletions(True)
    try:
        await moderator.send_json_to({"type": "delete", "id": 1})
        with pytest.raises(DatabaseError):
            await moderator.future
    finally:
        await refuse_deletions(False)
    await held_by_nobody("failing", before)


async def test_a_cancelled_lobby_socket_lets_go_of_everything() -> None:
    before = open_sockets()
    lobby = await socket_as("Zoe", "/ws/lobby/", WebsocketCommunicator)
    assert (await lobby.receive_json_from())["type"] == "directory"
    assert (lobby_members(), limits.connections.open["unknown"], open_sockets()) == (1, 1, before + 1)
    lobby.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await lobby.future
    assert (lobby_members(), limits.connections.open.get("unknown", 0), open_sockets()) == (0, 0, before)


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
