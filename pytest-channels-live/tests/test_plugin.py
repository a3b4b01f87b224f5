"""The plugin's promises, each checked by running pytest on a small Django project written for it.

The project (`proj`) has no Channels code: Daphne serves Django's ASGI application behind a
wrapper that raises on /boom, and two views, /database/ (which database the process uses) and
/users/<name>/ (how many users have that name). The tests of one run share it; each check below
reads the outcome of the test it is about.
"""

import re

import pytest

SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "plugin-tests"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles"]
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
ROOT_URLCONF = "proj.urls"
ASGI_APPLICATION = "proj.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "TEST": {"NAME": BASE_DIR / "test-db.sqlite3"},
    }
}
USE_TZ = True
"""

# Django's default for SQLite: the test database in the test process's memory.
MEMORY_SETTINGS = """
from proj.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}  # noqa: F405
"""

ASGI = """
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
django_application = get_asgi_application()


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/boom":
        raise RuntimeError("boom from the test's server")
    await django_application(scope, receive, send)
"""

URLS = """
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpResponse
from django.urls import path


def database(request):
    return HttpResponse(f"{connection.vendor} {connection.settings_dict['NAME']}")


def users(request, username):
    return HttpResponse(str(User.objects.filter(username=username).count()))


urlpatterns = [path("database/", database), path("users/<username>/", users)]
"""

# What the project's tests import: an HTTP GET that returns (status, body) for errors too.
HELPERS = """
import urllib.error
import urllib.request


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
"""

SERVER_TESTS = """
import pytest
from helpers import get
from pytest_channels_live import HOST, wait_for
from pytest_channels_live.processes import port_accepts


def test_traceback(daphne_cluster_factory):
    server = daphne_cluster_factory(1)[0]
    assert get(server.http_url + "/boom")[0] == 500
    wait_for(server.tracebacks, 10, "the traceback in Daphne's log")


@pytest.mark.allow_server_tracebacks
def test_allowed_traceback(daphne_cluster_factory):
    server = daphne_cluster_factory(1)[0]
    assert get(server.http_url + "/boom")[0] == 500
    wait_for(server.tracebacks, 10, "the traceback in Daphne's log")


def test_redis_kill_and_start(redis_server):
    port = redis_server.port
    assert redis_server.ping()
    redis_server.kill()
    assert not redis_server.running
    assert not redis_server.ping()
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.ping()


def test_static_files(daphne_cluster_factory):
    server = daphne_cluster_factory(1)[0]
    assert get(server.http_url + "/static/site.css") == (200, "body { margin: 0 }")


def test_a_setting_with_no_literal_form(daphne_cluster_factory):
    daphne_cluster_factory(1, settings={"SESSION_SERIALIZER": object})


def test_leaves_windows_and_an_alert_open(browser_factory):
    browser = browser_factory()
    for _ in range(3):
        browser.execute_script("window.open('about:blank')")
    browser.switch_to.window(browser.window_handles[-1])
    browser.execute_script("setTimeout(() => alert('left open'), 0)")


def test_a_browser_after_the_alert(browser_factory):
    browser = browser_factory()
    browser.get("about:blank")
    assert len(browser.window_handles) == 1


@pytest.mark.browsers("2")
def test_a_browsers_marker_that_is_not_a_count(browsers):
    pass


def test_redis_start_twice_and_on_a_taken_port(redis_server_factory, tmp_path):
    from pytest_channels_live import RedisServer

    ours = redis_server_factory()
    with pytest.raises(pytest.fail.Exception, match="already running"):
        ours.start()
    ours.stop()
    other = RedisServer(tmp_path)
    other.port = ours.port
    other.start()
    try:
        with pytest.raises(pytest.fail.Exception, match="exited"):
            ours.start()
    finally:
        other.stop()


