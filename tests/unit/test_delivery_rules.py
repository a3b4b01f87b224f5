"""The rules of `chat.delivery.Delivery`, without a socket: every message once, in order, other events in turn."""

import asyncio
import json

from django.db import DatabaseError

from chat import events, protocol
from chat.delivery import Delivery


def message(message_id: int) -> dict:
    return {"type": events.CHAT_MESSAGE, "id": message_id, "message": f"m{message_id}"}


class Socket:
    """What a socket would have sent, and a database of stored messages."""

    def __init__(self, stored: int = 0) -> None:
        self.stored = [message(number) for number in range(1, stored + 1)]
        self.sent: list[dict] = []
        self.reads: list[tuple] = []
        self.database_answers = asyncio.Event()
        self.database_answers.set()
        self.delivery = Delivery(
            send_text=self.send_text,
            handle_other=self.handle_other,
            read_between=self.read_between,
            read_after=self.read_after,
        )

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def handle_other(self, event: dict) -> None:
        self.sent.append(event)

    async def read_between(self, after: int, before: int) -> list[dict]:
        self.reads.append(("between", after, before))
        await self.database_answers.wait()
        return [frame for frame in self.stored if after < frame["id"] < before]

    async def read_after(self, after: int) -> list[dict]:
        self.reads.append(("after", after))
        await self.database_answers.wait()
        return [frame for frame in self.stored if frame["id"] > after]

    async def hear(self, event: dict) -> None:
        await self.delivery.event(event, protocol.encode(event))

    def ids(self) -> list[int]:
        return [frame["id"] for frame in self.sent if frame["type"] == events.CHAT_MESSAGE]


async def test_events_heard_before_the_history_is_out_wait_and_doubles_are_dropped() -> None:
    socket = Socket(stored=3)
    await socket.hear(message(3))  # said while the history was being read: in both
    await socket.hear({"type": events.CHAT_TYPING, "author": "ann"})
    await socket.hear(message(4))
    assert socket.sent == []
    await socket.delivery.go_live(socket.stored[:3])
    assert socket.ids() == [1, 2, 3, 4]
    assert [frame["type"] for frame in socket.sent] == ["chat.message"] * 3 + ["chat.typing", "chat.message"]


async def test_a_hole_is_filled_from_the_database_and_later_events_wait_their_turn() -> None:
    socket = Socket(stored=5)
    await socket.delivery.go_live([])
    await socket.hear(message(1))
    socket.database_answers.clear()
    await socket.hear(message(5))  # 2 to 4 were lost on the way
    await socket.hear({"type": events.CHAT_TYPING, "author": "bob"})
    await socket.hear(message(6))
    assert socket.ids() == [1], "nothing overtakes the hole while the database answers"
    socket.database_answers.set()
    await socket.delivery.catching_up
    assert socket.ids() == [1, 2, 3, 4, 5, 6]
    assert socket.sent[-2]["type"] == events.CHAT_TYPING
    assert socket.reads == [("between", 1, 5)]


async def test_after_a_layer_outage_what_was_missed_comes_from_the_database_once() -> None:
    socket = Socket(stored=4)
    await socket.delivery.go_live(socket.stored[:2])
    await socket.hear({"type": events.LAYER_RECOVERED})
    await socket.delivery.catching_up
    await socket.hear(message(4))  # a replayed send: already there
    await socket.hear(message(5))
    assert socket.ids() == [1, 2, 3, 4, 5]
    assert socket.reads == [("after", 2)]


async def test_catching_up_from_an_id_sends_only_what_is_newer() -> None:
    socket = Socket(stored=6)
    await socket.delivery.go_live(socket.stored[3:], after=3)
    await socket.hear(message(3))
    assert socket.ids() == [4, 5, 6]


async def test_a_database_that_fails_while_filling_a_hole_leaves_the_socket_live() -> None:
    socket = Socket()

    async def failing(after: int, before: int) -> list[dict]:
        raise DatabaseError("down")

    socket.delivery.read_between = failing
    await socket.delivery.go_live([])
    await socket.hear(message(3))
    await socket.delivery.catching_up
    assert socket.delivery.held is None, "live again: the next reconnect's catch-up fetches the rest"
    await socket.hear({"type": events.CHAT_TYPING, "author": "ann"})
    assert socket.sent[-1]["type"] == events.CHAT_TYPING


def edit(message_id: int, text: str) -> dict:
    return {"type": events.CHAT_EDIT, "id": message_id, "message": text, "edited": "2026-01-01T00:00:00.000Z"}


async def test_an_edit_heard_before_its_message_sends_the_message_as_stored_and_drops_its_stale_copy() -> None:
    # Message 2 is said on one process and edited on another; the edit's event overtakes the message's.
    socket = Socket(stored=2)
    socket.stored[1] = {**socket.stored[1], "message": "m2, fixed"}
    await socket.delivery.go_live(socket.stored[:1])
    await socket.hear(edit(2, "m2, fixed"))
    await socket.delivery.catching_up
    await socket.hear(message(2))  # the late event, with the text before the edit
    assert [(frame["type"], frame["id"], frame["message"]) for frame in socket.sent] == [
        ("chat.message", 1, "m1"),
        ("chat.message", 2, "m2, fixed"),
        (events.CHAT_EDIT, 2, "m2, fixed"),
    ]
    assert socket.reads == [("between", 1, 3)]


async def test_a_deletion_heard_before_its_message_keeps_that_message_off_the_socket() -> None:
    socket = Socket(stored=3)
    del socket.stored[1]  # message 2 is deleted: the database no longer reads it as a message
    await socket.delivery.go_live(socket.stored[:1])
    await socket.hear({"type": events.CHAT_DELETE, "id": 2})
    await socket.delivery.catching_up
    await socket.hear(message(2))
    await socket.hear(message(3))
    assert socket.ids() == [1, 3]
    assert socket.reads == [("between", 1, 3)]


async def test_an_edit_of_a_message_the_socket_has_goes_out_at_once() -> None:
    socket = Socket(stored=2)
    await socket.delivery.go_live(socket.stored)
    await socket.hear(edit(1, "m1, fixed"))
    assert socket.delivery.catching_up is None
    assert socket.sent[-1] == edit(1, "m1, fixed")
    assert socket.reads == []


async def test_a_catch_up_s_edits_and_deletions_go_out_though_their_ids_are_not_new() -> None:
    socket = Socket(stored=4)
    changes = [protocol.edit(2, "m2, fixed", "2026-01-01T00:00:00.000Z"), protocol.delete(3)]
    await socket.delivery.go_live([socket.stored[3], *changes], after=3)
    assert [(frame["type"], frame["id"]) for frame in socket.sent] == [("chat.message", 4), ("edit", 2), ("delete", 3)]
