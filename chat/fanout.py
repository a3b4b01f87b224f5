"""Local fan-out: each process is one member of a Group, whatever the number of its sockets.

A room is a channel-layer Group, as in the Channels tutorial. There, every
socket's channel joins the Group, so each message to a room of 200 is
received, unpacked and dispatched 200 times by the process that holds those
sockets. Here the process joins each Group once, through a `Hub` with a
channel of its own, and hands each event it receives to its local members in
turn: one receive per process and message, one JSON encoding, then a plain
call per socket.

The hub lets the event loop turn after every socket. Its frames then go
out while the rest of the room waits, and the events that arrive meanwhile
are passed on together: each socket gets all of them in one go, which the
server writes to it in one system call instead of one per message.

Members are objects with an async ``group_event(event, text)`` method (the chat
consumers). Groups and events are the channel layer's own: ``group_send`` to
a room reaches every process's hub, and so every socket of the room.
"""

import asyncio
import logging
from typing import Protocol

from channels.layers import BaseChannelLayer

from chat import protocol

logger = logging.getLogger(__name__)

# Sockets handed events between two turns of the event loop (see the module docstring).
SOCKETS_PER_TURN = 1
# Events a hub keeps received but not yet passed on; past that, they wait in the channel layer.
PENDING_EVENTS_LIMIT = 100


class Member(Protocol):
    async def group_event(self, event: dict, text: str) -> None:
        """One event of a Group the member joined, in the order this process received them.

        `text` is the event as JSON (`protocol.encode`), encoded once for all members.
        """


class Hub:
    """This process's one member of one Group: receives the Group's events and passes them on."""

    def __init__(self, layer: BaseChannelLayer, group: str) -> None:
        self.layer = layer
        self.group = group
        self.members: dict[Member, None] = {}  # a set that keeps joining order
        # Members by the name an event may address them by: an event with ``to`` goes only to those it names.
        self.addressed: dict[str, dict[Member, None]] = {}
        self.channel = ""
        self.pending: list[dict] = []  # received, not yet passed on
        self.joined = asyncio.ensure_future(self._join())
        self.receiving: asyncio.Task | None = None
        self.passing_on: asyncio.Task | None = None

    # --8<-- [start:hub]
    async def _join(self) -> None:
        # The default prefix: channels-redis reads all of a process's channels from
        # one Redis list, named after it.
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.receiving = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        while True:
            if len(self.pending) >= PENDING_EVENTS_LIMIT:
                await asyncio.wait([self.passing_on])  # the rest wait in the channel layer meanwhile
            self.pending.append(await self.layer.receive(self.channel))
            if self.passing_on is None or self.passing_on.done():
                self.passing_on = asyncio.create_task(self._pass_on())

    async def _pass_on(self) -> None:
        while self.pending:
            batch = [(event, protocol.encode(event)) for event in self.pending]
            self.pending.clear()
            # An addressed event costs its recipients only, not every socket of the process.
            for event, text in (item for item in batch if "to" in item[0]):
                for number, member in enumerate(self._named(event["to"]), start=1):
                    await self._hand(member, event, text)
                    if number % SOCKETS_PER_TURN == 0:
                        await asyncio.sleep(0)
            batch = [item for item in batch if "to" not in item[0]]
            for number, member in enumerate(list(self.members) if batch else [], start=1):
                for event, text in batch:
                    await self._hand(member, event, text)
                if number % SOCKETS_PER_TURN == 0:
                    await asyncio.sleep(0)

    # --8<-- [end:hub]

    def _named(self, names: list[str]) -> list[Member]:
        found: dict[Member, None] = {}
        for name in names:
            found.update(self.addressed.get(name, {}))
        return list(found)

    async def _hand(self, member: Member, event: dict, text: str) -> None:
        try:
            await member.group_event(event, text)
        except Exception:  # one member's fault must not cut the others off
            logger.exception("A socket failed on a %r event of %s", event.get("type"), self.group)

    async def renew(self) -> None:
        """Join the Group again, which resets the age the layer keeps for this member."""
        if self.joined.done() and not self.joined.cancelled():
            await self.layer.group_add(self.group, self.channel)

    async def leave(self) -> None:
        """Stop passing events on and leave the Group (once the last member has gone)."""
        self.joined.cancel()
        for task in (self.receiving, self.passing_on):
            if task is not None:
                task.cancel()
        if self.channel:
            await self.layer.group_discard(self.group, self.channel)


class LocalFanout:
    """The hubs of one process (one event loop), by Group name."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.hubs: dict[str, Hub] = {}
        self.renewing: asyncio.Task | None = None

    async def join(self, group: str, member: Member, address: str | None = None) -> None:
        """Add `member` to `group`; on return, every event sent to the Group from then on reaches it.

        With an `address`, the member also gets the Group's addressed events (those with
        ``to``) that name it, and only those of them.
        """
        hub = self.hubs.get(group)
        if hub is None:
            hub = self.hubs[group] = Hub(self.layer, group)
            if self.renewing is None:
                self.renewing = asyncio.create_task(self._renew_memberships())
        if address is None:
            hub.members[member] = None
        else:
            hub.addressed.setdefault(address, {})[member] = None
        # Shielded: a member that goes away must not cancel the join the others wait for.
        await asyncio.shield(hub.joined)

    async def leave(self, group: str, member: Member, address: str | None = None) -> None:
        """Take `member` out of `group` (as it joined); the process leaves the Group with its last member."""
        hub = self.hubs.get(group)
        if hub is None:
            return
        hub.members.pop(member, None)
        if address is not None and member in hub.addressed.get(address, {}):
            del hub.addressed[address][member]
            if not hub.addressed[address]:
                del hub.addressed[address]
        if not hub.members and not hub.addressed:
            del self.hubs[group]
            if not self.hubs and self.renewing is not None:
                self.renewing.cancel()
                self.renewing = None
            await hub.leave()

    async def _renew_memberships(self) -> None:
        # The layer drops Group members older than group_expiry (a day by default):
        # a room that stays busy for longer than that must not go quiet.
        interval = getattr(self.layer, "group_expiry", 86400) / 3
        while True:
            await asyncio.sleep(interval)
            for hub in list(self.hubs.values()):
                try:
                    await hub.renew()
                except Exception:  # the next round tries again
                    logger.warning("Could not renew this process's membership of %s", hub.group, exc_info=True)

    def members(self, group: str) -> int:
        """How many local members `group` has."""
        hub = self.hubs.get(group)
        return len(hub.members) + sum(len(named) for named in hub.addressed.values()) if hub else 0