def test_daphne_kill_and_restart(daphne_cluster_factory):
    cluster = daphne_cluster_factory(2)
    ports = [server.port for server in cluster]
    cluster.kill(1)
    assert not cluster[1].running
    assert not port_accepts(ports[1])
    assert get(cluster[0].http_url + "/database/")[0] == 200
    cluster.restart(1)
    assert [server.port for server in cluster] == ports
    assert cluster[1].http_url == f"http://{HOST}:{ports[1]}"
    status, body = get(cluster[1].http_url + "/database/")
    assert status == 200
    assert body.startswith("sqlite ") and body.endswith("test-db.sqlite3")
"""

# The browsers of this module only: a Chromium that isn't there.
NO_CHROMIUM_TESTS = """
import pytest


@pytest.fixture(scope="session")
def chromium_binaries():
    return "/nonexistent/chromium", "/usr/bin/chromedriver"


def test_missing_chromium(browsers):
    pass
"""

MEMORY_TESTS = """
def test_servers_on_an_in_memory_database(daphne_cluster_factory):
    daphne_cluster_factory(1)
"""

POSTGRES_CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server):
    postgres_server.use_for_django_tests()
"""

POSTGRES_TESTS = """
import pytest
from django.contrib.auth.models import User
from django.db import connection
from helpers import get


@pytest.mark.django_db(transaction=True)
def test_daphne_reads_what_the_test_wrote(daphne_cluster_factory, postgres_server):
    User.objects.create(username="written-by-the-test")
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["PORT"] == str(postgres_server.port)
    server = daphne_cluster_factory(1)[0]
    assert get(server.http_url + "/database/") == (200, "postgresql test_app")
    assert get(server.http_url + "/users/written-by-the-test/") == (200, "1")
    with postgres_server.connect("test_app") as admin:
        rows = admin.execute("SELECT username FROM auth_user").fetchall()
    assert rows == [("written-by-the-test",)]
"""


def write_project(pytester: pytest.Pytester, ini_lines: str = "") -> None:
    (pytester.path / "proj").mkdir()
    pytester.makepyfile(
        **{
            "proj/__init__": "",
            "proj/settings": SETTINGS,
            "proj/memory_settings": MEMORY_SETTINGS,
            "proj/asgi": ASGI,
            "proj/urls": URLS,
            "helpers": HELPERS,
        }
    )
    (pytester.path / "assets").mkdir()
    (pytester.path / "assets" / "site.css").write_text("body { margin: 0 }")
    pytester.makeini(f"[pytest]\nDJANGO_SETTINGS_MODULE = proj.settings\npythonpath = .\n{ini_lines}")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # -p no:cacheprovider: nothing written into the project; -rA: a summary line per outcome.
    return pytester.runpytest_subprocess("-rA", "-p", "no:cacheprovider", *args, timeout=120)


def outcomes(result: pytest.RunResult, test: str) -> set[str]:
    """What the summary says of `test`: PASSED, FAILED, ERROR (at setup or teardown), SKIPPED."""
    pattern = re.compile(rf"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \S+::{test}\b")
    return {match[1] for line in result.outlines if (match := pattern.match(line))}


def section(result: pytest.RunResult, title: str) -> str:
    """The text of the report section whose `_____ title _____` header contains `title`."""
    text = "\n".join(result.outlines)
    # A section ends at the next one, or at a "=== ... ===" line (the summary, whose lines are whole under CI).
    headers = list(re.finditer(r"^(?:_{3,} (.*) _{3,}|={3,} .* ={3,})$", text, re.MULTILINE))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        if header[1] and title in header[1]:
            return text[header.end() : following.start() if following else None]
    raise AssertionError(f"No section {title!r} in the output:\n{text}")


@pytest.fixture(autouse=True)
def no_outer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's pytest.ini names its settings; a DJANGO_SETTINGS_MODULE in the environment would win."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)


# One run of the project's server tests, shared by the checks that read it.
_server_run: list[pytest.RunResult] = []


@pytest.fixture
def server_run(pytester: pytest.Pytester) -> pytest.RunResult:
    if not _server_run:
        write_project(pytester)
        pytester.makepyfile(test_servers=SERVER_TESTS, test_no_chromium=NO_CHROMIUM_TESTS)
        _server_run.append(run(pytester))
    result = _server_run[0]
    assert "skipped" not in result.parseoutcomes(), result.stdout.str()
    return result


