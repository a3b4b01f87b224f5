"""The attacks of issue 17, each a coroutine that runs for a given time and says what the attacker got.

Each attacker connects from an address of its own (127.0.0.11, .13 and so on; all of
127.0.0.0/8 reaches the loopback), so that limits per address, and anything one attack
leaks in them, fall on that attacker only and not on the quiet room or the next attack.
"""

import asyncio
import collections
import contextlib
import http.client
import json
import re
import secrets
import socket
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bench.clients import (
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    RawSocket,
    Refused,
    client_frame,
    connect_options,
    drain_messages,
)
from bench.run import HOST

BYSTANDER_ADDRESS = "127.0.0.2"  # the busy room's talkers in the slow-reader attack: bystanders, not attackers
LONG_ROOM = "catchup"
LONG_ROOM_MESSAGES = 2000
ADMIN_USERNAME = "admin"
MIB = 1024 * 1024


def attacker_address(number: int) -> str:
    return f"127.0.0.{10 + number}"


@dataclass
class Target:
    """The server under attack, and what an attack needs to know of it."""

    port: int
    database: Path
    admin_password: str
    load_stopped: float | None = None  # set by an attack when its load stops, before it tidies up

    def stop_load(self) -> None:
        self.load_stopped = time.monotonic()

    def ws_url(self, path: str) -> str:
        return f"ws://{HOST}:{self.port}{path}"


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def closed_count(sockets: list[RawSocket]) -> str:
    ends = collections.Counter(raw.ended for raw in sockets if raw.ended)
    described = ", ".join(f"{count} {how}" for how, count in ends.most_common())
    return f"{sum(ends.values())}/{len(sockets)} ended by the server" + (f" ({described})" if described else "")


async def no_attacker(target: Target, seconds: float) -> str:
    await asyncio.sleep(seconds)
    target.stop_load()
    return "none"


async def frame_flood(target: Target, seconds: float) -> str:
    """1. One room socket sending the 2-byte frame ``{}`` as fast as it can."""
    raw = await RawSocket.open(target.port, f"/ws/chat/{fresh('flood')}/", attacker_address(1))
    reading = asyncio.create_task(raw.read())
    burst, per_burst = client_frame(OPCODE_TEXT, b"{}") * 4096, 4096
    start = time.monotonic()
    deadline, sent = start + seconds, 0
    try:
        while (left := deadline - time.monotonic()) > 0 and not raw.ended:
            if await raw.send(burst, left):
                sent += per_burst
            await asyncio.sleep(0)  # sending may never wait: let the reader count the answers
    finally:
        target.stop_load()
        reading.cancel()
        raw.close()
    answers = raw.counter.frames[OPCODE_TEXT]
    if raw.ended:
        return f"{raw.ended} after {raw.ended_at - start:.1f} s; {sent:,} frames sent, {answers:,} answered"
    return f"open after {seconds:.0f} s; {sent:,} frames sent, {answers:,} answered"


