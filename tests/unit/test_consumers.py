"""The consumer through `channels.testing.ChatCommunicator`, on the in-memory layer."""

import asyncio
import json
from urllib.parse import quote

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from chat import selectors, services
from chat.groups import room_group_name
from chat.models import Message
from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, ChatCommunicator, connect, fence, login_data, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def say(communicator: ChatCommunicator, text: str) -> None:
    await communicator.send_json_to({"message": text})


@database_sync_to_async
def stored_texts(room: str) -> list[str]:
    return list(Message.objects.filter(room__name=room).values_list("text", flat=True))


async def test_a_message_reaches_everyone_in_the_room_sender_included() -> None:
    ann = await connect("lobby")
    bob = await connect("lobby")
    await say(ann, "hello")
    for communicator in (ann, bob):
        frame = await communicator.receive_json_from()
        assert frame["type"] == "chat.message"
        assert frame["message"] == "hello"
        assert frame["id"] == 1
        assert frame["author"].startswith("guest-")
        assert frame["created"].endswith("Z")
    await ann.disconnect()
    await bob.disconnect()


async def test_other_rooms_hear_nothing() -> None:
    ann = await connect("lobby")
    eve = await connect("elsewhere")
    await say(ann, "hello")
    assert (await ann.receive_json_from())["message"] == "hello"
    await say(eve, "eve's own")
    # Eve's own message is the first frame she gets: nothing from Ann's room came first.
    assert (await eve.receive_json_from())["message"] == "eve's own"
    await ann.disconnect()
    await eve.disconnect()


async def test_ids_increase_within_each_room() -> None:
    ann = await connect("lobby")
    eve = await connect("elsewhere")
    for text in ["one", "two", "three"]:
        await say(ann, text)
    await say(eve, "first")
    assert [(await ann.receive_json_from())["id"] for _ in range(3)] == [1, 2, 3]
    assert (await eve.receive_json_from())["id"] == 1
    await ann.disconnect()
    await eve.disconnect()


async def test_a_late_joiner_gets_the_last_50_messages_oldest_first() -> None:
    room = await selectors.aget_or_create_room("history")
    for number in range(1, 56):
        await database_sync_to_async(services.save_message)(room, "ann", f"message {number}")
    late = await connect("history")
    frames = [await late.receive_json_from() for _ in range(50)]
    assert [frame["message"] for frame in frames] == [f"message {n}" for n in range(6, 56)]
    assert [frame["id"] for frame in frames] == list(range(6, 56))
    await fence("history", late)
    await late.disconnect()


async def test_a_live_copy_of_a_message_already_in_history_is_dropped() -> None:
    # A message saved between joining the group and reading history arrives both ways.
    room = await selectors.aget_or_create_room("race")
    saved = await database_sync_to_async(services.save_message)(room, "ann", "in history")
    late = await connect("race")
    assert (await late.receive_json_from())["message"] == "in history"
    layer = get_channel_layer()
    await layer.group_send(room_group_name("race"), selectors.message_frame(saved))
    newer = await database_sync_to_async(services.save_message)(room, "ann", "live")
    await layer.group_send(room_group_name("race"), selectors.message_frame(newer))
    # The next frame is the newer message: the copy sent before it was dropped.
    assert await late.receive_json_from() == selectors.message_frame(newer)
    await late.disconnect()


async def test_the_author_is_the_display_name_from_the_session() -> None:
    ann = await connect("lobby", await session_cookie(display_name="Ann"))
    await say(ann, "hi")
    assert (await ann.receive_json_from())["author"] == "Ann"
    await ann.disconnect()


async def test_a_logged_in_user_speaks_under_their_username() -> None:
    user = await database_sync_to_async(User.objects.create_user)("teacher", password="pw-for-tests-only")
    cookie = await session_cookie(**login_data(user), display_name="someone else")
    teacher = await connect("lobby", cookie)
    await say(teacher, "hi")
    assert (await teacher.receive_json_from())["author"] == "teacher"
    await teacher.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ('["hi"]', "invalid_frame"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"message": "hi", "extra": 1}', "unknown_field"),
        ("{}", "missing_field"),
        ('{"message": 42}', "invalid_field"),
        ('{"message": "   "}', "empty_message"),
        (json.dumps({"message": "x" * 2001}), "message_too_long"),
        ('{"message": "\\u0000"}', "invalid_characters"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(raw: str, code: str) -> None:
    ann = await connect("lobby")
    bob = await connect("lobby")
    await ann.send_to(text_data=raw)
    frame = await ann.receive_json_from()
    assert frame["type"] == "error"
    assert frame["code"] == code
    assert frame["detail"]
    assert await stored_texts("lobby") == []
    await say(ann, "still here")
    assert (await ann.receive_json_from())["message"] == "still here"
    # Bob's first frame, with the first id: the bad frame was neither relayed nor stored.
    frame = await bob.receive_json_from()
    assert (frame["message"], frame["id"]) == ("still here", 1), "a bad frame must not be relayed"
    await ann.disconnect()
    await bob.disconnect()


async def test_a_binary_frame_gets_an_error() -> None:
    ann = await connect("lobby")
    await ann.send_to(bytes_data=b"\x00\xff")
    assert (await ann.receive_json_from())["code"] == "binary_not_supported"
    await ann.disconnect()


@pytest.mark.parametrize("room", ["a b", "x" * 65, "<script>", "."])
async def test_an_invalid_room_is_refused_with_a_reason(room: str) -> None:
    communicator = ChatCommunicator(application, f"/ws/chat/{quote(room)}/", headers=[ORIGIN, HOST])
    connected, _ = await communicator.connect()
    assert connected
    frame = await communicator.receive_json_from()
    assert frame["type"] == "error"
    assert frame["code"] == "invalid_room"
    assert (await communicator.receive_output())["code"] == 4404


async def test_an_unknown_path_is_refused_with_a_reason() -> None:
    communicator = ChatCommunicator(application, "/ws/nowhere/", headers=[ORIGIN, HOST])
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["code"] == "not_found"
    assert (await communicator.receive_output())["code"] == 4404


async def test_a_foreign_origin_is_refused() -> None:
    communicator = ChatCommunicator(application, "/ws/chat/lobby/", headers=[(b"origin", b"http://evil.test")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_missing_origin_is_refused() -> None:
    communicator = ChatCommunicator(application, "/ws/chat/lobby/")
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_client_gone_before_its_ack_is_no_server_error() -> None:
    # Daphne raises Disconnected when a frame is sent in the moment between a
    # client's close and the consumer hearing of it; that is the client's doing.
    closing = False
    ack_attempted = asyncio.Event()

    async def daphne_like(scope: dict, receive: object, send: object) -> None:
        async def send_or_fail(message: dict) -> None:
            if closing and message["type"] == "websocket.send":
                if json.loads(message["text"]).get("type") == "ack":
                    ack_attempted.set()
                raise Disconnected("Attempt to send on a closed protocol")
            await send(message)

        return await application(scope, receive, send_or_fail)

    communicator = ChatCommunicator(daphne_like, "/ws/chat/lobby/", headers=[ORIGIN, HOST])
    assert (await communicator.connect())[0]
    closing = True
    await communicator.send_json_to({"message": "last words", "client_id": "gone"})
    async with asyncio.timeout(2):
        await ack_attempted.wait()  # the last send, after the message was stored
    assert await stored_texts("lobby") == ["last words"]
    await communicator.disconnect()  # raises here if the consumer crashed