def test_a_traceback_a_server_logs_during_a_test_fails_it_at_teardown(server_run):
    assert outcomes(server_run, "test_traceback") == {"PASSED", "ERROR"}, server_run.stdout.str()
    report = section(server_run, "ERROR at teardown of test_traceback")
    assert "A server logged a traceback during the test" in report
    assert "RuntimeError: boom from the test's server" in report


def test_allow_server_tracebacks_lets_the_test_pass(server_run):
    assert outcomes(server_run, "test_allowed_traceback") == {"PASSED"}, server_run.stdout.str()


def test_a_missing_chromium_fails_the_test_with_the_command_that_installs_it(server_run):
    assert outcomes(server_run, "test_missing_chromium") == {"ERROR"}, server_run.stdout.str()
    report = section(server_run, "ERROR at setup of test_missing_chromium")
    assert "/nonexistent/chromium not found. Install it with: sudo apt-get install -y chromium" in report


def test_redis_server_comes_back_on_its_port_after_kill_and_start(server_run):
    assert outcomes(server_run, "test_redis_kill_and_start") == {"PASSED"}, server_run.stdout.str()


def test_a_killed_daphne_process_restarts_on_its_port(server_run):
    assert outcomes(server_run, "test_daphne_kill_and_restart") == {"PASSED"}, server_run.stdout.str()


def test_daphne_serves_the_project_s_static_files_as_runserver_would(server_run):
    assert outcomes(server_run, "test_static_files") == {"PASSED"}, server_run.stdout.str()


def test_a_setting_that_can_t_be_written_fails_naming_it(server_run):
    assert outcomes(server_run, "test_a_setting_with_no_literal_form") == {"FAILED"}, server_run.stdout.str()
    report = section(server_run, "test_a_setting_with_no_literal_form")
    assert "The servers' setting SESSION_SERIALIZER = <class 'object'> can't be written" in report
    assert "Traceback" not in report


def test_a_browser_left_with_windows_and_an_alert_is_closed_not_waited_for(server_run):
    assert outcomes(server_run, "test_leaves_windows_and_an_alert_open") == {"PASSED"}, server_run.stdout.str()
    assert outcomes(server_run, "test_a_browser_after_the_alert") == {"PASSED"}, server_run.stdout.str()


def test_a_browsers_marker_that_is_not_a_count_fails_saying_so(server_run):
    assert outcomes(server_run, "test_a_browsers_marker_that_is_not_a_count") == {"ERROR"}, server_run.stdout.str()
    report = section(server_run, "ERROR at setup of test_a_browsers_marker_that_is_not_a_count")
    assert "@pytest.mark.browsers takes a number of browsers, 0 or more, not '2'" in report


def test_a_server_is_not_started_twice_nor_taken_for_another_on_its_port(server_run):
    assert outcomes(server_run, "test_redis_start_twice_and_on_a_taken_port") == {"PASSED"}, server_run.stdout.str()


def test_an_in_memory_sqlite_test_database_fails_naming_its_test_name(pytester):
    write_project(pytester)
    pytester.makepyfile(test_memory=MEMORY_TESTS)
    result = run(pytester, "--ds=proj.memory_settings")
    assert result.parseoutcomes() == {"errors": 1}, result.stdout.str()
    report = section(result, "ERROR at setup of test_servers_on_an_in_memory_database")
    assert "The test database 'default' is SQLite in memory, which Daphne processes can't open." in report
    assert "DATABASES['default']['TEST'] = {'NAME': BASE_DIR / 'test-db.sqlite3'}" in report
    # The plugin's own message, not Daphne's: no process was started.
    assert "Traceback" not in report
    assert "daphne exited" not in report


def test_postgres_server_holds_the_test_database_that_daphne_reads(pytester):
    write_project(pytester)
    pytester.makeconftest(POSTGRES_CONFTEST)
    pytester.makepyfile(test_postgres=POSTGRES_TESTS)
    result = run(pytester)
    assert result.parseoutcomes() == {"passed": 1}, result.stdout.str()