async def slow_readers(target: Target, seconds: float, readers: int = 30, talkers: int = 10) -> str:
    """3. Thirty sockets that never read, in a room kept busy by talkers, each sending a small frame every 5 s."""
    room = fresh("busy")
    path = f"/ws/chat/{room}/"
    people = await asyncio.gather(
        *(
            connect(target.ws_url(path), local_addr=(BYSTANDER_ADDRESS, 0), **connect_options(target.ws_url(path)))
            for _ in range(talkers)
        )
    )
    listening = [asyncio.create_task(drain_messages(person)) for person in people]
    sockets: list[RawSocket] = []
    said = 0
    try:
        for _ in range(readers):
            with contextlib.suppress(Refused, OSError, TimeoutError):
                raw = await RawSocket.open(target.port, path, attacker_address(3), like_the_internet=True)
                sockets.append(raw)
        ping = client_frame(OPCODE_TEXT, b'{"type":"ping"}')

        async def talk(person: ClientConnection) -> None:
            nonlocal said
            number = 0
            with contextlib.suppress(ConnectionClosed):
                while True:  # 4 messages a second: under the default rate limit of 5
                    await person.send(json.dumps({"message": f"{number:06d} " + "x" * 1990}))
                    said, number = said + 1, number + 1
                    await asyncio.sleep(0.25)

        async def nudge(raw: RawSocket) -> None:
            while not raw.ended:
                await raw.send(ping, 1)
                await asyncio.sleep(5)

        tasks = [asyncio.create_task(talk(person)) for person in people]
        tasks += [asyncio.create_task(nudge(raw)) for raw in sockets]
        await asyncio.sleep(seconds)
        target.stop_load()
        for task in tasks:
            task.cancel()
        # Did the server end any of them? Read what is queued for a moment, to find a close behind it.
        await asyncio.gather(*(raw.drain(2) for raw in sockets))
    finally:
        for raw in sockets:
            raw.close()
        for task in listening:
            task.cancel()
        await asyncio.gather(*(person.close() for person in people), return_exceptions=True)
    refused = readers - len(sockets)
    return f"{closed_count(sockets)}; {refused} refused; the room got {said:,} messages of 2 KB meanwhile"


async def ping_flood(target: Target, seconds: float, sockets: int = 5) -> str:
    """4. Five sockets sending WebSocket ping frames back to back (reading the pongs)."""
    path = f"/ws/chat/{fresh('pings')}/"
    raws = [await RawSocket.open(target.port, path, attacker_address(4)) for _ in range(sockets)]
    readers = [asyncio.create_task(raw.read()) for raw in raws]
    burst, per_burst = client_frame(OPCODE_PING, b"12345678") * 4096, 4096
    sent = 0
    deadline = time.monotonic() + seconds

    async def flood(raw: RawSocket) -> None:
        nonlocal sent
        while (left := deadline - time.monotonic()) > 0 and not raw.ended:
            if await raw.send(burst, left):
                sent += per_burst
            await asyncio.sleep(0)  # sending may never wait: let the reader count the answers

    try:
        await asyncio.gather(*(flood(raw) for raw in raws))
    finally:
        target.stop_load()
        for reader in readers:
            reader.cancel()
        for raw in raws:
            raw.close()
    pongs = sum(raw.counter.frames[OPCODE_PONG] for raw in raws)
    return f"{closed_count(raws)}; {sent:,} pings sent, {pongs:,} pongs back"


async def lobby_sockets(target: Target, seconds: float, sockets: int = 300) -> str:
    """5. 300 ``ws/lobby/`` sockets from one address, each sent a frame."""
    gate = asyncio.Semaphore(50)
    counts: collections.Counter[str] = collections.Counter()
    held: list[ClientConnection] = []
    deadline = time.monotonic() + seconds

    async def one() -> None:
        async with gate:
            try:
                client = await connect(
                    target.ws_url("/ws/lobby/"),
                    local_addr=(attacker_address(5), 0),
                    **connect_options(target.ws_url("/ws/lobby/")),
                )
            except (InvalidHandshake, OSError, TimeoutError):
                counts["refused"] += 1
                return
            held.append(client)
            try:
                async with asyncio.timeout(5):
                    first = json.loads(await client.recv())
                    if first.get("type") == "error":
                        counts[f"refused ({first.get('code')})"] += 1
                        return
                    counts["accepted"] += 1
                    await client.send(json.dumps({"message": "hello"}))
                    await client.recv()
                    counts["answered"] += 1
            except ConnectionClosed as exc:
                counts[f"closed with {exc.rcvd.code if exc.rcvd else 'no code'}"] += 1
            except TimeoutError:
                counts["no answer in 5 s"] += 1

    try:
        await asyncio.gather(*(one() for _ in range(sockets)))
        await asyncio.sleep(max(deadline - time.monotonic(), 0))  # held open for the rest of the attack
    finally:
        target.stop_load()
        await asyncio.gather(*(client.close() for client in held), return_exceptions=True)
    return f"of {sockets}: " + ", ".join(f"{count} {what}" for what, count in counts.most_common())


