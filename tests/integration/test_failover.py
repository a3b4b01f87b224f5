"""Redis Sentinel fails the chat over to a replica mid-conversation: sockets stay open, nothing is lost or doubled.

A primary with one replica and three Sentinels, two Daphne processes that find
the primary through the Sentinels (``REDIS_SENTINELS``), PostgreSQL. A sender
says messages steadily while the primary is killed with SIGKILL; Sentinel
promotes the replica, the layer follows it, and what was said meanwhile
(stored and acknowledged all along) reaches every socket once and in order,
through the layer's queued sends or from the database on ``layer.recovered``.
"""

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket
from pytest_channels_live import (
    DaphneCluster,
    DaphneServer,
    PostgresServer,
    RedisSentinel,
    RedisServer,
    start_all,
    stop_all,
    wait_for,
)

from tests.conftest import NO_LIMITS, ReportFigures, migrate, server_environment
from tests.wsclient import ChatClient

MASTER_NAME = "chat-primary"
# A classroom's pace rather than a flood: the failover spans a few seconds of it.
MESSAGES_PER_SECOND = 20


class Failover:
    """A primary, its replica and three Sentinels watching them, each on a free port."""

    def __init__(self, folder: Path) -> None:
        folders = [folder / name for name in ("primary", "replica", "sentinel-0", "sentinel-1", "sentinel-2")]
        for path in folders:
            path.mkdir(parents=True)
        self.primary = RedisServer(folders[0])
        self.replica = RedisServer(folders[1], replica_of=self.primary)
        self.sentinels = [RedisSentinel(path, MASTER_NAME, self.primary, [self.replica]) for path in folders[2:]]

    def start(self) -> None:
        self.primary.start()
        self.replica.start()  # after the primary, whose port it is given
        start_all(self.sentinels)

    def wait_until_ready(self) -> None:
        # Sentinels meet each other through the primary every 2 s; before that, no quorum could agree it is down.
        wait_for(
            lambda: all(sentinel.knows(sentinels=2, replicas=1) for sentinel in self.sentinels),
            20,
            "the Sentinels to know each other and the replica",
        )

    def stop(self) -> None:
        stop_all([*self.sentinels, self.replica, self.primary])


@pytest.fixture
def failover(tmp_path: Path) -> Iterator[Failover]:
    servers = Failover(tmp_path / "redis")
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture
def sentinel_cluster(tmp_path: Path, failover: Failover, postgres_server: PostgresServer) -> Iterator[DaphneCluster]:
    """Two Daphne processes on PostgreSQL that ask the Sentinels where Redis is (no REDIS_URL)."""
    env = server_environment(
        migrate(postgres_server.url),
        redis_url="",
        REDIS_SENTINELS=",".join(sentinel.address for sentinel in failover.sentinels),
        REDIS_SENTINEL_MASTER=MASTER_NAME,
        **NO_LIMITS,
    )
    cluster = DaphneCluster([DaphneServer(tmp_path / f"daphne-{index}.log", env) for index in range(2)])
    start_all(cluster.servers)
    failover.wait_until_ready()  # meanwhile, rather than before the migration and the processes
    yield cluster
    stop_all(cluster.servers)


