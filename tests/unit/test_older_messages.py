"""A page asks for older messages (``history``), page by page, back to the room's first."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from chat import membership, selectors, services
from chat.models import Message, ReadMark, Room
from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, connect, login_data, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def room_with(name: str, count: int, deleted: tuple[int, ...] = ()) -> Room:
    """A room holding messages "m1" to "m<count>" (ids 1 to `count`), those numbered in `deleted` deleted."""
    room = selectors.get_or_create_room(name)
    for number in range(1, count + 1):
        services.save_message(room, "ann", f"m{number}")
    for number in deleted:
        assert services.delete_message(room, number)
    return room


async def older(socket: WebsocketCommunicator, before: object) -> dict:
    """The answer to ``history`` before `before`, checked to be well formed; its messages' texts as "texts"."""
    await socket.send_json_to({"type": "history", "before": before})
    frame = await socket.receive_json_from()
    assert frame["type"] == "history", frame
    assert set(frame) == {"type", "before", "messages", "complete"}
    assert all(message["type"] == "chat.message" for message in frame["messages"])
    return frame | {"texts": [message["message"] for message in frame["messages"]]}


async def test_a_page_goes_back_page_by_page_to_the_first_message_passing_over_deleted_ones(settings) -> None:
    settings.CHAT_HISTORY_LENGTH = 3
    room = await room_with("physics", 10, deleted=(2, 6))
    ann = await connect("physics")
    assert [(await ann.receive_json_from())["id"] for _ in range(3)] == [8, 9, 10]
    first = await older(ann, 8)
    assert (first["before"], first["texts"], first["complete"]) == (8, ["m4", "m5", "m7"], False)
    assert first["messages"][0] == selectors.message_frame(await Message.objects.aget(room=room, room_message_id=4))
    second = await older(ann, 4)
    assert (second["texts"], second["complete"]) == (["m1", "m3"], True)
    assert await older(ann, 1) == {"type": "history", "before": 1, "messages": [], "complete": True, "texts": []}
    # A page exactly full, with nothing older left, is complete too.
    assert (await older(ann, 5))["texts"] == ["m1", "m3", "m4"]
    assert (await older(ann, 5))["complete"] is True
    # Live messages still come in order after the older pages.
    await ann.send_json_to({"message": "m11"})
    assert (await ann.receive_json_from())["id"] == 11
    await ann.disconnect()


async def test_an_id_past_the_newest_gets_the_newest_page_and_a_room_without_messages_none(settings) -> None:
    settings.CHAT_HISTORY_LENGTH = 2
    await room_with("physics", 3)
    ann = await connect("physics")
    assert [(await ann.receive_json_from())["id"] for _ in range(2)] == [2, 3]
    assert (await older(ann, 10**12))["texts"] == ["m2", "m3"]
    empty = await connect("never-used")
    assert (await older(empty, 5))["messages"] == []
    assert (await older(empty, 5))["complete"] is True
    assert not await Room.objects.filter(name="never-used").aexists(), "asking stores nothing"
    await ann.disconnect()
    await empty.disconnect()


async def test_a_room_opened_before_its_first_message_finds_the_messages_said_since() -> None:
    ann = await connect("physics")  # no row yet: the socket holds an unsaved room
    await room_with("physics", 2)
    assert [(await ann.receive_json_from())["id"] for _ in range(2)] == [1, 2]
    assert (await older(ann, 2))["texts"] == ["m1"]
    await ann.disconnect()


async def test_other_rooms_messages_never_come_with_the_same_ids() -> None:
    await room_with("physics", 3)
    await room_with("secret", 5)
    ann = await connect("physics")
    for _ in range(3):
        await ann.receive_json_from()
    assert (await older(ann, 5))["texts"] == ["m1", "m2", "m3"]
    await ann.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "history", "before": 0}, "invalid_field"),
        ({"type": "history", "before": True}, "invalid_field"),
        ({"type": "history", "before": "5"}, "invalid_field"),
        ({"type": "history", "before": 2**63}, "invalid_field"),
        ({"type": "history"}, "missing_field"),
        ({"type": "history", "before": 5, "count": 100}, "unknown_field"),
    ],
)
async def test_a_bad_history_frame_gets_an_error_and_the_socket_stays_open(frame: dict, code: str) -> None:
    await room_with("physics", 1)
    ann = await connect("physics")
    await ann.receive_json_from()
    await ann.send_json_to(frame)
    error = await ann.receive_json_from()
    assert (error["type"], error["code"]) == ("error", code)
    assert (await older(ann, 2))["texts"] == ["m1"]
    await ann.disconnect()


