"""The fixtures: Redis, PostgreSQL, Daphne clusters and browsers, and a check of what the servers logged."""

import copy
import os
import signal
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_channels_live.browsers import (
    DEFAULT_WINDOW_SIZE,
    RESET_TIMEOUT,
    PooledBrowser,
    new_browser,
    quit_browser,
    within,
)
from pytest_channels_live.daphne import (
    DaphneCluster,
    application_root,
    default_application,
    settings_environment,
    write_static_application,
)
from pytest_channels_live.postgres import PostgresServer
from pytest_channels_live.processes import STARTED, TRACEBACK, ServerProcess
from pytest_channels_live.redis_servers import RedisServer

DaphneClusterFactory = Callable[..., DaphneCluster]
BrowserFactory = Callable[..., PooledBrowser]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("daphne_application", "Daphne's module:attribute (default: from Django's ASGI_APPLICATION)")
    parser.addini("daphne_processes", "How many processes the daphne_cluster fixture starts", default="2")
    parser.addini(
        "daphne_serve_static",
        "Serve static files (django.contrib.staticfiles) from the Daphne processes, as runserver does",
        type="bool",
        default=True,
    )
    parser.addini("chromium_binary", "Chromium's executable", default="/usr/bin/chromium")
    parser.addini("chromedriver_binary", "chromedriver's executable", default="/usr/bin/chromedriver")
    parser.addini("browser_pool_size", "Browsers kept between tests, wiped, to save starting them", default="4")


def pytest_configure(config: pytest.Config) -> None:
    end_on_sigterm_as_on_ctrl_c()
    config.addinivalue_line("markers", "browsers(count): how many browsers the `browsers` fixture opens (2)")
    config.addinivalue_line(
        "markers", "allow_server_tracebacks: don't fail the test when a server logs a traceback during it"
    )


# Redis and PostgreSQL


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the tests' own on a free port, for the whole run; tests may stop, kill and start it."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RedisServer]]:
    """`redis_server_factory(replica_of=None)`: one more started redis-server; all are stopped after the test."""
    started: list[RedisServer] = []

    def start(replica_of: RedisServer | None = None) -> RedisServer:
        server = RedisServer(tmp_path_factory.mktemp("redis"), replica_of=replica_of)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL of the tests' own, in a temporary folder on a free port, for the whole run; then deleted."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres") / "postgres.log")
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., PostgresServer]]:
    """`postgres_server_factory(max_connections=100)`: one more started PostgreSQL; each is deleted after the test."""
    started: list[PostgresServer] = []

    def start(max_connections: int = 100, role: str = "app", database: str = "app") -> PostgresServer:
        server = PostgresServer(tmp_path_factory.mktemp("postgres") / "postgres.log", max_connections, role, database)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.remove()


# Daphne


def redis_channel_layer(url: str) -> dict[str, Any]:
    """CHANNEL_LAYERS for channels-redis on one server.

    No socket timeout: redis-py 8 would otherwise close the layer's idle
    connections, and with them the idle WebSockets they serve.
    """
    host = {"address": url, "socket_timeout": None, "socket_connect_timeout": 5, "socket_keepalive": True}
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}}


def databases_for_servers() -> dict[str, Any]:
    """Django's DATABASES as pytest-django's test set-up left them (each NAME the test database's)."""
    from django.conf import settings

    databases = copy.deepcopy(settings.DATABASES)
    for alias, database in databases.items():
        name = str(database.get("NAME", ""))
        if "sqlite3" in database.get("ENGINE", "") and (name in ("", ":memory:") or "mode=memory" in name):
            pytest.fail(
                f"The test database {alias!r} is SQLite in memory, which Daphne processes can't open. "
                f"Give it a file in your settings: DATABASES[{alias!r}]['TEST'] = "
                "{'NAME': BASE_DIR / 'test-db.sqlite3'}, or use the postgres_server fixture.",
                pytrace=False,
            )
    return databases


def names_test_database(database: Mapping[str, Any]) -> bool:
    """Whether a `DATABASES` entry names its test database already, as Django's test set-up leaves it."""
    from django.db.backends.base.creation import TEST_DATABASE_PREFIX

    name = str(database.get("NAME") or "")
    test_name = (database.get("TEST") or {}).get("NAME")
    if test_name:
        return name == str(test_name)
    if "sqlite3" in database.get("ENGINE", ""):
        return name == ":memory:" or "mode=memory" in name
    return name.startswith(TEST_DATABASE_PREFIX)


