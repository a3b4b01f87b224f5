"""Each room's recent history, kept in memory by every process that has sockets in the room.

A socket that opens a room gets its last ``CHAT_HISTORY_LENGTH`` messages. Read
from the database for every socket, a class arriving at once costs a query per
student. Instead a process keeps the room's newest messages while it has
sockets in the room: loaded once, then kept current by the room's Group (it is
one more member of the process's fan-out), and dropped with the last socket.

It only ever serves what the database holds: anything it cannot follow for
certain makes it step aside, and the next socket reads the database and starts
a new one. That is a hole in the ids it hears, a deletion, an admin's change
(``history.changed``), a channel-layer outage, or an edit of a message newer
than it has heard of.

An author's edit (``chat.edit``) it follows in place: the message keeps its
place among the newest, only its text and ``edited`` change, and an edit older
than the one it shows (two edits heard out of order) is passed over. A
deletion makes it step aside instead: the message leaves the window, and the
older message that would take its place is in the database only. Deletions
are rare; edits of a typo, a moment after the message, are not.
"""

import asyncio
import collections
from collections.abc import Callable

from django.conf import settings

from chat import events, selectors
from chat.fanout import LocalFanout
from chat.groups import room_group_name
from chat.models import Room


class RoomHistory:
    """The newest messages of one room, as ``chat.message`` frames, for the sockets of this process."""

    def __init__(self, room_name: str, fanout: LocalFanout, on_stale: Callable[["RoomHistory"], None]) -> None:
        self.room_name = room_name
        self.fanout = fanout
        self.group = room_group_name(room_name)
        self.on_stale = on_stale
        self.users = 0
        self.stale = False
        self.room: Room | None = None
        self.frames: collections.deque[dict] = collections.deque(maxlen=settings.CHAT_HISTORY_LENGTH)
        self.newest = 0
        self.held: list[dict] | None = []  # events heard while loading
        self.leaving: asyncio.Future | None = None
        self.loaded = asyncio.ensure_future(self._load())

    async def _load(self) -> None:
        # Join first, read second, as a socket does: nothing said in between is missed.
        await self.fanout.join(self.group, self)
        try:
            self.room, frames = await selectors.aopen_room(self.room_name)
        except Exception:
            self._go_stale()
            raise
        self.newest = self.room.last_message_id
        for frame in frames:
            self.frames.append(frame)
            self.newest = max(self.newest, frame["id"])
        held, self.held = self.held, None
        for event in held:
            self._follow(event)

    async def recent(self) -> tuple[Room, list[dict]] | None:
        """The room and its newest messages, oldest first; None if this history can no longer be trusted."""
        try:
            await asyncio.shield(self.loaded)
        except Exception:  # the socket reads the database itself, and reports what fails there
            return None
        if self.stale or self.room is None:
            return None
        return self.room, list(self.frames)

    async def group_event(self, event: dict, text: str) -> None:
        if self.held is not None:
            self.held.append(event)
        elif not self.stale:
            self._follow(event)

    def _follow(self, event: dict) -> None:
        kind = event["type"]
        if kind == events.CHAT_MESSAGE:
            if event["id"] == self.newest + 1:
                self.frames.append(event)
                self.newest = event["id"]
            elif event["id"] > self.newest + 1:
                self._go_stale()  # a message it never heard of: the database knows better
        elif kind == events.CHAT_EDIT:
            self._follow_edit(event)
        elif kind in (events.CHAT_DELETE, events.HISTORY_CHANGED, events.LAYER_RECOVERED):
            self._go_stale()

    def _follow_edit(self, event: dict) -> None:
        if event["id"] > self.newest:
            # Edited before its message reached this process: that message's event carries the old text.
            self._go_stale()
            return
        for index in range(len(self.frames) - 1, -1, -1):
            frame = self.frames[index]
            if frame["id"] == event["id"]:
                # ISO times of one format compare as the times they spell; edits are a millisecond apart at least.
                if frame["edited"] is None or frame["edited"] < event["edited"]:
                    # A new frame: the old one may be on its way to sockets still.
                    self.frames[index] = {**frame, "message": event["message"], "edited": event["edited"]}
                return

    def _step_aside(self) -> bool:
        """Stop serving sockets; True the first time, when the caller must also leave the Group."""
        if self.stale:
            return False
        self.stale = True
        self.on_stale(self)
        return True

    def _go_stale(self) -> None:
        if self._step_aside():
            # Called while the fan-out hands out an event, so the leaving waits for its own turn.
            self.leaving = asyncio.ensure_future(self.fanout.leave(self.group, self))

    async def release(self) -> None:
        """A socket that used this history has gone; the last one takes it out of the Group."""
        self.users -= 1
        if self.users == 0 and self._step_aside():
            await self.fanout.leave(self.group, self)


class Histories:
    """This process's room histories, by room name."""

    def __init__(self, fanout: LocalFanout) -> None:
        self.fanout = fanout
        self.rooms: dict[str, RoomHistory] = {}

    def acquire(self, room_name: str) -> RoomHistory:
        """The room's history, started if needed; call `RoomHistory.release` when the socket goes."""
        history = self.rooms.get(room_name)
        if history is None:
            history = self.rooms[room_name] = RoomHistory(room_name, self.fanout, self._forget)
        history.users += 1
        return history

    def _forget(self, history: RoomHistory) -> None:
        if self.rooms.get(history.room_name) is history:
            del self.rooms[history.room_name]
