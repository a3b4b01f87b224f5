"""This project's own Redis clients, and which of the servers in ``REDIS_SERVERS`` keeps a key.

With several servers (shards), channels-redis keeps each Group on the server
its name hashes to. This project's own keys follow the same rule, hashed on
what they belong to: a room's presence on its Group's name, so that each room
lives wholly on one server and a server that restarts touches only its own
rooms; a name held by a guest on the name's key.

A server is either a URL or a primary that Sentinel follows (``REDIS_SENTINELS``);
a client of the latter asks Sentinel where the primary is whenever it
(re)connects, so after a failover it finds the promoted replica by itself.
"""

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from channels_redis.utils import _consistent_hash
from django.conf import settings


def server_index(name: str, server_count: int) -> int:
    """Which of `server_count` servers keeps `name`: channels-redis's own placement of Groups.

    A test checks this against the layer's `consistent_hash`, so an upgrade of
    channels-redis that placed Groups differently would be noticed.
    """
    return _consistent_hash(name, server_count)


def _sentinel_options() -> dict:
    timeout = settings.REDIS_COMMAND_TIMEOUT
    return {"socket_timeout": timeout, "socket_connect_timeout": min(timeout, 2)}


def async_client(server: dict, max_connections: int, **options: object) -> redis.asyncio.Redis:
    """A client of one server of ``REDIS_SERVERS``, for one event loop.

    For a URL, its pool waits for a free connection rather than failing when many
    sockets ask at once. Sentinel's pools can't wait, so they are not capped.
    """
    if "address" in server:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            server["address"], max_connections=max_connections, timeout=10, **options
        )
        return redis.asyncio.Redis(connection_pool=pool)
    sentinel = redis.asyncio.sentinel.Sentinel(server["sentinels"], sentinel_kwargs=_sentinel_options())
    return sentinel.master_for(server["master_name"], **options)


def sync_client(server: dict, **options: object) -> redis.Redis:
    """A blocking client of one server, for code with no event loop (a view under gunicorn)."""
    if "address" in server:
        return redis.Redis.from_url(server["address"], **options)
    sentinel = redis.sentinel.Sentinel(server["sentinels"], sentinel_kwargs=_sentinel_options())
    return sentinel.master_for(server["master_name"], **options)
