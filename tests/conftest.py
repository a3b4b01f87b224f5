"""The project's servers, from pytest-channels-live's fixtures: Redis, PostgreSQL and Daphne clusters.

The plugin (``pytest-channels-live/``) starts the servers, and fails a test
whose servers logged a traceback; this file gives them this project's
settings. Session-wide, so the suites share one Redis and one cluster; each
test uses rooms of its own (see `room_name`), so tests don't hear each other.
Tests that start Daphne run on PostgreSQL, and the integration suite on SQLite
too (see `pytest_generate_tests`).
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from pytest_channels_live import DaphneCluster, PostgresServer, RedisServer

from tests.servers import PROJECT_ROOT

# In CI, property tests try the same examples every run: a failure there is a
# regression, never the luck of the draw. Locally they keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


API_TOKEN = "tests-only-api-token-0123456789"

# Load tests switch the per-socket limits off, as `bench/` does.
NO_LIMITS = {"CHAT_RATE_LIMIT": "0", "CHAT_MAX_CONNECTIONS_PER_IP": "0", "CHAT_HANDSHAKE_RATE": "0"}

# The tests' PostgreSQL admits few connections, so that a process holding more than its
# pool allows runs out at once. A dozen processes (the clusters, gunicorn, commands) with
# pools of DATABASE_POOL_SIZE fit below it: the budget docs/deploy.md asks for.
POSTGRES_MAX_CONNECTIONS = 50
TEST_POOL_SIZE = 3


def server_environment(database_url: str, redis_url: str = "", **overrides: str) -> dict[str, str]:
    """The environment a deployment would give Daphne, with debug off."""
    return {
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "tests-only-secret-key-for-daphne",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHAT_API_TOKEN": API_TOKEN,
        "DATABASE_POOL_SIZE": str(TEST_POOL_SIZE),
        # Short, so that tests see a killed process's people expire within seconds.
        "CHAT_PRESENCE_TTL": "4",
        "CHAT_PRESENCE_HEARTBEAT": "1",
        # Each test says things in rooms of its own, all from 127.0.0.1: the new-room limit per
        # address would stop the suite partway (tests/unit/test_rooms.py tests it).
        "CHAT_NEW_ROOMS_PER_IP": "0",
        "PYTHONUNBUFFERED": "1",
    } | overrides


def running_postgres(log_dir: Path, max_connections: int) -> Iterator[PostgresServer]:
    """Start a PostgreSQL of the tests' own, yield it, then remove it and its folder."""
    server = PostgresServer(log_dir / "postgres.log", max_connections, role="chat", database="chat")
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """The plugin's PostgreSQL, admitting few connections (`POSTGRES_MAX_CONNECTIONS`), with a role `chat`."""
    yield from running_postgres(tmp_path_factory.mktemp("postgres"), POSTGRES_MAX_CONNECTIONS)


def migrate(database_url: str) -> str:
    """Create the project's tables in the database at `database_url`, as a deployment would; returns the URL."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **server_environment(database_url)},
        check=True,
    )
    return database_url


# The databases the Daphne processes run on, by suite. The browser tests are the slow ones and
# test the pages rather than the database, so they run on PostgreSQL, the one for a real class,
# alone; twice would take the whole of `make test` past 6.5 minutes on two cores.
SERVER_DATABASES = {"integration": ["sqlite", "postgres"], "functional": ["postgres"]}


def create_staff_user(database_url: str, username: str, password: str) -> None:
    """A superuser in the servers' database, made the way an administrator would."""
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", username, "--email", ""],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url) | {"DJANGO_SUPERUSER_PASSWORD": password},
        check=True,
        capture_output=True,
    )


def create_user(database_url: str, username: str, password: str) -> None:
    """An account in the servers' database, as signing up would make it."""
    code = (
        "import os; from django.contrib.auth import get_user_model;"
        " get_user_model().objects.create_user(os.environ['NEW_USERNAME'], '', os.environ['NEW_PASSWORD'])"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url) | {"NEW_USERNAME": username, "NEW_PASSWORD": password},
        check=True,
        capture_output=True,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses `server_database` (directly or through a cluster) once per database of its suite."""
    if "server_database" in metafunc.fixturenames:
        suite = metafunc.definition.path.parent.name
        backends = SERVER_DATABASES.get(suite, ["sqlite", "postgres"])
        if only := metafunc.definition.get_closest_marker("server_databases"):
            backends = [backend for backend in backends if backend in only.args]
        metafunc.parametrize("server_database", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def server_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database for the Daphne processes, as `DATABASE_URL`: a SQLite file or PostgreSQL.

    Session-wide per database: pytest runs all of one database's tests before the
    other's, so the clusters start once for each.
    """
    if request.param == "postgres":
        return migrate(request.getfixturevalue("postgres_server").url)
    return migrate(f"sqlite:///{tmp_path_factory.mktemp('db') / 'chat.sqlite3'}")


# --8<-- [start:start-cluster]
def start_cluster(log_dir: Path, size: int, database_url: str, redis_url: str, **overrides: str) -> DaphneCluster:
    env = server_environment(database_url, redis_url, **overrides)
    return DaphneCluster.start(log_dir, size, env, "mysite.asgi:application", PROJECT_ROOT)


# --8<-- [end:start-cluster]


@pytest.fixture(scope="session")
# --8<-- [start:daphne-cluster]
def daphne_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, server_database: str
) -> Iterator[DaphneCluster]:
    """Two Daphne processes on the Redis channel layer: a room spans both."""
    cluster = start_cluster(tmp_path_factory.mktemp("daphne"), 2, server_database, redis_server.url)
    yield cluster
    cluster.stop()


# --8<-- [end:daphne-cluster]


@pytest.fixture(scope="session")
def unlimited_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, server_database: str
) -> Iterator[DaphneCluster]:
    """Two more Daphne processes with rate and connection limits off, for load and fuzz tests."""
    cluster = start_cluster(
        tmp_path_factory.mktemp("daphne-unlimited"), 2, server_database, redis_server.url, **NO_LIMITS
    )
    yield cluster
    cluster.stop()


# Figures a test measured (a failover's seconds, messages lost): shown after the run whatever
# the output capture, and kept in test-artifacts/<name>.txt.
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FIGURES = pytest.StashKey[list[str]]()
ReportFigures = Callable[[str, str], None]


@pytest.fixture
def report_figures(request: pytest.FixtureRequest) -> ReportFigures:
    """`report_figures(name, text)`: one line of what the test measured, for the run's summary and a file."""

    def report(name: str, text: str) -> None:
        request.config.stash.setdefault(FIGURES, []).append(text)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{name}.txt").write_text(text + "\n")

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    figures = terminalreporter.config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("measured")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.fixture
def room_name() -> str:
    """A room no other test uses."""
    return f"room-{uuid.uuid4().hex[:10]}"