async def huge_body(target: Target, seconds: float, size: int = 200 * MIB) -> str:
    """6. A 200 MiB body streamed to ``POST /api/rooms/x/messages`` without a token."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((attacker_address(6), 0))
    response = b""
    sent = 0

    async def answer() -> None:
        nonlocal response
        while b"\r\n" not in response:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                return
            response += chunk

    start = time.monotonic()
    deadline = start + seconds
    try:
        await loop.sock_connect(sock, (HOST, target.port))
        head = (
            f"POST /api/rooms/x/messages HTTP/1.1\r\nHost: {HOST}:{target.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
        await loop.sock_sendall(sock, head.encode())
        answering = asyncio.create_task(answer())
        chunk = b"x" * MIB
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                while sent < size and not answering.done():
                    await loop.sock_sendall(sock, chunk)
                    sent += len(chunk)
        sending = time.monotonic() - start
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
                await answering
        answering.cancel()
    finally:
        target.stop_load()  # the attack lasts until the server answered: it may spend that long on the body
        sock.close()
    status = response.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")[2] or "no answer"
    whole = "the whole body" if sent >= size else f"{sent / MIB:,.0f} MiB of {size // MIB}"
    return f"{status} after {whole} was sent ({sending:.1f} s)"


async def rooms_for_free(target: Target, seconds: float, loops: int = 16) -> str:
    """7. Opening and closing ``ws/chat/<new name>/`` in a loop; the room rows it leaves."""
    prefix = fresh("free")
    counts: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds

    async def churn() -> None:
        while time.monotonic() < deadline:
            url = target.ws_url(f"/ws/chat/{prefix}-{uuid.uuid4().hex[:8]}/")
            try:
                async with connect(url, local_addr=(attacker_address(7), 0), **connect_options(url)) as client:
                    async with asyncio.timeout(5):
                        first = json.loads(await client.recv())
                counts[f"refused ({first['code']})" if first.get("type") == "error" else "opened"] += 1
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                counts["refused"] += 1

    try:
        await asyncio.gather(*(churn() for _ in range(loops)))
    finally:
        target.stop_load()
    with contextlib.closing(sqlite3.connect(target.database, timeout=10)) as database:
        (rows,) = database.execute("SELECT COUNT(*) FROM chat_room WHERE name LIKE ?", (f"{prefix}-%",)).fetchone()
    tried = ", ".join(f"{count:,} {what}" for what, count in counts.most_common())
    return f"{rows:,} room rows stored; sockets: {tried}"


async def catch_up_amplification(target: Target, seconds: float, loops: int = 8) -> str:
    """8. Reconnecting with ``?after=0`` in a loop to a room of 2,000 long messages; bytes received per second."""
    counts: collections.Counter[str] = collections.Counter()
    received = 0
    url = target.ws_url(f"/ws/chat/{LONG_ROOM}/?after=0")
    newest = f'"id":{LONG_ROOM_MESSAGES},'.encode()
    start = time.monotonic()
    deadline = start + seconds

    async def reconnect() -> None:
        nonlocal received
        while time.monotonic() < deadline:
            try:
                async with connect(url, local_addr=(attacker_address(8), 0), **connect_options(url)) as client:
                    async with asyncio.timeout(5):
                        while True:  # until the room's newest message, the catch-up's last
                            data = await client.recv(decode=False)
                            received += len(data)
                            if data.startswith(b'{"type":"error"'):
                                counts[f"error {json.loads(data).get('code')}"] += 1
                            elif newest in data[:64]:  # no JSON parsing: the attacker's core must not be the limit
                                counts["caught up"] += 1
                                break
            except ConnectionClosed as exc:
                counts[f"closed with {exc.rcvd.code if exc.rcvd else 'no code'}"] += 1
            except InvalidStatus as exc:
                counts[f"refused ({exc.response.status_code})"] += 1
            except (InvalidHandshake, OSError, TimeoutError):
                counts["failed"] += 1

    try:
        await asyncio.gather(*(reconnect() for _ in range(loops)))
    finally:
        target.stop_load()
    elapsed = time.monotonic() - start
    handshakes = ", ".join(f"{count:,} {what}" for what, count in counts.most_common())
    return f"{received / elapsed / 1e6:,.1f} MB/s received; handshakes: {handshakes}"


class AdminClient:
    """One browser at the admin's login form, over a kept-alive connection from the given address."""

    def __init__(self, port: int, address: str) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=30, source_address=(address, 0))
        self.cookie, self.token = "", ""

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("csrftoken="):
                self.cookie = value.split(";", 1)[0]
        return response.status, text

    def log_in(self, password: str) -> int:
        """One attempt at the login form; the answer's status (302: logged in, 200: the form again)."""
        if not self.token:
            _, page = self.request("GET", "/admin/login/")
            found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            self.token = found.group(1) if found else ""
        form = {"csrfmiddlewaretoken": self.token, "username": ADMIN_USERNAME, "password": password, "next": "/admin/"}
        status, _ = self.request("POST", "/admin/login/", urllib.parse.urlencode(form))
        return status

    def close(self) -> None:
        self.connection.close()


