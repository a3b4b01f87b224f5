"""What a live Daphne answers at the edges: bad input, bad rooms, foreign origins, static files."""

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websocket
from pytest_channels_live import DaphneCluster, wait_for

from tests.conftest import start_cluster
from tests.wsclient import ChatClient, read_frame


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann:
        ann.ws.send("{not json")
        assert ann.receive() == {"type": "error", "code": "invalid_json", "detail": "The frame is not valid JSON."}
        ann.ws.send_binary(b"\x00\x01")
        assert ann.receive()["code"] == "binary_not_supported"
        ann.send("after the errors")
        assert ann.receive_message("after the errors")["id"] == 1


def test_an_invalid_room_socket_is_closed_with_a_reason(cluster: DaphneCluster) -> None:
    ws = websocket.create_connection(cluster[0].ws_url("/ws/chat/a%20b/"), origin=cluster[0].origin, timeout=5)
    assert '"code":"invalid_room"' in ws.recv()
    opcode, payload = read_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == 4404
    ws.close()


def test_an_invalid_room_page_is_a_clear_404(cluster: DaphneCluster) -> None:
    status, html = http_get(f"{cluster[0].http_url}/chat/a%20b/")
    assert status == 404
    assert "No such room" in html


def test_a_foreign_origin_is_refused(cluster: DaphneCluster, room_name: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ChatClient(cluster[0], room_name, origin="http://evil.example")
    assert refused.value.status_code == 403


def test_static_files_are_served_with_debug_off(cluster: DaphneCluster) -> None:
    status, body = http_get(f"{cluster[0].http_url}/static/js/chat.js")
    assert status == 200
    assert "RoomConnection" in body


def test_pages_are_served(cluster: DaphneCluster) -> None:
    status, html = http_get(f"{cluster[1].http_url}/chat/")
    assert status == 200
    assert 'id="room-name-input"' in html


@pytest.mark.server_databases("postgres")  # the log of a process without Redis is the point
def test_without_redis_the_log_says_fan_out_is_off(tmp_path: Path, server_database: str) -> None:
    cluster = start_cluster(tmp_path, 1, server_database, redis_url="")
    try:
        wait_for(lambda: "Fan-out across processes is off" in cluster[0].log(), 10, "the in-memory layer warning")
        with ChatClient(cluster[0], "solo") as ann:
            ann.send("works on one process")
            assert ann.receive_message("works on one process")["author"].startswith("guest-")
    finally:
        cluster.stop()
