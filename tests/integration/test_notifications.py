"""Notifications from outside the server processes reach every page, on every process."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from pytest_channels_live import DaphneCluster, RedisServer, free_port

from tests.conftest import API_TOKEN, server_environment
from tests.servers import PROJECT_ROOT
from tests.wsclient import ChatClient


def announce(*args: str, database_url: str, redis_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "announce", *args],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url, redis_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def api_post(url: str, body: object, token: str = API_TOKEN) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_announce_command_reaches_both_processes_and_history(
    cluster: DaphneCluster, redis_server: RedisServer, server_database: str, room_name: str
) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        result = announce(room_name, "The lab closes at six.", database_url=server_database, redis_url=redis_server.url)
        assert result.returncode == 0, result.stderr
        assert "Posted message 1" in result.stdout
        for client in (ann, bob):
            frame = client.receive_message("The lab closes at six.")
            assert (frame["kind"], frame["author"]) == ("system", "System")
    with ChatClient(cluster[1], room_name) as late:
        assert late.receive()["message"] == "The lab closes at six."


def test_the_http_api_reaches_both_processes(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        status, frame = api_post(f"{cluster[0].http_url}/api/rooms/{room_name}/messages", {"message": "Deployed."})
        assert status == 201
        assert ann.receive_message("Deployed.") == frame
        assert bob.receive_message("Deployed.") == frame
        status, error = api_post(f"{cluster[1].http_url}/api/rooms/{room_name}/messages", {"message": "x"}, "wrong")
        assert (status, error["code"]) == (401, "invalid_token")


@pytest.mark.server_databases("postgres")  # the command's refusals are the point, whatever the database
@pytest.mark.parametrize(
    ("args", "redis", "message"),
    [
        (["a b", "hi"], "test", "room name may hold only"),
        (["lobby", "  "], "test", "The message is empty"),
        (["lobby", "hi"], "none", "REDIS_URL is not set"),
        (["lobby", "hi"], "unreachable", "can't be reached"),
    ],
)
def test_the_announce_command_fails_clearly(
    redis_server: RedisServer, server_database: str, args: list[str], redis: str, message: str
) -> None:
    redis_url = {"test": redis_server.url, "none": "", "unreachable": f"redis://127.0.0.1:{free_port()}/0"}[redis]
    result = announce(*args, database_url=server_database, redis_url=redis_url)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
