"""Each process keeps its rooms' recent history in memory, and lets go whenever it could be wrong."""

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import pre_delete, pre_save
from django.test import Client

from chat import events, selectors, services
from chat.groups import room_group_name
from chat.models import Message
from chat.process import process_state
from tests.unit.communicator import ChatCommunicator, connect, fence, room_listener

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The rooms whose history was read from the database, in order (the real reads still happen)."""
    reads: list[str] = []
    real = selectors.aopen_room

    async def counted(name: str, after: int | None = None):
        reads.append(name)
        return await real(name, after)

    monkeypatch.setattr(selectors, "aopen_room", counted)
    return reads


async def say(socket: ChatCommunicator, *texts: str) -> None:
    for text in texts:
        await socket.send_json_to({"message": text})
        assert (await socket.receive_json_from())["message"] == text


async def history_of(socket: ChatCommunicator, count: int) -> list[str]:
    return [(await socket.receive_json_from())["message"] for _ in range(count)]


async def test_a_room_this_process_holds_is_not_read_again(database_reads: list[str]) -> None:
    ann = await connect("physics")
    await say(ann, "one", "two", "three")
    bob = await connect("physics")
    assert await history_of(bob, 3) == ["one", "two", "three"]
    await fence("physics", bob)
    assert database_reads == ["physics"], "only the first socket read the database"
    await ann.disconnect()
    await bob.disconnect()
    assert process_state().histories.rooms == {}, "the history goes with the room's last socket"


async def test_the_history_keeps_only_the_newest_messages(settings, database_reads: list[str]) -> None:
    settings.CHAT_HISTORY_LENGTH = 3
    ann = await connect("physics")
    await say(ann, "1", "2", "3", "4", "5")
    bob = await connect("physics")
    assert await history_of(bob, 3) == ["3", "4", "5"]
    await fence("physics", bob)
    await ann.disconnect()
    await bob.disconnect()


async def test_a_deletion_sends_the_next_socket_to_the_database(database_reads: list[str]) -> None:
    ann = await connect("physics")
    await say(ann, "keep", "remove")
    room = await selectors.aget_or_create_room("physics")
    assert await services.apost_deletion(room, 2)
    bob = await connect("physics")
    assert await history_of(bob, 1) == ["keep"]
    await fence("physics", bob)
    assert database_reads == ["physics", "physics"]
    await ann.disconnect()
    await bob.disconnect()


async def test_a_message_it_did_not_hear_sends_the_next_socket_to_the_database(database_reads: list[str]) -> None:
    ann = await connect("physics")
    room = await selectors.aget_or_create_room("physics")
    # Stored, but its publication lost; the next one then arrives over a hole.
    await database_sync_to_async(services.save_message)(room, "eve", "unheard")
    later = await database_sync_to_async(services.save_message)(room, "eve", "heard")
    await get_channel_layer().group_send(room_group_name("physics"), selectors.message_frame(later))
    assert await history_of(ann, 2) == ["unheard", "heard"]  # the socket fills the hole itself
    bob = await connect("physics")
    assert await history_of(bob, 2) == ["unheard", "heard"]
    assert database_reads == ["physics", "physics"]
    await ann.disconnect()
    await bob.disconnect()


async def test_an_edited_message_sends_the_next_socket_to_the_database(database_reads: list[str]) -> None:
    ann = await connect("physics")
    await say(ann, "teh answer")

    @database_sync_to_async
    def edit() -> None:
        message = Message.objects.get(text="teh answer")
        message.text = "the answer"
        message.save()
        services.publish_edit(message)

    await edit()
    bob = await connect("physics")
    assert await history_of(bob, 1) == ["the answer"]
    assert database_reads == ["physics", "physics"]
    await ann.disconnect()
    await bob.disconnect()


def test_an_edit_in_the_admin_is_announced_to_the_room(admin_client: Client) -> None:
    room = selectors.get_or_create_room("physics")
    message = services.save_message(room, "ann", "teh answer")
    next_event = room_listener("physics")
    response = admin_client.post(
        f"/admin/chat/message/{message.pk}/change/",
        {"author": "ann", "text": "the answer", "client_id": "", "kind": "user"},
    )
    assert response.status_code == 302
    assert next_event() == {"type": events.HISTORY_CHANGED}
    message.refresh_from_db()
    assert message.text == "the answer"


def test_an_admin_edit_or_deletion_is_announced_only_once_committed(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Announced before the commit, another process could read the row as it was before the change.
    room = selectors.get_or_create_room("physics")
    edited, deleted = (services.save_message(room, "ann", text) for text in ("teh answer", "oops"))
    committed: list[bool] = []

    def mark_commit(**kwargs: object) -> None:
        # Registered before the admin's own callbacks: it runs first at the commit.
        transaction.on_commit(lambda: committed.append(True))

    layer = get_channel_layer()
    sent: list[tuple[str, bool]] = []
    send = layer.group_send

    async def group_send_noting_the_commit(group: str, event: dict) -> None:
        sent.append((event["type"], bool(committed)))
        await send(group, event)

    monkeypatch.setattr(layer, "group_send", group_send_noting_the_commit)
    for signal in (pre_save, pre_delete):
        signal.connect(mark_commit, sender=Message, dispatch_uid="mark-commit")
    try:
        change = {"author": "ann", "text": "the answer", "client_id": "", "kind": "user"}
        assert admin_client.post(f"/admin/chat/message/{edited.pk}/change/", change).status_code == 302
        assert sent == [(events.HISTORY_CHANGED, True)]
        sent.clear()
        committed.clear()
        assert admin_client.post(f"/admin/chat/message/{deleted.pk}/delete/", {"post": "yes"}).status_code == 302
        assert sent == [("chat.delete", True)]
    finally:
        for signal in (pre_save, pre_delete):
            signal.disconnect(dispatch_uid="mark-commit", sender=Message)
