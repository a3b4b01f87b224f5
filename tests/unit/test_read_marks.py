"""Read marks: a ``read`` frame raises an account's mark in a room, and its lobbies hear of it; guests keep theirs.

And the lobby's directory and ``room.update`` frames carry what a page needs to count unread messages.
"""

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from accounts.identity import account_key
from chat import consumers, events, reading, selectors, services
from chat.groups import LOBBIES_GROUP
from chat.models import ReadMark, Room
from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, connect, login_data, session_cookie, socket_as

pytestmark = pytest.mark.django_db(transaction=True)


async def account(name: str) -> tuple[User, tuple[bytes, bytes]]:
    """A new account, and the Cookie header of a browser signed in as it."""
    user = await database_sync_to_async(User.objects.create_user)(name)
    return user, await session_cookie(**login_data(user))


async def room_socket(room: str, cookie: tuple[bytes, bytes], messages: int) -> WebsocketCommunicator:
    """A socket in `room` that has been sent its history of `messages` messages."""
    socket = await connect(room, cookie)
    for _ in range(messages):
        assert (await socket.receive_json_from())["type"] == "chat.message"
    return socket


async def lobby(cookie: tuple[bytes, bytes] | None = None) -> tuple[WebsocketCommunicator, dict[str, dict]]:
    """A lobby socket (a guest's without `cookie`) and its directory's entries by room."""
    socket = await socket_as("Zoe", "/ws/lobby/") if cookie is None else await connect_lobby(cookie)
    directory = await socket.receive_json_from()
    assert directory["type"] == "directory"
    return socket, {entry["room"]: entry for entry in directory["rooms"]}


async def connect_lobby(cookie: tuple[bytes, bytes]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/ws/lobby/", headers=[ORIGIN, HOST, cookie])
    assert (await socket.connect())[0]
    return socket


async def read(socket: WebsocketCommunicator, message_id: object) -> None:
    """Send ``read``, then a ping: the pong, its next frame, says the read was handled with no answer."""
    await socket.send_json_to({"type": "read", "id": message_id})
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}


async def reads_fence(socket: WebsocketCommunicator, user: User) -> None:
    """A last ``room.read`` for `user` through the lobbies' Group: a lobby whose next frame it is heard no other."""
    await get_channel_layer().group_send(LOBBIES_GROUP, events.room_read("marker", 0, account_key(user.pk)))
    assert await socket.receive_json_from() == {"type": "room.read", "room": "marker", "read": 0}


@database_sync_to_async
def say_in(name: str, count: int) -> Room:
    room = selectors.get_or_create_room(name)
    for number in range(count):
        services.save_message(room, "ann", f"m{number}")
    return room


@database_sync_to_async
def marks_of(user: User) -> dict[str, int]:
    return dict(ReadMark.objects.filter(user=user).values_list("room__name", "last_read"))


async def test_an_account_s_read_is_stored_raised_never_lowered_and_heard_by_its_own_lobbies_only() -> None:
    ann, ann_cookie = await account("ann")
    bob, bob_cookie = await account("bob")
    await say_in("physics", 3)
    ann_lobby, _ = await lobby(ann_cookie)
    ann_phone_lobby, _ = await lobby(ann_cookie)
    bob_lobby, _ = await lobby(bob_cookie)
    socket = await room_socket("physics", ann_cookie, 3)

    await read(socket, 2)
    assert await marks_of(ann) == {"physics": 2}
    for each in (ann_lobby, ann_phone_lobby):
        assert await each.receive_json_from() == {"type": "room.read", "room": "physics", "read": 2}

    await read(socket, 1)  # lower: nothing stored, nothing said
    await read(socket, 2)  # the same: likewise
    assert await marks_of(ann) == {"physics": 2}
    # Another of her devices, which never sent a mark, sends a lower one: the stored mark stays.
    tablet = await room_socket("physics", ann_cookie, 3)
    await read(tablet, 1)
    assert await marks_of(ann) == {"physics": 2}

    await read(socket, 999)  # past the newest message: capped at it
    assert await marks_of(ann) == {"physics": 3}
    assert await ann_lobby.receive_json_from() == {"type": "room.read", "room": "physics", "read": 3}
    await reads_fence(ann_lobby, ann)
    await reads_fence(bob_lobby, bob)  # Bob's lobby heard none of Ann's marks
    assert await marks_of(bob) == {}
    for each in (socket, tablet, ann_lobby, ann_phone_lobby, bob_lobby):
        await each.disconnect()