class Listener:
    """A socket read on a thread of its own, noting when each chat.message arrived, until stopped or closed."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.arrivals: list[tuple[float, int]] = []
        self.closed_with: Exception | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        while not self.stopping.is_set():
            try:
                frame = self.client.receive(timeout=0.5)
            except websocket.WebSocketTimeoutException:
                continue
            except (ConnectionError, websocket.WebSocketException) as error:
                self.closed_with = error
                return
            if frame.get("type") == "chat.message":
                self.arrivals.append((time.monotonic(), frame["id"]))

    def holds(self, ids: set[int]) -> bool:
        return ids <= {message_id for _, message_id in self.arrivals}

    def ids(self) -> list[int]:
        return [message_id for _, message_id in self.arrivals]

    def first_arrival_after(self, last_id: int) -> float | None:
        return next((arrived for arrived, message_id in self.arrivals if message_id > last_id), None)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.client.close()


class Sender:
    """A socket that says numbered messages at a steady pace, each acknowledged before the next."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.acked: list[int] = []
        self.next_at = time.monotonic()

    def say_next(self) -> int:
        # Paced from a schedule, so a slow ack shortens the next wait rather than adding to it.
        time.sleep(max(0.0, self.next_at - time.monotonic()))
        self.next_at = max(self.next_at + 1 / MESSAGES_PER_SECOND, time.monotonic())
        number = len(self.acked)
        self.acked.append(self.client.post(f"message {number}", f"m-{number}", timeout=15))
        return self.acked[-1]

    def ids(self) -> list[int]:
        return self.client.ids()

    def hear(self, ids: set[int], timeout: float) -> None:
        """Read the socket until its own messages `ids` have all come back through the room, or `timeout` is up."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(websocket.WebSocketTimeoutException):
            while not ids <= set(self.ids()) and (remaining := deadline - time.monotonic()) > 0:
                self.client.receive(timeout=remaining)


def settle(listeners: list[Listener], sender: Sender, ids: set[int], timeout: float) -> None:
    """Wait until every socket holds `ids`, or `timeout` is up: what is missing then is counted as lost."""
    deadline = time.monotonic() + timeout
    while not all(lis.holds(ids) for lis in listeners) and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.hear(ids, timeout=deadline - time.monotonic())


def missing(clients: list[Listener | Sender], ids: set[int]) -> int:
    return sum(len(ids - set(client.ids())) for client in clients)


def test_a_sentinel_failover_keeps_sockets_open_and_loses_nothing(
    sentinel_cluster: DaphneCluster, failover: Failover, room_name: str, report_figures: ReportFigures
) -> None:
    sender = Sender(ChatClient(sentinel_cluster[0], room_name))
    listeners = [Listener(ChatClient(server, room_name)) for server in (sentinel_cluster[0], sentinel_cluster[1])]
    try:
        for _ in range(20):
            sender.say_next()
        wait_for(lambda: all(lis.holds(set(sender.acked)) for lis in listeners), 10, "the conversation to flow")

        failover.primary.kill()
        killed_at, last_before = time.monotonic(), sender.acked[-1]
        # The conversation goes on while the Sentinels fail over: each message is stored and acknowledged.
        # It stops once the replica is promoted, before any Sentinel names it, so before the layer can be back.
        while failover.replica.role() != "master":
            if time.monotonic() > killed_at + 30:
                pytest.fail("the Sentinels never promoted the replica")
            sender.say_next()
        said_during = {message_id for message_id in sender.acked if message_id > last_before}
        assert said_during, "nothing was said while the Sentinels failed over"

        # Then a quiet room: no later message can show a socket a gap to fill, so only the layer's
        # recovery (its queued sends, and `layer.recovered` for the catch-up) brings what was said.
        before_quiet = set(sender.acked)
        settle(listeners, sender, before_quiet, timeout=15)
        lost = missing([sender, *listeners], before_quiet)
        arrivals = [lis.first_arrival_after(last_before) for lis in listeners]
        resumed_seconds = max(arrivals) - killed_at if all(arrivals) else None

        for _ in range(10):
            sender.say_next()
        after_quiet = set(sender.acked) - before_quiet
        settle(listeners, sender, after_quiet, timeout=15)
        lost += missing([sender, *listeners], after_quiet)
        wait_for(
            lambda: {sentinel.primary_port() for sentinel in failover.sentinels} == {failover.replica.port},
            10,
            "every Sentinel to name the promoted replica",
        )
    finally:
        for lis in listeners:
            lis.stop()
        sender.client.close()

    doubled = sum(count - 1 for client in [sender, *listeners] for count in collections.Counter(client.ids()).values())
    resumed = "never" if resumed_seconds is None else f"{resumed_seconds:.2f} s after the primary was killed"
    report_figures(
        "failover",
        f"Sentinel failover: {len(sender.acked)} messages acknowledged ({len(said_during)} while failing over) "
        f"on 3 sockets over 2 Daphne processes: {lost} lost, {doubled} doubled; delivery resumed {resumed}",
    )
    assert [lis.closed_with for lis in listeners] == [None, None], "a socket closed"
    assert (lost, doubled) == (0, 0)
    for client in [sender, *listeners]:
        assert client.ids() == sorted(client.ids()), "out of order"
    assert sentinel_cluster.tracebacks() == []
