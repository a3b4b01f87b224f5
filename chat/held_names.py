"""Which guest holds which name online, across every Daphne process (`accounts.names.NameHolders`).

A guest holds their name (its `accounts.names.name_key`) while any socket of
theirs is open: one entry per socket, naming the holder's person key, with
a last-seen time. In Redis when ``REDIS_URL`` (or Sentinel) is set (a sorted set per name),
else in this process's memory. Sockets refresh their entry with their presence
heartbeat (`chat.attendance`) and remove it when they go; an entry older than
``CHAT_PRESENCE_TTL`` is gone, so a killed process frees its guests' names
within that. Entries are per socket so that a guest closing one of two tabs
keeps the name.

While Redis is away or hung, nobody is found holding anything (as presence is
then unknown): a guest is let in under their name rather than locked out, and
only this one check is lost; the reserved names and the accounts' are in the
database.
"""

import asyncio
import hashlib
import logging
import time

import redis
import redis.asyncio
from django.conf import settings

from chat import redis_servers
from chat.layers import REDIS_ERRORS
from chat.presence import safely

logger = logging.getLogger(__name__)


def _entry(holder: str, socket_id: str) -> str:
    return f"{holder}\n{socket_id}"  # person keys hold no line breaks


def _holder(entry: str | bytes) -> str:
    text = entry.decode() if isinstance(entry, bytes) else entry
    return text.split("\n", 1)[0]


class MemoryHeldNames:
    """One process only, as with the in-memory channel layer; shared by its event loops (its sync views ask too)."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, float]] = {}  # name key -> {entry: last seen}

    def _current(self, key: str) -> dict[str, float]:
        entries = self.entries.get(key, {})
        cutoff = time.time() - settings.CHAT_PRESENCE_TTL
        for entry in [entry for entry, seen in entries.items() if seen < cutoff]:
            del entries[entry]
        if not entries:
            self.entries.pop(key, None)
        return entries

    async def hold(self, key: str, holder: str, socket_id: str) -> str | None:
        entries = self._current(key)
        other = next((_holder(entry) for entry in entries if _holder(entry) != holder), None)
        if other is None:
            self.entries.setdefault(key, {})[_entry(holder, socket_id)] = time.time()
        return other

    async def release(self, key: str, holder: str, socket_id: str) -> None:
        self.entries.get(key, {}).pop(_entry(holder, socket_id), None)
        self._current(key)

    async def holders(self, keys: list[str]) -> dict[str, str]:
        found = {key: self.holder_now(key) for key in keys}
        return {key: holder for key, holder in found.items() if holder is not None}

    def holder_now(self, key: str) -> str | None:
        return next((_holder(entry) for entry in self._current(key)), None)


# Drop the name's expired entries; if another holder has a live one, answer it; else hold the name.
# One script, so that two guests taking one name at once on two processes cannot both get it.
_HOLD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3] - ARGV[4])
for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local holder = string.match(entry, '^[^\\n]*')
  if holder ~= ARGV[1] then return holder end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[4] * 2000))
return false
"""


class RedisHeldNames:
    """Shared by every process that uses the same Redis servers; one per event loop (`chat.process`).

    Each name lives on the server its Redis key hashes to (`chat.redis_servers`).
    """

    def __init__(self, servers: list[dict]) -> None:
        self.clients = [
            redis_servers.async_client(server, max_connections=20, socket_timeout=5, socket_connect_timeout=2)
            for server in servers
        ]
        self._holds = [client.register_script(_HOLD) for client in self.clients]

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    @staticmethod
    def key(name_key: str) -> str:
        """The name's Redis key: a digest, as a name may hold any character."""
        return "chat:name:" + hashlib.sha256(name_key.encode()).hexdigest()[:32]

    def _server(self, key: str) -> int:
        return redis_servers.server_index(self.key(key), len(self.clients))

    async def hold(self, key: str, holder: str, socket_id: str) -> str | None:
        hold = self._holds[self._server(key)]
        entry = _entry(holder, socket_id)
        other = await safely(hold(keys=[self.key(key)], args=[holder, entry, time.time(), _ttl()]), None)
        return None if other is None else _holder(other)

    async def release(self, key: str, holder: str, socket_id: str) -> None:
        await safely(self.clients[self._server(key)].zrem(self.key(key), _entry(holder, socket_id)), None)

    async def holders(self, keys: list[str]) -> dict[str, str]:
        """Who holds each of `keys`; a server that is away answers for none of its names."""
        by_server: dict[int, list[str]] = {}
        for key in keys:
            by_server.setdefault(self._server(key), []).append(key)
        answers = await asyncio.gather(
            *(safely(self._holders(self.clients[index], some), {}) for index, some in by_server.items())
        )
        return {key: holder for answer in answers for key, holder in answer.items()}

    @staticmethod
    async def _holders(client: redis.asyncio.Redis, keys: list[str]) -> dict[str, str]:
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                _ask_holder(pipe, key)
            answers = await pipe.execute()
        return {key: _holder(found[0]) for key, found in zip(keys, answers, strict=True) if found}


def _ask_holder(client: redis.Redis | redis.asyncio.Redis, key: str) -> object:
    """Ask for one live entry of the name `key` (its holder's), on a client or a pipeline."""
    return client.zrangebyscore(RedisHeldNames.key(key), time.time() - _ttl(), "+inf", start=0, num=1)


def _ttl() -> float:
    return float(settings.CHAT_PRESENCE_TTL)


# The process's own store when there is no Redis: its sync views and every event loop share it.
memory = MemoryHeldNames()


# The sync clients, by the servers they are for (settings may change, in tests).
_sync_clients_by_servers: dict[str, list[redis.Redis]] = {}


def _sync_clients() -> list[redis.Redis]:
    servers = repr(settings.REDIS_SERVERS)
    if servers not in _sync_clients_by_servers:
        _sync_clients_by_servers[servers] = [
            redis_servers.sync_client(server, socket_timeout=2, socket_connect_timeout=2, max_connections=20)
            for server in settings.REDIS_SERVERS
        ]
    return _sync_clients_by_servers[servers]


def holder_now(key: str) -> str | None:
    """For sync code (the lobby's form): who holds the name `key` online now; None too while Redis is away.

    A plain Redis client, rather than the event loop's store: sync code may have
    no event loop to lend it (a view under gunicorn), and one made per call would
    leave its connections behind.
    """
    if not settings.REDIS_SERVERS:
        return memory.holder_now(key)
    clients = _sync_clients()
    try:
        found = _ask_holder(clients[redis_servers.server_index(RedisHeldNames.key(key), len(clients))], key)
    except REDIS_ERRORS as exc:
        logger.info("Held names are unavailable: %r", exc)
        return None
    return _holder(found[0]) if found else None


def new_store() -> MemoryHeldNames | RedisHeldNames:
    """The store for one event loop (Redis connections belong to one loop): Redis's, or this process's memory."""
    return RedisHeldNames(settings.REDIS_SERVERS) if settings.REDIS_SERVERS else memory