async def test_history_frames_count_against_the_frame_rate(settings) -> None:
    settings.CHAT_RATE_BURST = 2
    settings.CHAT_RATE_LIMIT = 0.001
    await room_with("physics", 1)
    ann = await connect("physics")
    await ann.receive_json_from()
    for _ in range(2):
        await older(ann, 2)
    await ann.send_json_to({"type": "history", "before": 2})
    refused = await ann.receive_json_from()
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")
    await ann.disconnect()


def test_a_page_of_history_is_one_query_of_a_bounded_number_of_rows(
    settings, django_assert_num_queries, django_assert_max_num_queries
) -> None:
    settings.CHAT_HISTORY_LENGTH = 3
    room = selectors.get_or_create_room("physics")
    for number in range(10):
        services.save_message(room, "ann", f"m{number}")
    with django_assert_num_queries(1) as captured:
        frames, complete = selectors.history_before(room, 10)
    assert ([frame["id"] for frame in frames], complete) == ([7, 8, 9], False)
    assert "LIMIT 4" in captured.captured_queries[0]["sql"]
    with django_assert_num_queries(1):
        selectors.history_before(Room(name="physics"), 10)  # opened before it had a row


async def outputs_until_gone(socket: WebsocketCommunicator) -> list[dict]:
    """Everything the consumer sent until it ended, once the client has gone: it handles frames in turn,
    so whatever it answered to the frames sent before the disconnect is in there."""
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    await socket.wait()
    outputs = []
    while not socket.output_queue.empty():
        outputs.append(socket.output_queue.get_nowait())
    return outputs


async def test_a_member_removed_from_a_private_room_gets_no_more_history_and_stores_no_mark() -> None:
    ann, bob = await database_sync_to_async(lambda: [User.objects.create_user(name) for name in ("ann", "bob")])()
    room = await database_sync_to_async(membership.create_private_room)(ann, "Homework")
    invite = await database_sync_to_async(membership.create_invite)(room, ann)
    await database_sync_to_async(membership.join_by_invite)(bob, invite.token)
    for number in range(1, 4):
        await database_sync_to_async(services.save_message)(room, "ann", f"m{number}")
    socket = await connect(room.name, await session_cookie(**login_data(bob)))
    assert [(await socket.receive_json_from())["id"] for _ in range(3)] == [1, 2, 3]
    await socket.send_json_to({"type": "read", "id": 1})
    assert (await older(socket, 2))["texts"] == ["m1"]  # the read was handled before this answer
    await database_sync_to_async(membership.remove_member)(room, ann, "bob")
    assert (await socket.receive_json_from())["code"] == "forbidden"
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4403}
    # What the client sends before it has gone is dropped unread: no history, no mark, no answer.
    await socket.send_json_to({"type": "history", "before": 3})
    await socket.send_json_to({"type": "read", "id": 3})
    assert await outputs_until_gone(socket) == []
    assert [mark.last_read async for mark in ReadMark.objects.filter(user=bob)] == [1]


async def test_a_guest_refused_by_a_private_room_gets_nothing_for_the_frames_it_sends_before_it_goes() -> None:
    owner = await database_sync_to_async(User.objects.create_user)("ann")
    room = await database_sync_to_async(membership.create_private_room)(owner, "Homework")
    await database_sync_to_async(services.save_message)(room, "ann", "members only")
    socket = WebsocketCommunicator(application, f"/ws/chat/{room.name}/", headers=[ORIGIN, HOST])
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["code"] == "forbidden"
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4403}
    await socket.send_json_to({"type": "history", "before": 2})
    assert await outputs_until_gone(socket) == []