async def test_a_guest_s_read_is_accepted_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    await say_in("physics", 2)
    guest = await connect("physics")
    for _ in range(2):
        await guest.receive_json_from()
    with caplog.at_level(logging.WARNING):
        await read(guest, 2)  # no answer: the pong comes next
    assert not await ReadMark.objects.aexists()
    assert caplog.records == [], "nothing tried, so nothing failed"
    await guest.disconnect()


async def test_a_mark_never_passes_what_the_socket_was_sent() -> None:
    ann, cookie = await account("ann")
    socket = await room_socket("physics", cookie, 0)
    await read(socket, 5)  # nothing said yet: nothing to have read
    room = await selectors.aroom_named("physics")
    for text in ("one", "two"):  # said through the API, say: the socket hears them live
        await services.apost_message(room, "bob", text)
    assert [(await socket.receive_json_from())["id"] for _ in range(2)] == [1, 2]
    await read(socket, 5)
    assert await marks_of(ann) == {"physics": 2}
    # Stored, not yet published: the socket has not been sent it when it reads.
    await database_sync_to_async(services.save_message)(room, "bob", "three")
    await read(socket, 5)
    assert await marks_of(ann) == {"physics": 2}
    await socket.disconnect()


def test_the_stored_mark_is_capped_at_the_room_s_newest_id_and_rises_only() -> None:
    ann = User.objects.create_user("ann")
    room = selectors.get_or_create_room("physics")
    assert reading.raise_read_mark(ann.pk, "physics", 5) is None, "no message: no row"
    assert reading.raise_read_mark(ann.pk, "nowhere", 5) is None
    for number in range(3):
        services.save_message(room, "ann", f"m{number}")
    assert reading.raise_read_mark(ann.pk, "physics", 2) == 2
    assert reading.raise_read_mark(ann.pk, "physics", 1) is None
    assert reading.raise_read_mark(ann.pk, "physics", 2) is None
    assert reading.raise_read_mark(ann.pk, "physics", 10**15) == 3
    assert reading.raise_read_mark(ann.pk, "physics", 10**15) is None
    assert list(ReadMark.objects.values_list("user_id", "room__name", "last_read")) == [(ann.pk, "physics", 3)]


async def test_read_frames_are_checked_and_count_against_the_frame_rate(settings) -> None:
    settings.CHAT_RATE_BURST = 3
    settings.CHAT_RATE_LIMIT = 0.001
    _, cookie = await account("ann")
    socket = await room_socket("physics", cookie, 0)
    for bad in (0, True, "3"):
        await socket.send_json_to({"type": "read", "id": bad})
        error = await socket.receive_json_from()
        assert (error["type"], error["code"]) == ("error", "invalid_field")
    await socket.send_json_to({"type": "read", "id": 1})
    error = await socket.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "rate_limited")
    await socket.disconnect()


async def test_the_directory_has_each_room_s_newest_id_and_a_signed_in_person_s_marks() -> None:
    ann, cookie = await account("ann")
    await say_in("physics", 3)
    await say_in("maths", 2)
    socket = await room_socket("physics", cookie, 3)
    await read(socket, 2)
    await socket.disconnect()
    hers, entries = await lobby(cookie)
    assert (entries["physics"]["last_id"], entries["physics"]["read"]) == (3, 2)
    assert entries["maths"]["last_id"] == 2
    assert "read" not in entries["maths"], "never marked"
    guests, entries = await lobby()
    assert {name: entry["last_id"] for name, entry in entries.items()} == {"physics": 3, "maths": 2}
    assert not any("read" in entry for entry in entries.values())
    # A room somebody is in, with nothing said: 0.
    empty = await connect("quiet")
    while (await next_update(hers))["room"] != "quiet":  # the presence store lists it once that is told
        pass
    _, entries = await lobby(cookie)
    assert entries["quiet"]["last_id"] == 0
    assert "read" not in entries["quiet"]
    for each in (hers, guests, empty):
        await each.disconnect()


