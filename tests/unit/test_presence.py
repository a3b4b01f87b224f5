"""Presence, typing and the lobby's directory, through the consumers on the in-memory layer."""

import asyncio
import time
from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import override_settings

from chat import events, services
from chat.groups import LOBBY_GROUP, room_group_name
from chat.presence import MemoryPresence
from chat.process import process_state
from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, login_data, session_cookie
from tests.unit.communicator import socket_as as connect_as

pytestmark = pytest.mark.django_db(transaction=True)


async def socket_as(name: str, path: str, tab_of: WebsocketCommunicator | None = None) -> WebsocketCommunicator:
    # The plain communicator: these tests read presence and typing frames.
    return await connect_as(name, path, WebsocketCommunicator, tab_of=tab_of)


async def presence_until(communicator: WebsocketCommunicator, users: list[str]) -> dict:
    """Read presence frames until one lists `users`."""
    while (frame := await next_of_type(communicator, "presence"))["users"] != users:
        pass
    return frame


async def next_of_type(communicator: WebsocketCommunicator, frame_type: str, timeout: float = 3) -> dict:
    """The next frame of this type within `timeout` seconds in all (`asyncio.TimeoutError` otherwise)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await communicator.receive_json_from(timeout=timeout)
            if frame["type"] == frame_type:
                return frame


def room(name: str) -> str:
    return f"/ws/chat/{quote(name)}/"


async def socket_of_account(username: str, path: str, *, staff: bool = False) -> WebsocketCommunicator:
    """A connected socket at `path` of a new account signed in as `username`."""
    user = await database_sync_to_async(User.objects.create_user)(username, password="pw-for-tests-only")
    if staff:
        user.is_staff = True
        await user.asave()
    cookie = await session_cookie(**login_data(user))
    socket = WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, cookie])
    connected, _ = await socket.connect()
    assert connected
    return socket


async def test_people_in_a_room_are_listed_once_each_and_leave() -> None:
    ann = await socket_as("Ann", room("physics"))
    assert await next_of_type(ann, "presence") == {
        "type": "presence",
        "users": ["Ann"],
        "count": 1,
        "people": [{"name": "Ann", "kind": "guest"}],
    }
    bob = await socket_as("Bob", room("physics"))
    bob_again = await socket_as("Bob", room("physics"), tab_of=bob)
    assert (await presence_until(ann, ["Ann", "Bob"]))["count"] == 2
    await bob.disconnect()
    assert await process_state().presence.names("physics") == ["Ann", "Bob"], "Bob's other tab is still there"
    await bob_again.disconnect()
    assert (await presence_until(ann, ["Ann"]))["people"] == [{"name": "Ann", "kind": "guest"}]
    await ann.disconnect()


async def test_presence_says_what_kind_of_person_each_is() -> None:
    ann = await socket_of_account("ann", room("physics"))
    teacher = await socket_of_account("teacher", room("physics"), staff=True)
    bob = await socket_as("Bob", room("physics"))
    frame = await presence_until(teacher, ["Bob", "ann", "teacher"])
    assert frame["count"] == 3
    assert frame["people"] == [
        {"name": "Bob", "kind": "guest"},
        {"name": "ann", "kind": "account"},
        {"name": "teacher", "kind": "staff"},
    ]
    await bob.disconnect()
    assert (await presence_until(teacher, ["ann", "teacher"]))["people"] == [
        {"name": "ann", "kind": "account"},
        {"name": "teacher", "kind": "staff"},
    ]
    for socket in (ann, teacher):
        await socket.disconnect()


def test_one_name_of_two_kinds_is_two_people_but_one_user() -> None:
    # A guest under an account's name, as a session from before the name rules may hold.
    update = events.presence_update([("ann", "account"), ("ann", "guest"), ("bob", "guest")])
    assert update["users"] == ["ann", "bob"]
    assert update["count"] == 2
    assert update["people"] == [
        {"name": "ann", "kind": "account"},
        {"name": "ann", "kind": "guest"},
        {"name": "bob", "kind": "guest"},
    ]


async def test_an_account_with_several_tabs_is_one_person() -> None:
    ann = await socket_of_account("ann", room("physics"))
    cookie = await session_cookie(**login_data(await User.objects.aget(username="ann")))
    again = WebsocketCommunicator(application, room("physics"), headers=[ORIGIN, HOST, cookie])
    assert (await again.connect())[0]
    people = [{"name": "ann", "kind": "account"}]
    assert (await presence_until(again, ["ann"]))["people"] == people
    assert await process_state().presence.people("physics") == [("ann", "account")]
    await ann.disconnect()
    await again.disconnect()


async def test_a_presence_event_from_a_process_before_kinds_becomes_a_frame_without_people() -> None:
    # During a rolling upgrade, a process of the version before sends events without "people".
    ann = await socket_as("Ann", room("physics"))
    await presence_until(ann, ["Ann"])
    old_event = {"type": "presence.update", "users": ["Ann", "Old"], "count": 2}
    await get_channel_layer().group_send(room_group_name("physics"), old_event)
    assert await presence_until(ann, ["Ann", "Old"]) == {"type": "presence", "users": ["Ann", "Old"], "count": 2}
    await ann.disconnect()


async def test_the_memory_store_keeps_each_entry_s_kind() -> None:
    store = MemoryPresence()
    await store.touch("physics", "socket-1", "ann", kind="account")
    await store.touch("physics", "socket-2", "ann", kind="account")  # a second tab
    await store.touch("physics", "socket-3", "ann", kind="guest")
    assert await store.people("physics") == [("ann", "account"), ("ann", "guest")]
    assert await store.names("physics") == ["ann"]
    await store.remove("physics", "socket-3", "ann", kind="guest")
    assert await store.people("physics") == [("ann", "account")]


async def test_the_memory_store_reads_entries_written_before_kinds() -> None:
    store = MemoryPresence()
    store.entries["physics"] = {"old-socket\nAnn": time.time()}  # the format before kinds
    await store.touch("physics", "new-socket", "Bob", kind="account")
    assert await store.people("physics") == [("Ann", "guest"), ("Bob", "account")]
    assert await store.names("physics") == ["Ann", "Bob"]
    # A process of the version before reads a name as all after the first line break: still right.
    assert sorted(member.split("\n", 1)[1] for member in store.entries["physics"]) == ["Ann", "Bob"]
    await store.remove("physics", "new-socket", "Bob", kind="account")
    assert await store.people("physics") == [("Ann", "guest")]


async def test_typing_reaches_the_others_but_not_the_typist() -> None:
    ann = await socket_as("Ann", room("physics"))
    bob = await socket_as("Bob", room("physics"))
    await bob.send_json_to({"type": "typing"})
    assert await next_of_type(ann, "typing") == {"type": "typing", "author": "Bob"}
    await bob.send_json_to({"message": "done"})
    frames = [await bob.receive_json_from()]
    while frames[-1]["type"] != "chat.message":
        frames.append(await bob.receive_json_from())
    assert "typing" not in {frame["type"] for frame in frames}, "the typist is not told of their own typing"
    await ann.disconnect()
    await bob.disconnect()


async def test_a_typing_frame_takes_no_other_fields() -> None:
    ann = await socket_as("Ann", room("physics"))
    await ann.send_json_to({"type": "typing", "message": "x"})
    assert (await next_of_type(ann, "error"))["code"] == "unknown_field"
    await ann.disconnect()


TTL, HEARTBEAT = 2.0, 0.1


@override_settings(CHAT_PRESENCE_TTL=TTL, CHAT_PRESENCE_HEARTBEAT=HEARTBEAT)
async def test_an_entry_nobody_refreshes_goes_after_the_ttl_and_live_ones_stay() -> None:
    ann = await socket_as("Ann", room("physics"))
    await presence_until(ann, ["Ann"])
    written = time.time()
    await process_state().presence.touch("physics", "dead-process-channel", "Ghost")  # a socket whose process died
    bob = await socket_as("Bob", room("physics"))  # his arrival tells the room, ghost included
    lists = [(await presence_until(ann, ["Ann", "Bob", "Ghost"]))["users"]]
    # Some heartbeat drops the ghost within one beat of its expiry, and the room hears of it
    # once the burst of changes is over; a second of slack on top for a slow machine.
    deadline = written + TTL + HEARTBEAT + services.PRESENCE_COALESCE_SECONDS + 1.0
    try:
        while "Ghost" in lists[-1]:
            lists.append((await next_of_type(ann, "presence", timeout=max(deadline - time.time(), 0.01)))["users"])
    except TimeoutError:
        pytest.fail(f"the ghost was still listed {deadline - written:.2f} s after it was last seen: {lists}")
    assert time.time() > written + TTL, "the ghost went before its time was up"
    # Ann's entry is older than the ghost's: only her heartbeat kept it. Nobody live ever left the list.
    assert lists[-1] == ["Ann", "Bob"]
    assert all({"Ann", "Bob"} <= set(users) for users in lists), lists
    await ann.disconnect()
    await bob.disconnect()


async def test_the_lobby_gets_the_directory_then_live_changes() -> None:
    await services.apost_notification("physics", "Lab at six.")
    lobby = await socket_as("Zoe", "/ws/lobby/")
    directory = await lobby.receive_json_from()
    assert directory["type"] == "directory"
    assert [(r["room"], r["online"]) for r in directory["rooms"]] == [("physics", 0)]
    assert directory["rooms"][0]["last_activity"].endswith("Z")

    ann = await socket_as("Ann", room("maths"))
    assert await lobby.receive_json_from() == {"type": "room.update", "room": "maths", "online": 1}
    await ann.send_json_to({"message": "hi"})
    update = await lobby.receive_json_from()
    assert (update["type"], update["room"]) == ("room.update", "maths")
    assert update["last_activity"].endswith("Z")
    await ann.disconnect()
    assert await lobby.receive_json_from() == {"type": "room.update", "room": "maths", "online": 0}
    await lobby.send_json_to({"message": "hi"})
    assert (await lobby.receive_json_from())["code"] == "unknown_type"
    await lobby.disconnect()


async def test_a_busy_room_tells_the_lobby_its_activity_at_once_then_once_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "LOBBY_ACTIVITY_SECONDS", 0.3)
    lobby = await socket_as("Zoe", "/ws/lobby/")
    assert (await lobby.receive_json_from())["type"] == "directory"
    ann = await socket_as("Ann", room("maths"))
    times = []
    for number in range(3):
        await ann.send_json_to({"message": f"m{number}"})
        times.append((await next_of_type(ann, "chat.message"))["created"])
    activity = []
    while len(activity) < 2:
        update = await lobby.receive_json_from(timeout=2)
        if "last_activity" in update:
            activity.append(update["last_activity"])
    assert activity == [times[0], times[2]], "the first at once, then only the newest"
    # Once the room's interval is over with nothing left to tell, a marker through the lobbies' Group
    # comes after anything the interval sent: there must be no third time before it.
    async with asyncio.timeout(2):
        while "maths" in process_state().activity_waiting:
            await asyncio.sleep(0.01)
    marker = {"type": "room.update", "room": "marker", "online": 0}
    await get_channel_layer().group_send(LOBBY_GROUP, {**marker, "type": "directory.room"})
    later = [await lobby.receive_json_from()]
    while later[-1] != marker:
        later.append(await lobby.receive_json_from())
    assert not [update for update in later if "last_activity" in update], later
    await ann.disconnect()
    await lobby.disconnect()


async def test_a_burst_of_joins_sends_few_presence_lists() -> None:
    ann = await socket_as("Ann", room("physics"))
    await presence_until(ann, ["Ann"])
    students = [await socket_as(f"student{n}", room("physics")) for n in range(6)]
    everyone = ["Ann", *(f"student{n}" for n in range(6))]
    lists = [(await next_of_type(ann, "presence"))["users"]]
    while lists[-1] != everyone:
        lists.append((await next_of_type(ann, "presence"))["users"])
    assert len(lists) < 6, f"one presence list per join: {lists}"
    for student in students:
        await student.disconnect()
    await ann.disconnect()


async def test_rooms_whose_presence_went_out_are_not_kept(monkeypatch) -> None:
    monkeypatch.setattr(services, "PRESENCE_COALESCE_SECONDS", 0)
    state = process_state()
    for number in range(20):
        await services.apublish_presence(f"passing-{number}")
    async with asyncio.timeout(5):
        while state.presence_due:
            await asyncio.wait(list(state.presence_due.values()))
    assert state.presence_due == {}


async def test_a_departure_while_the_presence_list_is_read_still_goes_out(monkeypatch) -> None:
    # A pending update that has already read the room must not swallow a change made after its read.
    monkeypatch.setattr(services, "PRESENCE_COALESCE_SECONDS", 0)
    store = process_state().presence
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(room_group_name("optics"), listener)
    has_read, go_on = asyncio.Event(), asyncio.Event()
    read_people = store.people

    async def people_then_wait(room_name: str) -> list[tuple[str, str]]:
        people = await read_people(room_name)
        has_read.set()
        await go_on.wait()
        return people

    monkeypatch.setattr(store, "people", people_then_wait)
    await store.touch("optics", "ann-socket", "Ann")
    await services.apublish_presence("optics")
    await asyncio.wait_for(has_read.wait(), 3)
    await store.remove("optics", "ann-socket", "Ann")  # Ann leaves after the update read her as present
    await services.apublish_presence("optics")
    go_on.set()
    async with asyncio.timeout(3):
        while (await layer.receive(listener))["users"] != []:
            pass
