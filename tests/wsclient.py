"""A small blocking WebSocket client speaking the chat protocol, for tests."""

import http.cookies
import json
import socket
import ssl
import time
import urllib.request
from collections.abc import Callable
from urllib.parse import quote

import websocket
from pytest_channels_live import WebEndpoint

AMBIENT = {"presence", "typing"}

# Raw client frames, for what websocket-client would not send: masked (as a client's must be)
# with a zero mask, which leaves the payload as it is.
PING_FRAME = b"\x89\x80\x00\x00\x00\x00"  # final, ping, empty
PONG_FRAME = b"\x8a\x80\x00\x00\x00\x00"  # final, pong, empty
FIRST_PIECE = b"\x01\x81\x00\x00\x00\x00x"  # not final, text, "x": a message in pieces begins
NEXT_PIECE = b"\x00\x81\x00\x00\x00\x00x"  # not final, continuation, "x"


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


def next_json_frame(ws: websocket.WebSocket, timeout: float) -> dict:
    """The next text frame, parsed; raises `ConnectionError` naming the close code on a close."""
    ws.settimeout(timeout)
    while True:
        opcode, payload = read_frame(ws)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            raise ConnectionError(f"the server closed the socket (close code {code})")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return json.loads(payload)


def frames_until_closed(ws: websocket.WebSocket, timeout: float = 10) -> list[int]:
    """The opcodes of the frames the server sends until it ends the connection (however it ends it).

    Fails the test if the connection is still open, and silent, after `timeout` seconds.
    """
    ws.settimeout(timeout)
    opcodes = []
    while True:
        try:
            opcode, _ = read_frame(ws)
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f"the server kept the socket open; it sent {len(opcodes)} frames") from None
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return opcodes
        opcodes.append(opcode)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return opcodes


def guest_cookie(server: WebEndpoint) -> str:
    """A ``Cookie`` header of one guest, as a page of the server makes one: sockets sending it are that guest."""
    with urllib.request.urlopen(f"{server.http_url}/chat/", timeout=10) as page:
        cookies = http.cookies.SimpleCookie("\n".join(page.headers.get_all("Set-Cookie") or []))
    return f"chat_guest={cookies['chat_guest'].value}"


class ChatClient:
    """One socket in one room of a live server (plain, or TLS through the server's `TlsEndpoint`).

    `receive_buffer` sets the socket's receive buffer in bytes before it connects: a small one,
    never read, makes a client that does not read.
    """

    def __init__(
        self,
        server: WebEndpoint,
        room: str,
        origin: str | None = None,
        after: int | None = None,
        timeout: float = 10,
        cookie: str | None = None,
        receive_buffer: int | None = None,
    ) -> None:
        query = "" if after is None else f"?after={after}"
        self.url = server.ws_url(f"/ws/chat/{quote(room)}/{query}")
        options: dict = {"origin": origin or server.origin, "timeout": timeout, "cookie": cookie}
        if receive_buffer:
            options["sockopt"] = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
        if self.url.startswith("wss:"):
            options["sslopt"] = {"cert_reqs": ssl.CERT_NONE}  # the tests' self-signed certificate
        self.ws = websocket.create_connection(self.url, **options)
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
        while True:
            frame = next_json_frame(self.ws, timeout)
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