@pytest.fixture(scope="session")
def _server_test_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """The test databases the servers are given, created if pytest-django has not created them.

    pytest-django creates only the databases some selected test asks for (a
    `django_db` marker, `db`, `live_server`); without one, the servers would be
    given the project's real databases. These are created as pytest-django would,
    and dropped after the run.
    """
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    request.getfixturevalue("django_db_setup")
    missing = [
        alias
        for alias, database in settings.DATABASES.items()
        if not names_test_database(database) and not (database.get("TEST") or {}).get("MIRROR")
    ]
    if not missing:
        yield
        return
    keepdb = request.getfixturevalue("django_db_keepdb") and not request.getfixturevalue("django_db_createdb")
    verbosity = request.config.option.verbose
    with request.getfixturevalue("django_db_blocker").unblock():
        created = setup_databases(
            verbosity=verbosity, interactive=False, keepdb=keepdb, aliases=missing, serialized_aliases=()
        )
    yield
    if not keepdb:
        with request.getfixturevalue("django_db_blocker").unblock():
            teardown_databases(created, verbosity=verbosity)


@pytest.fixture(scope="session")
def daphne_application(pytestconfig: pytest.Config) -> str:
    """What Daphne serves, as ``module:attribute``: the ini option, or Django's ASGI_APPLICATION."""
    if configured := pytestconfig.getini("daphne_application"):
        return configured
    return default_application()


@pytest.fixture(scope="session")
def daphne_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Django settings the Daphne processes run with, over the project's own: the test databases and Redis.

    Override it in a conftest.py to change them, or return {} for settings that
    come from the environment (see `daphne_env`).
    """
    redis = request.getfixturevalue("redis_server")
    request.getfixturevalue("_server_test_databases")
    return {"DATABASES": databases_for_servers(), "CHANNEL_LAYERS": redis_channel_layer(redis.url)}


@pytest.fixture(scope="session")
def daphne_env() -> dict[str, str]:
    """Environment variables added for the Daphne processes (none); override it in a conftest.py."""
    return {}


def start_daphne_cluster(
    config: pytest.Config,
    log_dir: Path,
    size: int,
    application: str,
    settings: Mapping[str, Any],
    env: Mapping[str, str],
) -> DaphneCluster:
    """`size` Daphne processes serving `application` with Django `settings` over the project's, and `env`."""
    from django.conf import settings as django_settings

    cwd = application_root(application)
    base_settings = env.get("DJANGO_SETTINGS_MODULE") or os.environ.get("DJANGO_SETTINGS_MODULE", "")
    if not base_settings:
        pytest.fail("DJANGO_SETTINGS_MODULE is not set (pytest-django's option or daphne_env).", pytrace=False)
    environment = {"PYTHONUNBUFFERED": "1", **env, **settings_environment(log_dir, base_settings, settings, cwd)}
    serve_static = config.getini("daphne_serve_static")
    if serve_static and "django.contrib.staticfiles" in django_settings.INSTALLED_APPS:
        application = write_static_application(log_dir, application)
    return DaphneCluster.start(log_dir, size, environment, application, cwd)


@pytest.fixture(scope="session")
def daphne_cluster(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    daphne_application: str,
    daphne_settings: dict[str, Any],
    daphne_env: dict[str, str],
) -> Iterator[DaphneCluster]:
    """Daphne processes (`daphne_processes`, 2) sharing the test database and Redis, for the whole run."""
    size = int(pytestconfig.getini("daphne_processes"))
    cluster = start_daphne_cluster(
        pytestconfig, tmp_path_factory.mktemp("daphne"), size, daphne_application, daphne_settings, daphne_env
    )
    yield cluster
    cluster.stop()


