"""What the consumer promises each socket: every message once, in id order, with acks and catch-up."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import selectors, services
from chat.events import LAYER_RECOVERED
from chat.groups import room_group_name
from chat.models import Message
from tests.unit.communicator import ChatCommunicator, connect, fence

pytestmark = pytest.mark.django_db(transaction=True)


async def save(room_name: str, *texts: str) -> list[Message]:
    room = await selectors.aget_or_create_room(room_name)
    return [await database_sync_to_async(services.save_message)(room, "ann", text) for text in texts]


async def receive_ids(communicator: ChatCommunicator, count: int) -> list[int]:
    return [(await communicator.receive_json_from())["id"] for _ in range(count)]


async def test_a_message_with_a_client_id_is_acknowledged() -> None:
    ann = await connect("lobby")
    await ann.send_json_to({"message": "hi", "client_id": "c-1"})
    # Documented: the ack and the sender's own copy may come in either order.
    frames = {frame["type"]: frame for frame in [await ann.receive_json_from() for _ in range(2)]}
    assert frames["ack"] == {"type": "ack", "client_id": "c-1", "id": 1}
    assert frames["chat.message"]["message"] == "hi"
    await ann.disconnect()


async def test_a_resend_is_stored_once_and_delivered_once() -> None:
    ann = await connect("lobby")
    bob = await connect("lobby")
    for _ in range(2):
        await ann.send_json_to({"message": "hi", "client_id": "c-1"})
    frames = [await ann.receive_json_from() for _ in range(3)]
    assert sorted(frame["type"] for frame in frames) == ["ack", "ack", "chat.message"]
    assert {frame["id"] for frame in frames} == {1}
    assert await receive_ids(bob, 1) == [1]
    await fence("lobby", ann, bob)  # the resend reached neither twice
    assert await database_sync_to_async(Message.objects.count)() == 1
    await ann.disconnect()
    await bob.disconnect()


async def test_after_replays_only_what_was_missed() -> None:
    await save("lobby", "1", "2", "3", "4", "5")
    back = await connect("lobby", query="?after=3")
    assert await receive_ids(back, 2) == [4, 5]
    await fence("lobby", back)
    await back.disconnect()


async def test_after_replays_more_than_the_history_length() -> None:
    await save("lobby", *[str(n) for n in range(60)])
    back = await connect("lobby", query="?after=0")
    assert await receive_ids(back, 60) == list(range(1, 61))
    await back.disconnect()


async def test_after_beyond_the_newest_id_does_not_hide_new_messages() -> None:
    await save("lobby", "1")
    back = await connect("lobby", query="?after=99")
    await back.send_json_to({"message": "2"})
    # Its first frame: no history came before it, and the new message was not held back.
    frame = await back.receive_json_from()
    assert (frame["type"], frame["id"], frame["message"]) == ("chat.message", 2, "2")
    await back.disconnect()


async def test_a_bad_after_gets_an_error_then_the_usual_history() -> None:
    await save("lobby", "1")
    back = await connect("lobby", query="?after=soon")
    assert (await back.receive_json_from())["code"] == "invalid_query"
    assert await receive_ids(back, 1) == [1]
    await back.disconnect()


async def test_a_hole_before_a_live_message_is_filled_from_the_database() -> None:
    ann = await connect("lobby")
    # Three messages stored whose live copies never came (a full queue, say), then a fourth that does.
    saved = await save("lobby", "1", "2", "3", "4")
    await get_channel_layer().group_send(room_group_name("lobby"), selectors.message_frame(saved[-1]))
    assert await receive_ids(ann, 4) == [1, 2, 3, 4]
    # The late live copies of the others are dropped.
    for message in saved[:3]:
        await get_channel_layer().group_send(room_group_name("lobby"), selectors.message_frame(message))
    await fence("lobby", ann)
    await ann.disconnect()


async def test_after_a_layer_outage_the_consumer_catches_up_from_the_database() -> None:
    ann = await connect("lobby")
    await save("lobby", "said while the layer was down", "and this")
    await get_channel_layer().group_send(room_group_name("lobby"), {"type": LAYER_RECOVERED})
    assert await receive_ids(ann, 2) == [1, 2]
    await ann.disconnect()
