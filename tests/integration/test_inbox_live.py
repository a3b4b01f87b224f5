"""A person's notifications across processes: two Daphne processes with real Redis, and a third that notifies."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from io import StringIO
from pathlib import Path

import pytest
import websocket
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from notifications.models import Notification
from tests.conftest import API_TOKEN, DaphneCluster, server_environment
from tests.servers import PROJECT_ROOT, DaphneServer, RedisServer
from tests.wsclient import next_json_frame


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


def signed_in(database_url: str) -> tuple[str, str]:
    """A new account's username, and the Cookie header of a browser signed in as it."""
    username = f"inbox-{uuid.uuid4().hex[:8]}"
    # No pool: a pool's worker threads take a second to end, and this process makes one query.
    made = manage(
        "shell", "-c", NEW_ACCOUNT_SESSION, database_url=database_url, NEW_USERNAME=username, DATABASE_POOL_SIZE="0"
    )
    assert made.returncode == 0, made.stderr
    return username, f"sessionid={made.stdout.split()[-1]}"


def notify_by_api(server: DaphneServer, username: str, text: str) -> dict:
    """POST /api/users/<username>/notifications with the servers' token; the 201's frame."""
    request = urllib.request.Request(
        f"{server.http_url}/api/users/{username}/notifications", data=json.dumps({"message": text}).encode(),
        method="POST", headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{error.code}: {error.read()!r}") from None


class InboxSocket:
    """One page's notification socket (``ws/notifications/``) on a live server."""

    def __init__(self, server: DaphneServer, cookie: str) -> None:
        self.ws = websocket.create_connection(
            server.ws_url("/ws/notifications/"), origin=server.origin, cookie=cookie, timeout=10
        )

    def send(self, frame: dict) -> None:
        self.ws.send(json.dumps(frame))

    def receive(self, timeout: float = 5) -> dict:
        """The next frame; raises `ConnectionError` on a close, `WebSocketTimeoutException` after `timeout`."""
        return next_json_frame(self.ws, timeout)

    def __enter__(self) -> "InboxSocket":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.ws.close()


def test_a_notification_from_a_third_process_reaches_the_person_on_both_processes_and_a_read_follows(
    cluster: DaphneCluster, redis_server: RedisServer, server_database: str
) -> None:
    username, cookie = signed_in(server_database)
    with InboxSocket(cluster[0], cookie) as one, InboxSocket(cluster[1], cookie) as two:
        for socket in (one, two):
            assert socket.receive() == {"type": "inbox", "notifications": [], "unread": [], "kept": 200}
        told = manage(
            "notify", username, "Your essay was marked.", "--link", "/chat/english/",
            database_url=server_database, redis_url=redis_server.url,
        )  # fmt: skip
        assert told.returncode == 0, told.stderr
        assert told.stderr == ""
        assert told.stdout.startswith("Notification ")
        assert "REDIS_URL is not set" not in told.stdout
        frame = one.receive()
        assert two.receive() == frame
        assert (frame["type"], frame["kind"], frame["message"], frame["link"], frame["read"]) == (
            "notification", "server", "Your essay was marked.", "/chat/english/", None
        )  # fmt: skip
        assert told.stdout.startswith(f"Notification {frame['id']} stored for {username!r}.")

        one.send({"type": "notification.read", "ids": [frame["id"]]})
        for socket in (one, two):
            assert socket.receive() == {"type": "notification.read", "ids": [frame["id"]], "up_to": None}

        by_api = notify_by_api(cluster[1], username, "From CI")
        for socket in (one, two):
            assert socket.receive() == by_api
        two.send({"type": "notification.read", "all": True})
        for socket in (one, two):
            assert socket.receive() == {"type": "notification.read", "ids": [], "up_to": by_api["id"]}

    # Nobody's page is open: the next one finds it.
    while_away = notify_by_api(cluster[0], username, "While away")
    with InboxSocket(cluster[1], cookie) as later:
        inbox = later.receive()
        assert [n["id"] for n in inbox["notifications"]] == [while_away["id"], by_api["id"], frame["id"]]
        assert inbox["unread"] == [while_away["id"]]


@pytest.mark.django_db(transaction=True)
def test_the_command_refuses_and_stores_nothing_while_redis_is_unreachable(tmp_path: Path) -> None:
    # A Redis that was there and is stopped: storing the notification would leave open pages not knowing of it.
    stopped = RedisServer(tmp_path)
    stopped.start()
    stopped.stop()
    User.objects.create_user("ann")
    layers = {
        "default": {
            "BACKEND": "chat.layers.ResilientRedisChannelLayer",
            "CONFIG": {"hosts": [{"address": stopped.url, "socket_connect_timeout": 2}]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers), pytest.raises(CommandError) as refused:
        call_command("notify", "ann", "hi", stdout=StringIO())
    assert (
        str(refused.value)
        == "The channel layer (REDIS_URL) can't be reached (down: ConnectionError); nothing was stored."
    )
    assert not Notification.objects.exists()
