"""Presence, typing and the lobby's directory, through the consumers on the in-memory layer."""

import asyncio
import time
from urllib.parse import quote

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from chat import services
from chat.groups import LOBBY_GROUP
from chat.process import process_state
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


async def test_people_in_a_room_are_listed_once_each_and_leave() -> None:
    ann = await socket_as("Ann", room("physics"))
    assert await next_of_type(ann, "presence") == {"type": "presence", "users": ["Ann"], "count": 1}
    bob = await socket_as("Bob", room("physics"))
    bob_again = await socket_as("Bob", room("physics"), tab_of=bob)
    assert (await presence_until(ann, ["Ann", "Bob"]))["count"] == 2
    await bob.disconnect()
    assert await process_state().presence.names("physics") == ["Ann", "Bob"], "Bob's other tab is still there"
    await bob_again.disconnect()
    assert await presence_until(ann, ["Ann"]) == {"type": "presence", "users": ["Ann"], "count": 1}
    await ann.disconnect()


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
