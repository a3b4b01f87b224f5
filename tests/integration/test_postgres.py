"""PostgreSQL with fewer connections than concurrent requests: one Daphne process stays within its pool.

Django can't keep persistent connections safely in async code: under Daphne each
request may run in a thread of its own and leave its connection behind. With
the pool (mysite/settings.py), a process holds at most DATABASE_POOL_SIZE
backends whatever the load, and a server that was full serves again once it
has room.
"""

import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from pytest_channels_live import DaphneServer, PostgresServer, wait_for

from tests.conftest import migrate, running_postgres, start_cluster
from tests.servers import readiness

MAX_CONNECTIONS = 30
POOL_SIZE = 5
WAVES = 3
# More requests at once than the server has connections, so one connection per request would run out.
REQUESTS_PER_WAVE = 2 * MAX_CONNECTIONS


@pytest.fixture(scope="module")
def small_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own, with few connections, so that no other test's processes count."""
    yield from running_postgres(tmp_path_factory.mktemp("postgres-small"), MAX_CONNECTIONS)


def pooled_daphne(log_dir: Path, postgres: PostgresServer, **overrides: str) -> Iterator[DaphneServer]:
    """One Daphne process on a database of its own in `postgres`, so that its backends can be counted."""
    database_url = migrate(postgres.create_database(f"chat_{uuid.uuid4().hex[:8]}"))
    cluster = start_cluster(log_dir, 1, database_url, redis_url="", **overrides)
    try:
        yield cluster[0]
    finally:
        cluster.stop()


@pytest.fixture
def daphne(tmp_path: Path, small_postgres: PostgresServer) -> Iterator[DaphneServer]:
    yield from pooled_daphne(tmp_path, small_postgres, DATABASE_POOL_SIZE=str(POOL_SIZE))


@pytest.fixture
def impatient_daphne(tmp_path: Path, small_postgres: PostgresServer) -> Iterator[DaphneServer]:
    """Gives up on a busy database after a second, so that a full server shows in /readyz at once."""
    yield from pooled_daphne(tmp_path, small_postgres, DATABASE_POOL_SIZE="2", DATABASE_POOL_TIMEOUT="1")


def database_of(server: DaphneServer) -> str:
    """The name of the database a Daphne process was given."""
    return server.env["DATABASE_URL"].rsplit("/", 1)[-1]


def get_status(url: str) -> int | str:
    """The response's status, or the name of the error when there was no response."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:  # refused, reset or timed out: a failure too, named in the assertion
        return type(error).__name__


def test_waves_of_requests_beyond_max_connections_all_answer_within_the_pool(
    daphne: DaphneServer, small_postgres: PostgresServer, room_name: str
) -> None:
    # A quarter of the requests ask /readyz, the rest load a room's page (session and user: a few queries each).
    urls = [
        f"{daphne.http_url}/readyz" if index % 4 == 0 else f"{daphne.http_url}/chat/{room_name}-{index % 10}/"
        for index in range(REQUESTS_PER_WAVE)
    ]
    most_held = 0
    done = threading.Event()

    def watch_backends() -> None:
        nonlocal most_held
        while not done.is_set():
            most_held = max(most_held, small_postgres.backends(database_of(daphne)))
            done.wait(0.02)

    statuses: Counter = Counter()
    watcher = threading.Thread(target=watch_backends)
    watcher.start()
    try:
        with ThreadPoolExecutor(REQUESTS_PER_WAVE) as pool:
            for _wave in range(WAVES):
                statuses.update(pool.map(get_status, urls))
    finally:
        done.set()
        watcher.join()
    held_after = small_postgres.backends(database_of(daphne))

    assert statuses == {200: WAVES * REQUESTS_PER_WAVE}, f"answers by status: {dict(statuses)}"
    assert most_held <= POOL_SIZE, f"the process held {most_held} backends at once"
    assert held_after <= POOL_SIZE
    assert readiness(daphne)[0] == 200


def take_every_connection(postgres: PostgresServer) -> list[psycopg.Connection]:
    """Open connections as the application's role until PostgreSQL refuses one; returns those it accepted."""
    taken: list[psycopg.Connection] = []
    refusal = None
    while refusal is None:
        try:
            taken.append(psycopg.connect(postgres.database_url("postgres"), connect_timeout=5))
        except psycopg.OperationalError as exc:
            refusal = str(exc)
    assert "too many clients" in refusal or "reserved for" in refusal, refusal
    return taken


def test_readyz_recovers_once_a_full_server_has_room_again(
    impatient_daphne: DaphneServer, small_postgres: PostgresServer
) -> None:
    assert readiness(impatient_daphne)[0] == 200
    # The process's connections are cut off (as when PostgreSQL restarts), and another
    # client takes every connection there is: the process can't reach its database now.
    with small_postgres.connect() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [database_of(impatient_daphne)],
        )
    # Terminating only signals the backends: their slots are free once they have exited.
    wait_for(lambda: small_postgres.backends(database_of(impatient_daphne)) == 0, 10, "the backends to exit")
    taken = take_every_connection(small_postgres)
    try:
        status, body = readiness(impatient_daphne)
        assert status == 503
        assert body["checks"]["database"] == "down"
    finally:
        for connection in taken:
            connection.close()

    wait_for(lambda: readiness(impatient_daphne)[0] == 200, 30, "/readyz to say ready again")
    assert small_postgres.backends(database_of(impatient_daphne)) <= 2
