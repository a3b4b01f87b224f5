"""Four Daphne processes on two Redis shards: a room spans every process, and each room lives on one shard.

The shards are this test's own: the held names of its guests live on them and go with them.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from pytest_channels_live import DaphneCluster, DaphneServer, RedisServer, start_all, stop_all

from chat.groups import room_group_name
from chat.redis_servers import server_index
from tests.conftest import server_environment
from tests.functional.pages import ChatPage
from tests.wsclient import ChatClient

SHARDS = 2
PROCESSES = 4


@pytest.fixture
def shards(tmp_path: Path) -> Iterator[list[RedisServer]]:
    servers = [RedisServer(tmp_path / f"shard-{index}") for index in range(SHARDS)]
    for server in servers:
        server.workdir.mkdir()
    start_all(servers)
    yield servers
    stop_all(servers)


@pytest.fixture
def sharded_cluster(tmp_path: Path, shards: list[RedisServer], server_database: str) -> Iterator[DaphneCluster]:
    """Four Daphne processes with ``REDIS_URL`` naming both shards."""
    env = server_environment(server_database, ",".join(server.url for server in shards))
    cluster = DaphneCluster([DaphneServer(tmp_path / f"daphne-{index}.log", env) for index in range(PROCESSES)])
    start_all(cluster.servers)
    yield cluster
    stop_all(cluster.servers)
    assert cluster.tracebacks() == []


def room_on_shard(shard: int, prefix: str) -> str:
    """A room whose Group channels-redis keeps on server `shard`."""
    return next(f"{prefix}-{n}" for n in range(100) if server_index(room_group_name(f"{prefix}-{n}"), SHARDS) == shard)


def test_a_room_spans_four_processes_on_two_shards_and_each_room_lives_on_its_shard(
    sharded_cluster: DaphneCluster,
    shards: list[RedisServer],
    browsers: Callable[[], ChatPage],
    room_name: str,
) -> None:
    rooms = [room_on_shard(shard, room_name) for shard in range(SHARDS)]
    pages = [browsers() for _ in sharded_cluster]
    for page, server in zip(pages, sharded_cluster, strict=True):
        page.open_room(server, rooms[0])
    for number, page in enumerate(pages):
        page.say(f"hello from process {number}")
    for page in pages:
        for number in range(PROCESSES):
            page.wait_for_message(f"hello from process {number}", timeout=5)

    # The other shard's room, with a socket on each process.
    clients = [ChatClient(server, rooms[1]) for server in sharded_cluster]
    try:
        clients[0].post("on the other shard", "other-shard")
        for client in clients:
            client.receive_message("on the other shard")

        for room in rooms:
            group = room_group_name(room)
            keeper = server_index(group, SHARDS)
            for index, shard in enumerate(shards):
                with redis.Redis.from_url(shard.url) as shard_client:
                    assert shard_client.exists(f"asgi:group:{group}") == (index == keeper), (
                        f"room {room!r}: its Group on shard {index}, where channels-redis keeps it on {keeper}"
                    )
        assert sorted(server_index(room_group_name(room), SHARDS) for room in rooms) == [0, 1]
    finally:
        for client in clients:
            client.close()
