"""How DATABASE_URL and DATABASE_POOL_SIZE become Django's database settings.

Each case loads the project's settings in a fresh interpreter, as a server
process would, and builds (without opening) the connection pool Django would use.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.servers import PROJECT_ROOT

POSTGRES_URL = "postgres://chat@db.invalid:5432/chat"

# Prints the database settings and whether Django accepts the pool options; nothing connects.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.db import connection
pool = getattr(connection, "pool", None)
print(json.dumps({
    "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
    "options": settings.DATABASES["default"]["OPTIONS"],
    "pool_max_size": pool.max_size if pool is not None else None,
}))
"""


def database_settings(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_", "DATABASE_", "REDIS_URL"))}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "mysite.settings", "DJANGO_DEBUG": "1"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_gets_a_bounded_pool_and_no_persistent_connections() -> None:
    found = database_settings(DATABASE_URL=POSTGRES_URL)
    assert found["conn_max_age"] == 0  # Django refuses a pool beside persistent connections
    assert found["options"]["pool"]["max_size"] == 10
    assert found["options"]["pool"]["timeout"] == 10
    assert found["pool_max_size"] == 10


def test_the_pool_size_and_timeout_come_from_the_environment() -> None:
    found = database_settings(DATABASE_URL=POSTGRES_URL, DATABASE_POOL_SIZE="4", DATABASE_POOL_TIMEOUT="2.5")
    assert found["options"]["pool"]["max_size"] == 4
    assert found["options"]["pool"]["timeout"] == 2.5
    assert found["pool_max_size"] == 4


def test_a_pool_size_of_0_opens_a_connection_per_request() -> None:
    found = database_settings(DATABASE_URL=POSTGRES_URL, DATABASE_POOL_SIZE="0")
    assert found["conn_max_age"] == 0
    assert "pool" not in found["options"]
    assert found["pool_max_size"] is None


def test_sqlite_keeps_its_persistent_connections() -> None:
    found = database_settings(DATABASE_URL="sqlite:///chat.sqlite3", DATABASE_POOL_SIZE="4")
    assert found["conn_max_age"] == 600
    assert "pool" not in found["options"]


BAD_POOL_SETTINGS = [("DATABASE_POOL_SIZE", "many"), ("DATABASE_POOL_TIMEOUT", "-1"), ("DATABASE_POOL_TIMEOUT", "0")]


@pytest.mark.parametrize(("variable", "value"), BAD_POOL_SETTINGS)
def test_a_bad_pool_setting_is_a_configuration_error(variable: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_ROOT,
        env=os.environ | {"DJANGO_DEBUG": "1", "DATABASE_URL": POSTGRES_URL, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert variable in result.stderr
