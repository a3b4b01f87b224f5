import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat import selectors, services
from chat.groups import room_group_name
from chat.models import Message

pytestmark = pytest.mark.django_db


def test_rooms_are_created_once() -> None:
    assert selectors.get_or_create_room("lobby").pk == selectors.get_or_create_room("lobby").pk


def test_each_room_counts_its_own_ids() -> None:
    lobby = selectors.get_or_create_room("lobby")
    other = selectors.get_or_create_room("other")
    ids = [services.save_message(lobby, "ann", f"m{n}").room_message_id for n in range(3)]
    assert ids == [1, 2, 3]
    assert services.save_message(other, "bob", "hi").room_message_id == 1
    lobby.refresh_from_db()
    assert lobby.last_message_id == 3


def test_recent_messages_are_the_newest_oldest_first() -> None:
    room = selectors.get_or_create_room("lobby")
    for number in range(1, 8):
        services.save_message(room, "ann", str(number))
    assert [m.text for m in selectors.recent_messages(room, limit=3)] == ["5", "6", "7"]


def test_post_message_saves_then_publishes_to_the_rooms_group() -> None:
    layer = get_channel_layer()

    async def listen_then_post() -> dict:
        channel = await layer.new_channel()
        await layer.group_add(room_group_name("lobby"), channel)
        room = await selectors.aget_or_create_room("lobby")
        await services.apost_message(room, "ann", "hello")
        return await layer.receive(channel)

    event = async_to_sync(listen_then_post)()
    stored = Message.objects.get()
    assert event == {
        "type": "chat.message",
        "id": stored.room_message_id,
        "message": "hello",
        "author": "ann",
        "created": selectors.message_frame(stored)["created"],
        "kind": "user",
        "author_kind": "guest",
        "edited": None,
        "sender": "",
    }


def test_sync_post_message_reaches_the_group() -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(room_group_name("lobby"), channel)
    services.post_message(selectors.get_or_create_room("lobby"), "system", "announcement")
    assert async_to_sync(layer.receive)(channel)["message"] == "announcement"
    assert Message.objects.get().text == "announcement"


def test_a_client_id_is_stored_once_per_room() -> None:
    room = selectors.get_or_create_room("lobby")
    first = services.save_message(room, "ann", "hi", client_id="c1")
    again = services.save_message(room, "ann", "hi", client_id="c1")
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    room.refresh_from_db()
    assert room.last_message_id == 1, "a resend must not use up an id"
    other_room = selectors.get_or_create_room("other")
    assert services.save_message(other_room, "ann", "hi", client_id="c1").pk != first.pk


def test_messages_without_a_client_id_are_never_merged() -> None:
    room = selectors.get_or_create_room("lobby")
    services.save_message(room, "ann", "hi")
    services.save_message(room, "ann", "hi")
    assert Message.objects.count() == 2


def test_recent_messages_after_an_id() -> None:
    room = selectors.get_or_create_room("lobby")
    for number in range(1, 11):
        services.save_message(room, "ann", str(number))
    assert [m.room_message_id for m in selectors.recent_messages(room, limit=100, after=7)] == [8, 9, 10]
    assert [m.room_message_id for m in selectors.recent_messages(room, limit=2, after=3)] == [9, 10]


def test_messages_between_two_ids() -> None:
    room = selectors.get_or_create_room("lobby")
    for number in range(1, 11):
        services.save_message(room, "ann", str(number))
    assert [m.room_message_id for m in selectors.messages_between(room, 3, 7)] == [4, 5, 6]
