"""One socket, or one address, that sends or connects faster than it may: cut off, with a reason, at little cost."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from prometheus_client import REGISTRY

from chat import limits, protocol, selectors, services
from mysite.asgi import application
from tests.unit.communicator import AMBIENT, HOST, ORIGIN, ChatCommunicator, connect, socket_as

pytestmark = pytest.mark.django_db(transaction=True)

# A rate this slow gives nothing back while a test runs: the counts below are exact.
NEVER_REFILLS = 0.0001


async def frames_until_close(socket: WebsocketCommunicator) -> tuple[list[dict], int]:
    """Every frame the server sends up to its close (but presence and typing), and the close code."""
    frames = []
    while (output := await socket.receive_output())["type"] == "websocket.send":
        frame = json.loads(output["text"])
        if frame["type"] not in AMBIENT:
            frames.append(frame)
    return frames, output["code"]


def answers_left(socket: WebsocketCommunicator) -> list[dict]:
    """What the server sent that was not read yet, but presence and typing (which the room may send any time)."""
    left = []
    while not socket.output_queue.empty():
        output = socket.output_queue.get_nowait()
        if output["type"] != "websocket.send" or json.loads(output["text"])["type"] not in AMBIENT:
            left.append(output)
    return left


def open_sockets() -> float:
    return REGISTRY.get_sample_value("chat_open_sockets")


@override_settings(CHAT_RATE_LIMIT=NEVER_REFILLS, CHAT_RATE_BURST=3)
async def test_a_socket_that_keeps_sending_after_rate_limited_is_closed_as_a_flooder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = open_sockets()
    flooder = await connect()
    for _ in range(100):
        await flooder.send_to(text_data="{}")
    frames, code = await frames_until_close(flooder)
    # The burst is read (and refused as incomplete), twice the burst is told to wait, then the socket is cut off.
    assert [frame.get("code") for frame in frames] == ["missing_field"] * 3 + ["rate_limited"] * 6 + ["flooding"]
    assert code == protocol.CLOSE_POLICY_VIOLATION
    # Until the client has gone, what it still sends is dropped: the consumer handles messages in order,
    # so once it has ended after the disconnect, it had taken the 90 frames after the close and answered none.
    await flooder.disconnect()
    assert answers_left(flooder) == []
    assert limits.connections.open.get("unknown", 0) == 0
    assert open_sockets() == before
    assert "Closed a socket from unknown: flooding" in caplog.text
    assert "Traceback" not in caplog.text


@override_settings(CHAT_RATE_LIMIT=NEVER_REFILLS, CHAT_RATE_BURST=3)
async def test_a_flood_waiting_for_the_consumer_is_cut_off_in_one_turn_of_the_event_loop() -> None:
    """As Daphne hands frames over: thousands in one turn of the loop, when a flood fills its reads.

    Channels' own loop takes one message a turn or two, so a flood outgrew the queue before the
    consumer got to close it; frames that need no database must all be taken at once.
    """
    flooder = await connect()
    await flooder.send_json_to({"type": "ping"})  # answered once connect() has finished
    assert await flooder.receive_json_from() == {"type": "pong"}
    for _ in range(40):
        await flooder.send_to(text_data="{}")
    next_turn = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(lambda: next_turn.set_result(flooder.output_queue.qsize()))
    # Three answers, six refusals, the flooding error and the close, at least, before the loop turned once.
    assert await next_turn >= 11
    assert (await frames_until_close(flooder))[1] == protocol.CLOSE_POLICY_VIOLATION
    await flooder.disconnect()


@override_settings(CHAT_RATE_LIMIT=NEVER_REFILLS, CHAT_RATE_BURST=3, CHAT_HANDSHAKE_RATE=NEVER_REFILLS)
async def test_an_address_whose_socket_was_cut_off_for_flooding_waits_before_its_next() -> None:
    others_socket = await connect()  # open before: not touched
    flooder = await connect()
    for _ in range(10):
        await flooder.send_to(text_data="{}")
    assert (await frames_until_close(flooder))[1] == protocol.CLOSE_POLICY_VIOLATION
    again = ChatCommunicator(application, "/ws/chat/lobby/", headers=[ORIGIN, HOST])
    assert (await again.connect())[0]
    assert (await again.receive_json_from())["code"] == protocol.TOO_MANY_HANDSHAKES
    await others_socket.send_json_to({"message": "still here"})
    assert (await others_socket.receive_json_from())["message"] == "still here"
    for socket in (flooder, again, others_socket):
        await socket.disconnect()


@override_settings(CHAT_RATE_LIMIT=NEVER_REFILLS, CHAT_RATE_BURST=3)
async def test_a_burst_refused_within_its_budget_leaves_the_socket_open() -> None:
    sender = await connect()
    for number in range(9):  # the burst, and twice the burst refused: not yet a flood
        await sender.send_json_to({"message": f"m{number}", "client_id": f"c{number}"})
    frames = [await sender.receive_json_from() for _ in range(9 + 3)]  # and three acks
    assert [f["code"] for f in frames if f["type"] == "error"] == ["rate_limited"] * 6
    assert not sender.future.done()
    await sender.disconnect()


async def lobby_socket() -> WebsocketCommunicator:
    lobby = WebsocketCommunicator(application, "/ws/lobby/", headers=[ORIGIN, HOST])
    connected, _ = await lobby.connect()
    assert connected
    return lobby


@override_settings(CHAT_MAX_CONNECTIONS_PER_IP=3)
async def test_lobby_sockets_count_towards_the_address_limit() -> None:
    room = await connect()
    lobbies = [await lobby_socket(), await lobby_socket()]
    for lobby in lobbies:
        assert (await lobby.receive_json_from())["type"] == "directory"
    refused = await lobby_socket()
    assert (await refused.receive_json_from())["code"] == protocol.TOO_MANY_CONNECTIONS
    assert (await refused.receive_output())["code"] == protocol.CLOSE_TOO_MANY_CONNECTIONS
    await lobbies.pop().disconnect()
    lobbies.append(await lobby_socket())  # a closed lobby socket frees its place
    assert (await lobbies[-1].receive_json_from())["type"] == "directory"
    for socket in [room, *lobbies]:
        await socket.disconnect()
    assert limits.connections.open.get("unknown", 0) == 0


@pytest.mark.parametrize("frame", ['{"message": "hi"}', "{}", "not json", '{"type": "ping"}' * 2, '{"type": "typing"}'])
async def test_a_lobby_socket_that_sends_anything_but_its_heartbeat_is_closed(frame: str) -> None:
    lobby = await lobby_socket()
    assert (await lobby.receive_json_from())["type"] == "directory"
    await lobby.send_to(text_data=frame)
    assert (await lobby.receive_json_from())["code"] == protocol.UNKNOWN_TYPE
    assert await lobby.receive_output() == {"type": "websocket.close", "code": protocol.CLOSE_POLICY_VIOLATION}
    await lobby.send_to(text_data=frame)
    await lobby.disconnect()
    assert answers_left(lobby) == []  # what came after the close was dropped unanswered
    assert limits.connections.open.get("unknown", 0) == 0


async def test_a_lobby_socket_pinging_past_its_allowance_is_closed() -> None:
    lobby = await lobby_socket()
    assert (await lobby.receive_json_from())["type"] == "directory"
    for _ in range(20):
        await lobby.send_json_to({"type": "ping"})
    frames, code = await frames_until_close(lobby)
    # The allowance's three at once, and one more for each second the test took: far from twenty.
    assert frames[-1]["code"] == protocol.FLOODING
    assert {frame["type"] for frame in frames[:-1]} == {"pong"}
    assert len(frames) - 1 < 20
    assert code == protocol.CLOSE_POLICY_VIOLATION


async def test_the_lobby_heartbeat_keeps_its_socket_open() -> None:
    lobby = await socket_as("Zoe", "/ws/lobby/", WebsocketCommunicator)
    assert (await lobby.receive_json_from())["type"] == "directory"
    for _ in range(limits.PING_BURST):
        await lobby.send_json_to({"type": "ping"})
        assert await lobby.receive_json_from() == {"type": "pong"}
    await services.apublish_presence("physics")  # the lobby still hears of the rooms
    assert (await lobby.receive_json_from())["type"] == "room.update"
    await lobby.disconnect()


@override_settings(CHAT_HANDSHAKE_RATE=NEVER_REFILLS, CHAT_HANDSHAKE_BURST=3)
async def test_an_address_opening_sockets_faster_than_the_handshake_limit_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sockets = [await connect(), await lobby_socket()]
    no_room = ChatCommunicator(application, "/ws/chat/no%20room/", headers=[ORIGIN, HOST])  # refused sockets count too
    assert (await no_room.connect())[0]
    assert (await no_room.receive_json_from())["code"] == protocol.INVALID_ROOM
    for socket in [*sockets, no_room]:
        await socket.disconnect()  # closing gives no handshake back: it is a rate, not a count
    refused = ChatCommunicator(application, "/ws/lobby/", headers=[ORIGIN, HOST])
    assert (await refused.connect())[0]  # the first refused is told why
    frame = await refused.receive_json_from()
    assert frame["code"] == protocol.TOO_MANY_HANDSHAKES
    assert frame["retry_after"] > 0
    assert "wait" in frame["detail"]
    assert (await refused.receive_output())["code"] == protocol.CLOSE_TOO_MANY_HANDSHAKES
    for path in ("/ws/chat/lobby/", "/ws/lobby/", "/ws/nowhere/"):  # the rest of the run: refused before opening
        assert await ChatCommunicator(application, path, headers=[ORIGIN, HOST]).connect() == (False, 1000)
    assert caplog.text.count("faster than the handshake limit") == 1  # one line for the run of refusals
    assert limits.connections.open.get("unknown", 0) == 0


@override_settings(CHAT_HANDSHAKE_RATE=0)
async def test_a_handshake_rate_of_zero_switches_the_limit_off() -> None:
    for _ in range(150):
        socket = await connect()
        await socket.disconnect()


@database_sync_to_async
def long_room(name: str, messages: int) -> None:
    room = selectors.get_or_create_room(name)
    for number in range(messages):
        services.save_message(room, "ann", f"m{number}")


@override_settings(CHAT_HANDSHAKE_RATE=NEVER_REFILLS, CHAT_HANDSHAKE_BURST=6, CHAT_HISTORY_LENGTH=2)
async def test_a_catch_up_longer_than_the_history_counts_as_more_handshakes() -> None:
    await long_room("long", 10)
    again = await connect("long", query="?after=0")  # 10 messages: this handshake and (10 - 2) / 2 more
    assert [(await again.receive_json_from())["id"] for _ in range(10)] == list(range(1, 11))
    await again.disconnect()
    plain = await connect("long")  # the recent two: one handshake, the last the address has
    await plain.disconnect()
    refused = ChatCommunicator(application, "/ws/chat/long/?after=0", headers=[ORIGIN, HOST])
    await refused.connect()
    assert (await refused.receive_json_from())["code"] == protocol.TOO_MANY_HANDSHAKES
    await refused.disconnect()


@override_settings(CHAT_HANDSHAKE_RATE=NEVER_REFILLS, CHAT_HANDSHAKE_BURST=6, CHAT_HISTORY_LENGTH=2)
async def test_catch_ups_asked_at_once_go_out_only_while_the_address_has_handshakes_left() -> None:
    await long_room("together", 10)
    sockets = [ChatCommunicator(application, "/ws/chat/together/?after=0", headers=[ORIGIN, HOST]) for _ in range(3)]
    accepted = await asyncio.gather(*(socket.connect() for socket in sockets))
    # The first catch-up reserves the address's budget and more, so the others find none left:
    # refused with too_many_handshakes, or (if they shook hands after it) refused before they open.
    firsts = [
        (await socket.receive_json_from()).get("code", "chat.message") if opened else "not opened"
        for socket, (opened, _) in zip(sockets, accepted, strict=True)
    ]
    assert firsts.count("chat.message") == 1, firsts
    assert set(firsts) - {"chat.message"} <= {protocol.TOO_MANY_HANDSHAKES, "not opened"}, firsts
    for socket in sockets:
        await socket.disconnect()


@override_settings(CHAT_HANDSHAKE_RATE=NEVER_REFILLS, CHAT_HANDSHAKE_BURST=3)
async def test_handshakes_are_counted_per_address() -> None:
    for number in range(6):
        socket = WebsocketCommunicator(application, "/ws/lobby/", headers=[ORIGIN, HOST])
        socket.scope["client"] = [f"10.0.0.{number % 2}", 50000]
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "directory"
        await socket.disconnect()
    assert set(limits.handshakes.buckets) == {"10.0.0.0", "10.0.0.1"}
