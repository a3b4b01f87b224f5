"""A small blocking WebSocket client speaking the chat protocol, for tests."""

import json
import time
from collections.abc import Callable
from urllib.parse import quote

import websocket

from tests.servers import DaphneServer

AMBIENT = {"presence", "typing"}


def read_frame(ws: websocket.WebSocket) -> tuple[int, bytes]:
    """The next frame's opcode and payload, answering pings but not a close.

    websocket-client answers a close frame itself, and fails if the server has
    dropped the connection meanwhile (as a busy server may, a second after its close):
    a test reading a close code must not fail for that.
    """
    frame = ws.recv_frame()
    if frame.opcode == websocket.ABNF.OPCODE_PING:
        ws.pong(frame.data)
    return frame.opcode, frame.data


class ChatClient:
    """One socket in one room of a live server."""

    def __init__(
        self,
        server: DaphneServer,
        room: str,
        origin: str | None = None,
        after: int | None = None,
        timeout: float = 10,
        cookie: str | None = None,
    ) -> None:
        query = "" if after is None else f"?after={after}"
        self.url = server.ws_url(f"/ws/chat/{quote(room)}/{query}")
        self.ws = websocket.create_connection(self.url, origin=origin or server.origin, timeout=timeout, cookie=cookie)
        # Every chat.message received, in arrival order, to check for loss, doubles and order.
        self.messages: list[dict] = []
        # Frames about people (presence, typing), kept apart: most tests are about messages.
        self.ambient: list[dict] = []

    def send(self, message: str) -> None:
        self.send_frame({"message": message})

    def send_frame(self, frame: object) -> None:
        self.ws.send(json.dumps(frame))

    def receive(self, timeout: float = 5) -> dict:
        """The next frame, passing over presence and typing; raises `WebSocketTimeoutException` after `timeout`."""
        self.ws.settimeout(timeout)
        while True:
            opcode, payload = read_frame(self.ws)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                raise ConnectionError(f"the server closed the socket (close code {code})")
            if opcode == websocket.ABNF.OPCODE_TEXT:
                frame = json.loads(payload)
                if frame.get("type") in AMBIENT:
                    self.ambient.append(frame)
                    continue
                if frame.get("type") == "chat.message":
                    self.messages.append(frame)
                return frame

    def receive_ambient(self, frame_type: str, timeout: float = 5) -> dict:
        """The next frame of `frame_type` (presence, typing) within `timeout` seconds in all, passing over others."""
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(deadline - time.monotonic(), 0.01))
            frame = json.loads(self.ws.recv())
            if frame.get("type") == "chat.message":
                self.messages.append(frame)
            if frame.get("type") == frame_type:
                return frame

    def receive_until(self, matches: Callable[[dict], bool], timeout: float = 5) -> dict:
        """Skip frames until one matches, within `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.receive(max(deadline - time.monotonic(), 0.01))
            if matches(frame):
                return frame

    def receive_message(self, text: str, timeout: float = 5) -> dict:
        """The chat.message with this text: one received already (while waiting for something else) or the next."""
        for frame in self.messages:
            if frame["message"] == text:
                return frame
        return self.receive_until(lambda f: f.get("type") == "chat.message" and f.get("message") == text, timeout)

    def post(self, message: str, client_id: str, timeout: float = 5) -> int:
        """Send with a client id and wait for the ack; returns the stored id."""
        self.send_frame({"message": message, "client_id": client_id})
        ack = self.receive_until(lambda f: f.get("type") == "ack" and f.get("client_id") == client_id, timeout)
        return ack["id"]

    def ids(self) -> list[int]:
        return [frame["id"] for frame in self.messages]

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
