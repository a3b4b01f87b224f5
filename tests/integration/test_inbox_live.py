"""A person's notifications across processes: two Daphne processes with real Redis, and a third that notifies."""

import json
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
import websocket
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from pytest_channels_live import DaphneCluster, DaphneServer, RedisServer

from notifications.models import Notification
from tests.conftest import API_TOKEN
from tests.integration.people import manage, signed_in
from tests.wsclient import next_json_frame


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


@pytest.mark.server_databases("postgres")  # reaching every process through Redis is the point
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