async def next_update(socket: WebsocketCommunicator, timeout: float = 1) -> dict:
    frame = await socket.receive_json_from(timeout)
    assert frame["type"] == "room.update", frame
    return frame


async def test_a_room_update_with_last_activity_carries_last_id() -> None:
    watcher, _ = await lobby()
    ann = await connect("physics")
    assert await next_update(watcher) == {"type": "room.update", "room": "physics", "online": 1}
    created = {}
    for number in range(3):
        await ann.send_json_to({"message": f"m{number}"})
        message = await ann.receive_json_from()
        created[message["id"]] = message["created"]
    # The first at once; the newest when the room's interval ends (or more, on a slow machine).
    updates = [await next_update(watcher)]
    while updates[-1]["last_id"] != 3:
        updates.append(await next_update(watcher, timeout=3))
    assert updates[0]["last_id"] == 1
    for update in updates:
        assert set(update) == {"type", "room", "last_activity", "last_id"}
        assert update["last_activity"] == created[update["last_id"]]
    await ann.disconnect()
    await watcher.disconnect()


def test_newest_ids_and_marks_are_one_query_for_the_whole_directory(django_assert_num_queries) -> None:
    ann = User.objects.create_user("ann")
    for name in ("a", "b", "c"):
        room = selectors.get_or_create_room(name)
        services.save_message(room, "ann", "hi")
    reading.raise_read_mark(ann.pk, "b", 1)
    with django_assert_num_queries(1):
        marks = selectors.last_ids_and_marks(["a", "b", "c", "none"], ann)
    assert marks == {"a": (1, None), "b": (1, 1), "c": (1, None)}
    with django_assert_num_queries(1):
        assert selectors.last_ids_and_marks(["b"], None) == {"b": (1, None)}


async def test_marks_that_rise_while_the_directory_is_read_follow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ann, cookie = await account("ann")
    await say_in("physics", 3)
    await reading.araise_read_mark(ann.pk, "physics", 2)
    handed: list[dict] = []
    real_directory, real_group_event = services.adirectory, consumers.LobbyConsumer.group_event

    async def recording_group_event(consumer: consumers.LobbyConsumer, event: dict, text: str) -> None:
        handed.append(event)
        await real_group_event(consumer, event, text)

    async def directory_while_marks_rise(user: User) -> list[dict]:
        # Both reach the socket before the directory is read: one it holds already, one newer than it holds.
        key = account_key(ann.pk)
        for mark in (2, 9):
            await get_channel_layer().group_send(LOBBIES_GROUP, events.room_read("physics", mark, key))
        while len(handed) < 2:
            await asyncio.sleep(0.01)
        return await real_directory(user)

    monkeypatch.setattr(consumers.LobbyConsumer, "group_event", recording_group_event)
    monkeypatch.setattr(services, "adirectory", directory_while_marks_rise)
    socket, entries = await lobby(cookie)
    assert entries["physics"]["read"] == 2
    assert await socket.receive_json_from() == {"type": "room.read", "room": "physics", "read": 9}
    await reads_fence(socket, ann)  # the mark the directory had already was not sent again
    await socket.disconnect()


async def test_a_busy_room_s_interval_ends_with_its_highest_id_whatever_order_they_came_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "LOBBY_ACTIVITY_SECONDS", 0.5)
    watcher, _ = await lobby()
    # Two processes may publish messages 6 and 7 in either order; the lobby must end on 7.
    for moment, last_id in (("12:00:01", 5), ("12:00:03", 7), ("12:00:02", 6)):
        await services.apublish_activity("physics", f"2026-01-01T{moment}.000Z", last_id)
    assert (await next_update(watcher))["last_id"] == 5
    assert await next_update(watcher) == {
        "type": "room.update",
        "room": "physics",
        "last_activity": "2026-01-01T12:00:03.000Z",
        "last_id": 7,
    }
    await watcher.disconnect()