async def password_guessing(target: Target, seconds: float, guessers: int = 6) -> str:
    """10. Six parallel guessers at ``/admin/login/``; how many guesses get an answer rather than a lockout."""
    answers: collections.Counter[int] = collections.Counter()
    counting = threading.Lock()
    deadline = time.monotonic() + seconds
    stop = threading.Event()

    def guess() -> None:
        client = AdminClient(target.port, attacker_address(10))
        try:
            while time.monotonic() < deadline and not stop.is_set():
                try:
                    status = client.log_in(secrets.token_urlsafe(12))
                except (OSError, http.client.HTTPException):
                    status = 0
                    client.close()
                    client = AdminClient(target.port, attacker_address(10))
                with counting:
                    answers[status] += 1
        finally:
            client.close()

    try:
        await asyncio.gather(*(asyncio.to_thread(guess) for _ in range(guessers)))
    finally:
        stop.set()
        target.stop_load()
    right = AdminClient(target.port, attacker_address(10))
    try:
        status = await asyncio.to_thread(right.log_in, target.admin_password)
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        right.close()
    verdict = {302: "works", 200: "refused"}.get(status, f"answered {status}")
    tried = sum(answers.values())
    named = {200: "answered as wrong", 302: "logged in", 0: "failed"}
    kinds = ", ".join(f"{count} {named.get(code, f'answered {code}')}" for code, count in answers.most_common())
    return f"{tried} guesses: {kinds}; the right password afterwards: {verdict}"


@dataclass(frozen=True)
class Attack:
    label: str
    run: Callable[[Target, float], Awaitable[str]]
    seconds: float


# In the order, but the huge body last: memory a process frees stays in its heap and
# would be reused by whatever comes next, hiding that attack's growth.
ATTACKS = {
    "0": Attack("no attacker (baseline)", no_attacker, 5),
    "1": Attack("1 frame flood (1 socket)", frame_flood, 5),
    "3": Attack("3 slow readers (30 sockets)", slow_readers, 8),
    "4": Attack("4 ping flood (5 sockets)", ping_flood, 5),
    "5": Attack("5 lobby sockets (300)", lobby_sockets, 5),
    "7": Attack("7 rooms for free", rooms_for_free, 5),
    "8": Attack("8 catch-up amplification", catch_up_amplification, 5),
    "10": Attack("10 admin password guessing (6)", password_guessing, 6),
    "6": Attack("6 huge body (200 MiB POST)", huge_body, 20),
}
