"""One socket's presence in a room, from its arrival to its departure.

The socket's entry in the presence store (`chat.presence`) is made when it
arrives, told to the room, refreshed by a heartbeat beside the socket, and
removed when it goes. The heartbeat keeps the entries of live processes
fresh, so that only those of dead processes expire. A guest's hold on their
name (`accounts.names.NameHold`, taken and let go by the socket) is kept
fresh by the same heartbeat.
"""

import asyncio
import logging

from django.conf import settings

from accounts.identity import Person
from accounts.names import NameHold
from chat import presence, services
from chat.process import process_state

logger = logging.getLogger(__name__)


class Attendance:
    """One socket's presence entry in one room: its person's name and kind, and a guest's hold on the name."""

    __slots__ = ("room_name", "socket_id", "name", "kind", "room_kind", "name_hold", "heartbeat")

    def __init__(
        self,
        room_name: str,
        socket_id: str,
        person: Person,
        *,
        room_kind: str | None = None,
        name_hold: NameHold | None = None,
    ) -> None:
        self.room_name = room_name
        self.socket_id = socket_id
        self.name = person.name
        self.kind = person.kind  # so that pages can offer to message the accounts they list
        # `services.members_only_kind` of the room: a private room's lobby counts go to members only.
        self.room_kind = room_kind
        self.name_hold = name_hold
        self.heartbeat: asyncio.Task | None = None

    async def arrive(self) -> None:
        """Be present, tell the room, and keep the entry fresh until `leave`."""
        await self._touch(announce=True)
        self.heartbeat = asyncio.create_task(self._stay())

    async def leave(self) -> None:
        """Stop the heartbeat, remove the entry and tell the room; safe to call before `arrive` finished."""
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        store = process_state().presence
        await presence.safely(store.remove(self.room_name, self.socket_id, self.name, kind=self.kind), None)
        await services.apublish_presence(self.room_name, self.room_kind)

    async def _touch(self, announce: bool = False) -> None:
        """Refresh the entry; tell the room when it is new or entries expired."""
        store = process_state().presence
        dropped = await presence.safely(store.touch(self.room_name, self.socket_id, self.name, kind=self.kind), 0)
        if dropped or announce:
            await services.apublish_presence(self.room_name, self.room_kind)

    async def _keep_name(self) -> None:
        if self.name_hold is not None and await self.name_hold.keep() is not None:
            # Another guest took the name while this socket's hold had lapsed (Redis was away): theirs now.
            logger.info("A guest's name in room %r is held by another guest now", self.room_name)

    async def _stay(self) -> None:
        while True:
            await asyncio.sleep(settings.CHAT_PRESENCE_HEARTBEAT)
            try:
                await self._keep_name()
                await self._touch()
            except Exception:  # a heartbeat must outlive a bad moment (the layer being away, say)
                logger.warning("Presence heartbeat failed in room %r", self.room_name, exc_info=True)