@pytest.fixture
def daphne_cluster_factory(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    daphne_application: str,
    daphne_settings: dict[str, Any],
    daphne_env: dict[str, str],
) -> Iterator[DaphneClusterFactory]:
    """`daphne_cluster_factory(size=2, settings=None, env=None)`: a cluster of the test's own, stopped after it.

    `settings` and `env` are added to `daphne_settings` and `daphne_env`.
    """
    started: list[DaphneCluster] = []

    def start(
        size: int = 2, *, settings: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> DaphneCluster:
        cluster = start_daphne_cluster(
            pytestconfig,
            tmp_path_factory.mktemp("daphne"),
            size,
            daphne_application,
            {**daphne_settings, **(settings or {})},
            {**daphne_env, **(env or {})},
        )
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


# Browsers


@pytest.fixture(scope="session")
def chromium_binaries(pytestconfig: pytest.Config) -> tuple[str, str]:
    """(Chromium, chromedriver): the ini options chromium_binary and chromedriver_binary."""
    return pytestconfig.getini("chromium_binary"), pytestconfig.getini("chromedriver_binary")


@pytest.fixture(scope="session")
def idle_browsers() -> Iterator[list[PooledBrowser]]:
    """Browsers a test has finished with, wiped, for the next test: starting Chromium takes a second or two."""
    idle: list[PooledBrowser] = []
    yield idle
    for browser in idle:
        quit_browser(browser)


@pytest.fixture
def browser_factory(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    chromium_binaries: tuple[str, str],
    idle_browsers: list[PooledBrowser],
) -> Iterator[BrowserFactory]:
    """`browser_factory(window_size=(1024, 768), arguments=())`: one more headless Chromium, a person of its own.

    After the test each is wiped (windows, cookies, storage) and kept for a later
    test, or closed. `arguments` are added to Chromium's command line.
    """
    opened: list[PooledBrowser] = []

    def open_browser(
        window_size: tuple[int, int] = DEFAULT_WINDOW_SIZE, arguments: tuple[str, ...] = ()
    ) -> PooledBrowser:
        browser = None
        if not arguments:
            browser = next((idle for idle in idle_browsers if tuple(idle.window_size) == tuple(window_size)), None)
        if browser is not None:
            idle_browsers.remove(browser)
        else:
            chromium, chromedriver = chromium_binaries
            browser = new_browser(
                chromium, chromedriver, tmp_path_factory.mktemp("profile"), tuple(window_size), tuple(arguments)
            )
            browser.reusable = not arguments
        opened.append(browser)
        return browser

    yield open_browser
    pool_size = int(pytestconfig.getini("browser_pool_size"))
    for browser in opened:
        if len(idle_browsers) < pool_size and within(RESET_TIMEOUT, browser.reset):
            idle_browsers.append(browser)
        else:
            quit_browser(browser)


@pytest.fixture
def browsers(request: pytest.FixtureRequest, browser_factory: BrowserFactory) -> list[PooledBrowser]:
    """Headless Chromium browsers, each a person of its own: two, or `@pytest.mark.browsers(n)`."""
    marker = request.node.get_closest_marker("browsers")
    count = 2
    if marker:
        count = marker.args[0] if marker.args else marker.kwargs.get("count", 2)
        if type(count) is not int or count < 0:
            pytest.fail(f"@pytest.mark.browsers takes a number of browsers, 0 or more, not {count!r}", pytrace=False)
    return [browser_factory() for _ in range(count)]


# What the servers logged


def traceback_excerpt(server: ServerProcess, text: str) -> str:
    """The first traceback in `text`, down to its exception's line; a long one keeps its start and its end."""
    lines = text[TRACEBACK.search(text).start() :].splitlines()
    end = len(lines)
    for number, line in enumerate(lines[1:], start=1):
        chained = line.startswith(("Traceback", "During handling", "The above exception"))
        if line and not line[0].isspace() and not chained:
            end = number + 1
            break
    block = lines[:end]
    if len(block) > 80:
        block = [*block[:10], "    ...", *block[-60:]]
    excerpt = f"{server.name} ({server.log_path}):\n" + "\n".join(block)
    if "database is locked" in block[-1]:
        excerpt += (
            "\n(The test's own transaction holds SQLite's lock: a test whose servers write to the "
            "database needs @pytest.mark.django_db(transaction=True).)"
        )
    return excerpt


# How far each server's log has been read for tracebacks: what was logged since is new.
READ_UP_TO: dict[ServerProcess, int] = {}


def new_tracebacks() -> list[str]:
    """Excerpts of the tracebacks the servers logged since the last look, and mark them read."""
    found = []
    for server in list(STARTED):
        start, READ_UP_TO[server] = READ_UP_TO.get(server, 0), server.log_size()
        text = server.log_since(start)
        if TRACEBACK.search(text):
            found.append(traceback_excerpt(server, text))
    return found


@pytest.fixture(autouse=True)
def fail_on_server_tracebacks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test when a server started through this plugin logged a Python traceback.

    Everything logged since the previous test's check counts: a traceback logged
    between two tests (while a session-wide server starts) fails the next one
    rather than going unseen. A server that logs a traceback has failed at
    something, even when the test's own checks pass.
    `@pytest.mark.allow_server_tracebacks` opts a test out.
    """
    if request.node.get_closest_marker("allow_server_tracebacks"):
        new_tracebacks()
        yield
        new_tracebacks()
        return
    yield
    if found := new_tracebacks():
        pytest.fail(
            "A server logged a traceback during the test (or since the previous test's end):\n\n" + "\n\n".join(found),
            pytrace=False,
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Tracebacks logged after the last test (while the servers stop) fail the run, since no test can."""
    if found := new_tracebacks():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.section("a server logged a traceback after the last test", red=True)
            reporter.write_line("\n\n".join(found))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def end_on_sigterm_as_on_ctrl_c() -> None:
    """SIGTERM (a CI job's timeout, `timeout`) ends the run as Ctrl+C does: fixtures stop their servers.

    Without this the run would die at once and leave its servers and browsers running.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
