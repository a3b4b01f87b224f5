"""Who is in each room, across every Daphne process.

Each socket is an entry with a last-seen time: in Redis when ``REDIS_URL`` (or
Sentinel) is set (one sorted set per room, scored by time, on the server that
keeps the room's Group), else in this process's memory.
Sockets refresh their entry every ``CHAT_PRESENCE_HEARTBEAT`` seconds; an
entry older than ``CHAT_PRESENCE_TTL`` is gone, so a process killed outright
leaves no ghosts for longer than that. A person with several tabs counts once.

An entry also says what kind of person it is (``account``, ``staff`` or
``guest``, as `accounts.identity.Person.kind`), so that a page can offer to
message the accounts it lists.
"""

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Iterable
from typing import Protocol, TypeVar

import redis.asyncio
from django.conf import settings

from accounts.identity import GUEST
from chat import redis_servers
from chat.groups import room_group_name
from chat.layers import REDIS_ERRORS

logger = logging.getLogger(__name__)

ROOMS_KEY = "chat:presence:rooms"


def _member(socket_id: str, name: str, kind: str) -> str:
    """An entry: ``<kind>:<socket id>``, a line break, the name.

    The kind rides before the socket id, not after the name, so that a process of
    the version before kinds (which reads the name as everything after the first
    line break) still reads the name right during a rolling upgrade. Socket ids
    hold neither colons nor line breaks, and names no line breaks.
    """
    return f"{kind}:{socket_id}\n{name}"


def _person(member: str | bytes) -> tuple[str, str]:
    """An entry's name and kind; an entry written before kinds (``<socket id>\n<name>``) is taken for a guest's."""
    text = member.decode() if isinstance(member, bytes) else member
    head, _, name = text.partition("\n")
    kind, colon, _ = head.partition(":")
    return name, kind if colon else GUEST


def _people(members: Iterable[str | bytes]) -> list[tuple[str, str]]:
    """Each (name, kind) once, sorted by name: one person's tabs count once, two kinds of one name twice."""
    return sorted({_person(member) for member in members})


