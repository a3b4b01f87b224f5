"""Read marks across processes: what a person reads on one Daphne process shows in their lobby on the other."""

import time

import pytest
import websocket
from pytest_channels_live import DaphneCluster, DaphneServer

from tests.integration.people import signed_in
from tests.wsclient import ChatClient, next_json_frame


class LobbySocket:
    """One lobby page's socket (``ws/lobby/``) on a live server."""

    def __init__(self, server: DaphneServer, cookie: str | None = None) -> None:
        self.ws = websocket.create_connection(
            server.ws_url("/ws/lobby/"), origin=server.origin, cookie=cookie, timeout=10
        )

    def receive(self, timeout: float = 5) -> dict:
        return next_json_frame(self.ws, timeout)

    def next_of(self, frame_type: str, timeout: float = 5) -> dict:
        """The next frame of `frame_type` within `timeout` seconds in all, passing over the others."""
        deadline = time.monotonic() + timeout
        while (frame := self.receive(max(deadline - time.monotonic(), 0.01)))["type"] != frame_type:
            pass
        return frame

    def __enter__(self) -> "LobbySocket":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.ws.close()


@pytest.mark.server_databases("postgres")  # the read crossing processes through Redis is the point
def test_a_read_on_one_process_reaches_the_person_s_lobby_on_the_other(
    cluster: DaphneCluster, server_database: str, room_name: str
) -> None:
    _, cookie = signed_in(server_database, "reader")
    _, other_cookie = signed_in(server_database, "other")
    with ChatClient(cluster[0], room_name, cookie=cookie) as room:
        for number in range(3):
            room.send(f"m{number}")
            room.receive_message(f"m{number}")
        with (
            LobbySocket(cluster[1], cookie) as lobby,
            LobbySocket(cluster[1], other_cookie) as others,
            LobbySocket(cluster[0], cookie) as same_process,
        ):
            directory = {entry["room"]: entry for entry in lobby.next_of("directory")["rooms"]}
            assert directory[room_name]["last_id"] == 3
            assert "read" not in directory[room_name]
            others.next_of("directory")
            same_process.next_of("directory")

            room.send_frame({"type": "read", "id": 2})
            expected = {"type": "room.read", "room": room_name, "read": 2}
            assert lobby.next_of("room.read") == expected
            assert same_process.next_of("room.read") == expected
            # The other person's lobby: its next room.read is its own person's, not this one.
            with ChatClient(cluster[0], room_name, cookie=other_cookie) as theirs:
                for _ in range(3):
                    theirs.receive()
                theirs.send_frame({"type": "read", "id": 1})
                assert others.next_of("room.read") == {"type": "room.read", "room": room_name, "read": 1}

            room.send_frame({"type": "history", "before": 3})
            older = room.receive_until(lambda frame: frame["type"] == "history")
            assert [message["message"] for message in older["messages"]] == ["m0", "m1"]
            assert older["complete"] is True

    with LobbySocket(cluster[1], cookie) as later:
        entry = next(entry for entry in later.next_of("directory")["rooms"] if entry["room"] == room_name)
        assert (entry["last_id"], entry["read"]) == (3, 2)


def test_a_guest_s_read_changes_nothing_anywhere(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as room:
        room.send("hello")
        room.receive_message("hello")
        room.send_frame({"type": "read", "id": 1})
        room.send_frame({"type": "ping"})
        assert room.receive() == {"type": "pong"}, "no answer to the read"
        room.send_frame({"type": "read", "id": True})
        assert room.receive()["code"] == "invalid_field"
    with LobbySocket(cluster[1]) as later:
        entry = next(entry for entry in later.next_of("directory")["rooms"] if entry["room"] == room_name)
        assert entry["last_id"] == 1
        assert "read" not in entry
