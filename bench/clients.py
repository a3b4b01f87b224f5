"""The abuse scenario's clients: the options of the `websockets` ones, and a raw WebSocket.

The raw one is for what a well-behaved library won't do: send ping frames back to
back, flood faster than it reads, or never read at all.
"""

import asyncio
import base64
import collections
import contextlib
import os
import socket
import time

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench.run import HOST

CONNECT_OPTIONS = {
    "compression": None,  # Daphne negotiates none; see PITFALLS on permessage-deflate
    "ping_interval": None,
    "max_queue": None,
    "open_timeout": 10,
    "close_timeout": 2,
    "proxy": None,
}


def page_origin(port: int) -> str:
    """The Origin of a page served by the server on `port`: the only one its sockets accept."""
    return f"http://{HOST}:{port}"


def connect_options(ws_url: str) -> dict:
    """`CONNECT_OPTIONS`, with the Origin of the server's own pages."""
    port = int(ws_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    return CONNECT_OPTIONS | {"origin": page_origin(port)}


OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One masked frame, as a client must send it (RFC 6455, 5.3)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    elif length < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


class FrameCounter:
    """Counts the server's frames by opcode as bytes arrive, and notes a close frame's code."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.frames: collections.Counter[int] = collections.Counter()
        self.received = 0
        self.close_code: int | None = None

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        buffer = self.pending
        buffer += data
        position = 0
        while len(buffer) - position >= 2:
            opcode, length, head = buffer[position] & 0x0F, buffer[position + 1] & 0x7F, 2
            if length == 126:
                if len(buffer) - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if len(buffer) - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            if len(buffer) - position < head + length:
                break
            if opcode == OPCODE_CLOSE and self.close_code is None:
                payload = buffer[position + head : position + head + length]
                self.close_code = int.from_bytes(payload[:2], "big") if length >= 2 else 1005
            self.frames[opcode] += 1
            position += head + length
        del buffer[:position]


class Refused(Exception):
    """The server answered a WebSocket handshake with something other than 101."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class RawSocket:
    """A WebSocket on a bare non-blocking socket: it reads only when asked to, and sends any bytes."""

    def __init__(self, sock: socket.socket, early: bytes) -> None:
        self.sock = sock
        self.counter = FrameCounter()
        self.counter.feed(early)
        self.ended: str | None = None  # how the server ended it: "closed with 1008", "reset", "dropped"
        self.ended_at: float | None = None
        self.note_close()

    @classmethod
    async def open(
        cls, port: int, path: str, address: str, timeout: float = 10, like_the_internet: bool = False
    ) -> "RawSocket":
        """A socket from `address` with the handshake done.

        `like_the_internet`: a small receive window and internet-sized segments. Over loopback
        (64 KiB segments) the kernel gives the server's end of a socket megabytes of send
        buffer, which would hold what a real server keeps in its own memory for a client
        that does not read.
        """
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        if like_the_internet:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
        try:
            sock.bind((address, 0))
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (HOST, port))
                key = base64.b64encode(os.urandom(16)).decode()
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {page_origin(port)}\r\n\r\n"
                )
                await loop.sock_sendall(sock, request.encode())
                response = b""
                while b"\r\n\r\n" not in response:
                    chunk = await loop.sock_recv(sock, 4096)
                    if not chunk:
                        raise Refused("closed during the handshake")
                    response += chunk
        except BaseException:
            sock.close()
            raise
        head, _, early = response.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        if " 101 " not in f"{status} ":
            sock.close()
            raise Refused(status.partition(" ")[2] or status)
        return cls(sock, early)

    def note_close(self, how: str | None = None) -> None:
        if self.ended is None and (how or self.counter.close_code is not None):
            self.ended = how or f"closed with {self.counter.close_code}"
            self.ended_at = time.monotonic()

    async def send(self, data: bytes, timeout: float) -> bool:
        """Send `data` within `timeout` seconds; False if the server ended the socket or did not take it in time."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.get_running_loop().sock_sendall(self.sock, data)
        except TimeoutError:
            return False
        except OSError as exc:
            self.note_close("reset" if isinstance(exc, ConnectionResetError) else "dropped")
            return False
        return True

    async def read(self, until_closed: bool = True) -> None:
        """Read and count what the server sends until it ends the socket (or the caller cancels this)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.sock_recv(self.sock, 1 << 16)
            except OSError:
                self.note_close("reset")
                return
            if not data:
                self.note_close("dropped")
                return
            self.counter.feed(data)
            self.note_close()
            if self.ended and not until_closed:
                return

    async def drain(self, timeout: float) -> None:
        """Read for at most `timeout` seconds, to see whether the server ended the socket behind what it sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.read(until_closed=False)

    def close(self) -> None:
        self.sock.close()


async def drain_messages(client: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in client:
            pass
