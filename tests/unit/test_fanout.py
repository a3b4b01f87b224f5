"""The local fan-out: one Group member per process, and each event handed to every local socket in order."""

import asyncio
import time

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer

from chat import protocol
from chat.events import LAYER_RECOVERED
from chat.fanout import LocalFanout
from chat.groups import LOBBY_GROUP, room_group_name
from chat.process import process_state
from tests.unit.communicator import connect, socket_as

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """A member that keeps what it is handed."""

    def __init__(self) -> None:
        self.events: list[tuple[dict, str]] = []
        self.arrived = asyncio.Event()

    async def group_event(self, event: dict, text: str) -> None:
        self.events.append((event, text))
        self.arrived.set()

    async def wait_for(self, count: int) -> list[dict]:
        async with asyncio.timeout(2):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return [event for event, _ in self.events]


class Broken:
    async def group_event(self, event: dict, text: str) -> None:
        raise RuntimeError("a bug in one socket's handler")


async def test_sockets_of_one_process_make_one_group_member() -> None:
    sockets = [await connect("physics") for _ in range(3)]
    layer = get_channel_layer()
    assert len(layer.groups[room_group_name("physics")]) == 1
    assert process_state().fanout.members(room_group_name("physics")) == 4, "three sockets and the room's history"
    for socket in sockets:
        await socket.disconnect()
    assert not layer.groups.get(room_group_name("physics")), "the process leaves with its last socket"


async def test_every_member_gets_every_event_in_order_with_the_text_encoded_once() -> None:
    layer = InMemoryChannelLayer()
    fanout = LocalFanout(layer)
    members = [Recorder(), Recorder()]
    for member in members:
        await fanout.join("room", member)
    for number in range(1, 21):
        await layer.group_send("room", {"type": "chat.message", "id": number})
    for member in members:
        assert [event["id"] for event in await member.wait_for(20)] == list(range(1, 21))
    event, text = members[0].events[0]
    assert text == protocol.encode(event)
    assert members[1].events[0][1] is text
    for member in members:
        await fanout.leave("room", member)


class Logged:
    """A member that writes each event it is handed to one log shared with the others."""

    def __init__(self, name: int, log: list[tuple[int, int]]) -> None:
        self.name = name
        self.log = log

    async def group_event(self, event: dict, text: str) -> None:
        self.log.append((self.name, event["id"]))


class Gated(Logged):
    """A member that holds the hub on its first event until the test opens the gate."""

    def __init__(self, name: int, log: list[tuple[int, int]]) -> None:
        super().__init__(name, log)
        self.gate = asyncio.Event()

    async def group_event(self, event: dict, text: str) -> None:
        await self.gate.wait()
        await super().group_event(event, text)


async def test_events_that_arrive_while_the_room_is_served_reach_each_member_together() -> None:
    # Each socket then gets them in one go, which the server writes to it in one system call.
    layer = InMemoryChannelLayer()
    fanout = LocalFanout(layer)
    log: list[tuple[int, int]] = []
    first = Gated(0, log)
    members = [first, *(Logged(name, log) for name in range(1, 5))]
    for member in members:
        await fanout.join("room", member)
    for number in (1, 2, 3):
        await layer.group_send("room", {"type": "chat.message", "id": number})
    hub = fanout.hubs["room"]
    async with asyncio.timeout(2):
        while len(hub.pending) < 2:  # 2 and 3 came in while 1 is being handed out
            await asyncio.sleep(0.01)
    first.gate.set()
    async with asyncio.timeout(2):
        while len(log) < 15:
            await asyncio.sleep(0.01)
    assert log[:5] == [(name, 1) for name in range(5)]
    assert log[5:] == [(name, number) for name in range(5) for number in (2, 3)]
    for member in members:
        await fanout.leave("room", member)


async def test_a_failing_member_does_not_cut_the_others_off(caplog: pytest.LogCaptureFixture) -> None:
    layer = InMemoryChannelLayer()
    fanout = LocalFanout(layer)
    healthy = Recorder()
    await fanout.join("room", Broken())
    await fanout.join("room", healthy)
    await layer.group_send("room", {"type": "chat.message", "id": 1})
    await layer.group_send("room", {"type": "chat.message", "id": 2})
    assert [event["id"] for event in await healthy.wait_for(2)] == [1, 2]
    assert "a bug in one socket's handler" in caplog.text
    for hub in list(fanout.hubs.values()):
        await hub.leave()


async def test_membership_is_renewed_before_the_group_expires() -> None:
    # The layer forgets members older than group_expiry; a room open for longer must still hear.
    layer = InMemoryChannelLayer(group_expiry=1)
    fanout = LocalFanout(layer)
    member = Recorder()
    await fanout.join("room", member)
    joined = time.time()
    while time.time() < joined + 2.5:  # well past the expiry of the first membership
        await asyncio.sleep(0.1)
    await layer.group_send("room", {"type": "chat.message", "id": 1})
    assert [event["id"] for event in await member.wait_for(1)] == [1]
    await fanout.leave("room", member)


async def test_a_lobby_socket_gets_the_directory_again_after_a_layer_outage() -> None:
    lobby = await socket_as("Zoe", "/ws/lobby/")
    assert (await lobby.receive_json_from())["type"] == protocol.DIRECTORY
    await get_channel_layer().group_send(LOBBY_GROUP, {"type": LAYER_RECOVERED})
    assert (await lobby.receive_json_from())["type"] == protocol.DIRECTORY
    await lobby.disconnect()


async def test_an_addressed_event_reaches_only_the_members_it_names() -> None:
    """A mention costs the sockets of the people it names, not every socket of the process."""
    layer = InMemoryChannelLayer()
    fanout = LocalFanout(layer)
    ann, bob, ann_other_tab, everyone = Recorder(), Recorder(), Recorder(), Recorder()
    await fanout.join("people.mentions", ann, "Ann")
    await fanout.join("people.mentions", ann_other_tab, "Ann")
    await fanout.join("people.mentions", bob, "Bob")
    await fanout.join("people.mentions", everyone)
    await layer.group_send("people.mentions", {"type": "chat.mention", "to": ["Ann", "Carol"], "n": 1})
    await layer.group_send("people.mentions", {"type": "layer.recovered"})
    assert [event.get("n") for event in await ann.wait_for(1)] == [1]
    assert [event.get("n") for event in await ann_other_tab.wait_for(1)] == [1]
    assert [event["type"] for event in await everyone.wait_for(1)] == ["layer.recovered"]
    assert bob.events == []
    await fanout.leave("people.mentions", ann, "Ann")
    await fanout.leave("people.mentions", ann_other_tab, "Ann")
    await fanout.leave("people.mentions", bob, "Bob")
    assert fanout.members("people.mentions") == 1
    await fanout.leave("people.mentions", everyone)
    assert fanout.members("people.mentions") == 0
