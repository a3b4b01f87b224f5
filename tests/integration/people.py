"""Accounts and sessions in the live servers' database, made by management commands as an operator would."""

import os
import subprocess
import sys
import uuid

from tests.conftest import server_environment
from tests.servers import PROJECT_ROOT


def manage(*args: str, database_url: str, redis_url: str = "", **env: str) -> subprocess.CompletedProcess:
    """Run a management command as a process of its own, as an operator or a cron job would."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url, redis_url) | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# An account and a session of its, stored as logging in stores them; prints the session's key.
NEW_ACCOUNT_SESSION = """
import os
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_user(os.environ["NEW_USERNAME"])
session = SessionStore()
session.update({
    SESSION_KEY: str(user.pk),
    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
    HASH_SESSION_KEY: user.get_session_auth_hash(),
})
session.create()
print(session.session_key)
"""


def signed_in(database_url: str, prefix: str = "inbox") -> tuple[str, str]:
    """A new account's username (`prefix` and random hex), and the Cookie header of a browser signed in as it."""
    username = f"{prefix}-{uuid.uuid4().hex[:8]}"
    # No pool: a pool's worker threads take a second to end, and this process makes one query.
    made = manage(
        "shell", "-c", NEW_ACCOUNT_SESSION, database_url=database_url, NEW_USERNAME=username, DATABASE_POOL_SIZE="0"
    )
    assert made.returncode == 0, made.stderr
    return username, f"sessionid={made.stdout.split()[-1]}"
