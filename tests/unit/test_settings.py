"""Settings read from the environment: clear errors for bad values, and a clean deployment check."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.servers import PROJECT_ROOT

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "chat.example.org",
    "DJANGO_HTTPS": "1",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "mysite.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_deployment_check_is_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_https_the_deployment_check_says_so() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **(PRODUCTION | {"DJANGO_HTTPS": "0"}))
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be one of"),
        ({"DJANGO_DEBUG": "1", "CHAT_RATE_LIMIT": "fast"}, "CHAT_RATE_LIMIT must be a number"),
        ({"DJANGO_DEBUG": "1", "CHAT_RATE_LIMIT": "-1"}, "CHAT_RATE_LIMIT must be 0 or more"),
        ({"DJANGO_DEBUG": "1", "CHAT_MAX_CONNECTIONS_PER_IP": "-5"}, "can't be negative"),
        ({"DJANGO_DEBUG": "1", "CHAT_HISTORY_LENGTH": "lots"}, "CHAT_HISTORY_LENGTH must be a whole number"),
        ({"DJANGO_DEBUG": "1", "CHAT_API_TOKEN": "short"}, "CHAT_API_TOKEN is too short"),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "chat.sqlite3"}, "DATABASE_URL is not a database URL"),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://chat@db:port/chat"}, "DATABASE_URL is not a database URL"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [["check"], ["migrate"], ["collectstatic", "--noinput"], ["announce", "physics", "The lab closes at six."]],
)
def test_bad_settings_get_one_clear_line(command: list[str], env: dict[str, str], message: str) -> None:
    result = manage(*command, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "KeyError" not in result.stderr  # the command's name looked up in a table is no cause worth showing
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_database_that_cannot_be_reached_is_one_clear_line_at_once() -> None:
    # Port 1 on loopback refuses at once; the pool would have retried until its timeout.
    result = manage("migrate", DJANGO_DEBUG="1", DATABASE_URL="postgres://chat@127.0.0.1:1/chat")
    assert result.returncode != 0
    assert "the database could not be reached" in result.stderr
    assert "127.0.0.1" in result.stderr
    assert "Check DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_manage_py_outside_the_virtualenv_says_where_django_is() -> None:
    # -S: no site-packages, as a Python without the project's virtualenv has.
    result = subprocess.run(
        [sys.executable, "-S", "manage.py", "check"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert ".venv/bin/python manage.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_without_tables_says_to_migrate(tmp_path) -> None:
    empty = tmp_path / "empty.sqlite3"
    result = manage("clearsessions", DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{empty}")
    assert result.returncode != 0
    assert "Run `manage.py migrate` first" in result.stderr
    assert "could not be reached" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_redis_url_of_commas_alone_is_refused_rather_than_taken_for_unset() -> None:
    result = manage("check", DJANGO_DEBUG="1", REDIS_URL=" , ")
    assert result.returncode != 0
    assert "REDIS_URL names no server" in result.stderr