class PresenceStore(Protocol):
    async def touch(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> int:
        """Mark a socket present now; returns how many expired entries of the room were dropped."""

    async def remove(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> None: ...

    async def names(self, room: str) -> list[str]:
        """The names present in the room, each once, sorted."""

    async def people(self, room: str) -> list[tuple[str, str]]:
        """The (name, kind) pairs present in the room, each once, sorted by name."""

    async def rooms(self) -> list[str]:
        """The rooms that may have someone present."""


class MemoryPresence:
    """One process only, as with the in-memory channel layer."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, float]] = {}

    def _prune(self, room: str) -> int:
        entries = self.entries.get(room, {})
        cutoff = time.time() - settings.CHAT_PRESENCE_TTL
        stale = [member for member, seen in entries.items() if seen < cutoff]
        for member in stale:
            del entries[member]
        return len(stale)

    async def touch(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> int:
        self.entries.setdefault(room, {})[_member(socket_id, name, kind)] = time.time()
        return self._prune(room)

    async def remove(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> None:
        self.entries.get(room, {}).pop(_member(socket_id, name, kind), None)

    async def names(self, room: str) -> list[str]:
        return sorted({name for name, _ in await self.people(room)})

    async def people(self, room: str) -> list[tuple[str, str]]:
        self._prune(room)
        return _people(self.entries.get(room, {}))

    async def rooms(self) -> list[str]:
        return [room for room, entries in self.entries.items() if entries]


class ServerPresence:
    """The rooms one Redis server keeps, shared by every process that uses that server.

    Writes are batched: those made while the previous batch is on its way to
    Redis go together in one pipeline, so a class joining at once costs a few
    round trips rather than one per socket.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.redis = client
        self._pending: list[tuple[str, str, bool]] = []  # (room, member, present)
        self._pending_done: asyncio.Future | None = None
        self._writer: asyncio.Task | None = None

    @staticmethod
    def key(room: str) -> str:
        return f"chat:presence:{room_group_name(room)}"

    async def touch(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> int:
        return await self._write(room, _member(socket_id, name, kind), present=True)

    async def remove(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> None:
        await self._write(room, _member(socket_id, name, kind), present=False)

    async def _write(self, room: str, member: str, present: bool) -> int:
        """Queue one change for the next batch and wait for it; returns the room's expired entries dropped."""
        self._pending.append((room, member, present))
        if self._pending_done is None:
            self._pending_done = asyncio.get_running_loop().create_future()
            # A failed batch with nobody left waiting must not log "exception was never retrieved".
            self._pending_done.add_done_callback(lambda done: done.cancelled() or done.exception())
        done = self._pending_done
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        dropped = await asyncio.shield(done)
        return dropped.get(room, 0)

    async def _write_batches(self) -> None:
        while self._pending:
            batch, done = self._pending, self._pending_done
            self._pending, self._pending_done = [], None
            try:
                dropped = await self._send(batch)
            except Exception as exc:  # each waiter gets it (and `safely` turns it into "unknown")
                done.set_exception(exc)
            else:
                done.set_result(dropped)

    async def _send(self, batch: list[tuple[str, str, bool]]) -> dict[str, int]:
        now = time.time()
        ttl = settings.CHAT_PRESENCE_TTL
        rooms = list(dict.fromkeys(room for room, _, _ in batch))
        async with self.redis.pipeline(transaction=False) as pipe:
            for room, member, present in batch:
                if present:
                    pipe.zadd(self.key(room), {member: now})
                else:
                    pipe.zrem(self.key(room), member)
            for room in rooms:
                pipe.expire(self.key(room), math.ceil(ttl * 2))
                pipe.zremrangebyscore(self.key(room), "-inf", now - ttl)
            if touched := list(dict.fromkeys(room for room, _, present in batch if present)):
                pipe.sadd(ROOMS_KEY, *touched)
            results = await pipe.execute()
        expiries = results[len(batch) : len(batch) + 2 * len(rooms)]
        return {room: expiries[2 * index + 1] for index, room in enumerate(rooms)}

    async def names(self, room: str) -> list[str]:
        return sorted({name for name, _ in await self.people(room)})

    async def people(self, room: str) -> list[tuple[str, str]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self.key(room), "-inf", time.time() - settings.CHAT_PRESENCE_TTL)
            pipe.zrange(self.key(room), 0, -1)
            _, members = await pipe.execute()
        if not members:
            await self.redis.srem(ROOMS_KEY, room)
        return _people(members)

    async def rooms(self) -> list[str]:
        return sorted(member.decode() for member in await self.redis.smembers(ROOMS_KEY))


class RedisPresence:
    """Shared by every process that uses the same Redis servers (``REDIS_SERVERS``).

    Each room's entries live on the server that keeps the room's Group, so a
    server that is away or restarting leaves the other servers' rooms known.
    """

    def __init__(self, servers: list[dict]) -> None:
        self.servers = [
            ServerPresence(
                redis_servers.async_client(server, max_connections=50, socket_timeout=5, socket_connect_timeout=2)
            )
            for server in servers
        ]

    key = staticmethod(ServerPresence.key)

    async def aclose(self) -> None:
        for server in self.servers:
            await server.redis.aclose()

    def server_for(self, room: str) -> ServerPresence:
        return self.servers[redis_servers.server_index(room_group_name(room), len(self.servers))]

    async def touch(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> int:
        return await self.server_for(room).touch(room, socket_id, name, kind=kind)

    async def remove(self, room: str, socket_id: str, name: str, *, kind: str = GUEST) -> None:
        await self.server_for(room).remove(room, socket_id, name, kind=kind)

    async def names(self, room: str) -> list[str]:
        return await self.server_for(room).names(room)

    async def people(self, room: str) -> list[tuple[str, str]]:
        return await self.server_for(room).people(room)

    async def rooms(self) -> list[str]:
        """The rooms of every server that answers; only if none does is the list unknown."""
        answers = await asyncio.gather(*(server.rooms() for server in self.servers), return_exceptions=True)
        found = [rooms for rooms in answers if not isinstance(rooms, BaseException)]
        if not found:
            raise answers[0]
        return sorted(room for rooms in found for room in rooms)


def new_store() -> PresenceStore:
    """A presence store for one event loop (Redis connections belong to one loop): Redis's, or this process's."""
    return RedisPresence(settings.REDIS_SERVERS) if settings.REDIS_SERVERS else MemoryPresence()


T = TypeVar("T")


# The longest a presence operation may take. Bounded, so that a hung Redis (stopped, not
# gone) cannot hold a socket's clean-up past the server's patience (Daphne's is 10 s).
OPERATION_TIMEOUT = 2.0


async def safely(operation: Awaitable[T], default: T) -> T:
    """Run a presence operation; while Redis is away or hung, presence is simply unknown (no traceback)."""
    try:
        async with asyncio.timeout(OPERATION_TIMEOUT):
            return await operation
    except REDIS_ERRORS as exc:
        logger.info("Presence is unavailable: %r", exc)
        return default
