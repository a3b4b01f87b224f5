"""One socket's place in its room: every message once, in id order, and other events in their turn.

A socket hears its room's Group from the moment it joins, before its history
is out, and a live message may overtake one that another process sent first
or that a full queue dropped. `Delivery` keeps the rules that make that safe:

- ``delivered`` is the newest message id the socket has; anything older is
  dropped, so a message heard both in history and live goes out once.
- Events wait in ``held`` while the database answers (the history at
  connect, a hole to fill, a catch-up after a layer outage); they are then
  handled in the order they came.
- A message beyond ``delivered + 1`` shows a hole: the missing ones are read
  from the database and sent first.
- An edit or a deletion of a message beyond ``delivered`` was made before that
  message reached the socket (its event, from another process, is still on the
  way, and carries the old text): the messages up to it are read from the
  database as they are now, and its own event is dropped when it comes.
- ``edit`` and ``delete`` frames among the frames read (a catch-up's, for
  messages the socket holds) are sent as they are: a page applies them once.

It needs no socket: it is given a way to send text, a way to handle the
other events, and the two database reads it may need.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from django.db import DatabaseError

from chat import events, protocol

logger = logging.getLogger(__name__)

# Group events one socket keeps while the database answers; older ones are dropped.
HELD_EVENTS_LIMIT = 1000

SendText = Callable[[str], Awaitable[None]]
Handle = Callable[[dict], Awaitable[None]]
# (after, before) -> the frames of the stored messages between those ids, oldest first.
ReadBetween = Callable[[int, int], Awaitable[list[dict]]]
# (after) -> the frames of the stored messages newer than that id, oldest first.
ReadAfter = Callable[[int], Awaitable[list[dict]]]


class Delivery:
    """The order of one socket's events; see the module docstring."""

    def __init__(
        self, *, send_text: SendText, handle_other: Handle, read_between: ReadBetween, read_after: ReadAfter
    ) -> None:
        self.send_text = send_text
        self.handle_other = handle_other
        self.read_between = read_between
        self.read_after = read_after
        self.delivered = 0
        # Events (with their text) waiting while the database answers; None once live.
        self.held: list[tuple[dict, str]] | None = []
        self.catching_up: asyncio.Task | None = None

    async def go_live(self, frames: list[dict], after: int | None = None) -> None:
        """Send the first frames (history, or what came after id `after`), then what was held meanwhile."""
        if after is not None:
            self.delivered = after
        await self.send_frames(frames)
        await self.release_held()

    async def event(self, event: dict, text: str) -> None:
        """An event of one of the socket's Groups, in the order the process received them.

        Called for each socket in turn, so it never waits on the database: an
        event that needs it starts a task, and the events after it wait in
        `held` until that task has handled them.
        """
        if self.held is not None:
            self.held.append((event, text))
            if len(self.held) > HELD_EVENTS_LIMIT:
                # A socket stuck that long loses no message by this: a later id finds the hole.
                # (An edit dropped here shows on the page after its next reconnect's catch-up.)
                del self.held[0]
        elif self.needs_database(event):
            self.held = [(event, text)]
            self.catching_up = asyncio.create_task(self.release_held())
        else:
            await self.handle(event, text)

    def needs_database(self, event: dict) -> bool:
        """Whether `event` can only be handled after a database read (see the module docstring)."""
        kind = event["type"]
        if kind == events.CHAT_MESSAGE:
            return event["id"] > self.delivered + 1
        if kind in (events.CHAT_EDIT, events.CHAT_DELETE):
            return event["id"] > self.delivered
        return kind == events.LAYER_RECOVERED

    async def handle(self, event: dict, text: str) -> None:
        kind = event["type"]
        if kind == events.CHAT_MESSAGE:
            await self.chat_message(event, text)
        elif kind == events.LAYER_RECOVERED:
            # The layer was away: whatever was said (or changed) meanwhile is in the database.
            await self.send_frames(await self.read_after(self.delivered))
        else:
            if kind in (events.CHAT_EDIT, events.CHAT_DELETE) and event["id"] > self.delivered:
                # Changed before its message came: the database has it (or not, deleted) as it is now.
                await self.send_frames(await self.read_between(self.delivered, event["id"] + 1))
                self.delivered = event["id"]
            await self.handle_other(event)

    async def release_held(self) -> None:
        """Handle the held events in order, then take events as they come."""
        try:
            while self.held:
                await self.handle(*self.held.pop(0))
        except DatabaseError as exc:
            # The held messages stay in the database; the next catch-up (a reconnect) gets them.
            logger.error("Could not read missed messages: %s", exc)
        self.held = None

    # --8<-- [start:chat-message]
    async def chat_message(self, event: dict, text: str) -> None:
        """A message said in the room, delivered through the Group (`text`: the event encoded)."""
        message_id = event["id"]
        if message_id <= self.delivered:
            return
        if message_id > self.delivered + 1:
            # Lost on the way (a full queue) or overtaken by a later one from
            # another process; either way it is in the database by now.
            await self.send_frames(await self.read_between(self.delivered, message_id))
        await self.send_text(text)
        self.delivered = message_id

    # --8<-- [end:chat-message]

    async def send_frames(self, frames: list[dict]) -> None:
        """Send the ``chat.message`` frames (oldest first) the socket doesn't have yet, and other frames as they are."""
        for frame in frames:
            if frame["type"] != protocol.CHAT_MESSAGE:
                await self.send_text(protocol.encode(frame))  # a catch-up's edit or delete
            elif frame["id"] > self.delivered:
                await self.send_text(protocol.encode(frame))
                self.delivered = frame["id"]

    def stop(self) -> None:
        if self.catching_up is not None:
            self.catching_up.cancel()
