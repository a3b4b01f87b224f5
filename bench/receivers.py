"""Lean receiving clients, in processes of their own, for fan-out and idle-socket scenarios.

A `websockets` client spends tens of microseconds on every frame it receives
(parsing, UTF-8 decoding, a queue, a task wake-up): one process of them
saturates its core well before a fast relay does, and the relay then looks no
faster than the generator. These clients do the opening handshake themselves
and then only split the byte stream into frames: a text frame containing the
burst's marker counts as one delivery, a ping is answered with a pong, and
nothing else is decoded. No extension is offered, so no server compresses.

``python -m bench.receivers`` is one worker process: it reads one JSON command
a line on stdin and answers each with one JSON line on stdout. `Receivers`
starts and drives several of them. Every process raises its own file-descriptor
limit to the hard limit, for rooms of thousands of sockets.
"""

import asyncio
import base64
import contextlib
import json
import math
import os
import resource
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

from bench.loadgen import CONNECT_OPTIONS, page_origin

# A pong, and the close frame sent on leaving: client frames are masked, here with a zero key.
MASK = b"\x00\x00\x00\x00"
CLOSE_FRAME = b"\x88\x82" + MASK + b"\x03\xe8"  # 1000, normal closure
HANDSHAKE_LIMIT = 64 * 1024
OPEN_TIMEOUT = 30
ROUNDS = 3
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Tally:
    """What the worker's sockets received since the last ``arm``."""

    marker: bytes = b"\x00never\x00"
    delivered: int = 0
    last: float = 0.0  # perf_counter of the latest delivery
    total_bytes: int = 0
    waiting: set = field(default_factory=set)  # sockets still short of `expected`
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


class LeanClient(asyncio.Protocol):
    """One WebSocket that only receives: frames split, the marked ones counted, pings answered."""

    def __init__(self, tally: Tally, handshake: bytes) -> None:
        self.tally = tally
        self.request = handshake
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.count = 0

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        tally = self.tally
        tally.total_bytes += len(data)
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > HANDSHAKE_LIMIT:
                    self.opened.set_exception(ConnectionError("no end to the handshake's answer"))
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            del self.buffer[: end + 4]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.opened.set_result(None)
        self.parse()

    def parse(self) -> None:
        buffer, tally = self.buffer, self.tally
        position, size = 0, len(buffer)
        counted = 0
        while size - position >= 2:
            opcode, length = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            if opcode in (0, 1):
                if buffer.find(tally.marker, start, end) >= 0:
                    counted += 1
            elif opcode == 9:  # a ping (Daphne's keepalive): answered, or the server drops the socket
                self.transport.write(bytes([0x8A, 0x80 | length]) + MASK + bytes(buffer[start:end]))
            elif opcode == 8:
                self.transport.close()
            position = end
        del buffer[:position]
        if counted:
            self.count += counted
            tally.delivered += counted
            tally.last = time.perf_counter()
            if self.count >= tally.expected and self in tally.waiting:
                tally.waiting.discard(self)
                if not tally.waiting:
                    tally.done.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        self.tally.waiting.discard(self)
        if not self.tally.waiting:
            self.tally.done.set()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(CLOSE_FRAME)
            self.transport.close()


def handshake_request(url: str) -> bytes:
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{parts.netloc}\r\n\r\n"  # a page of the chat's own site
    ).encode()


class Worker:
    """The sockets of one worker process and the commands that drive them."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.clients: list[LeanClient] = []
        self.cpu_at_arm = 0.0

    async def open(self, urls: list[str], parallel: int) -> dict:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(parallel)
        failed = 0

        async def one(url: str) -> None:
            nonlocal failed
            parts = urlsplit(url)
            async with gate:
                for attempt in range(5):
                    client = LeanClient(self.tally, handshake_request(url))
                    try:
                        async with asyncio.timeout(OPEN_TIMEOUT):
                            await loop.create_connection(lambda c=client: c, parts.hostname, parts.port)
                            await client.opened
                    except (OSError, ConnectionError, TimeoutError):
                        if client.transport is not None:
                            client.transport.abort()
                        await asyncio.sleep(0.1 * (attempt + 1))
                        continue
                    self.clients.append(client)
                    return
                failed += 1

        start = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(*(one(url) for url in urls))
        return {
            "opened": len(urls) - failed,
            "failed": failed,
            "seconds": time.perf_counter() - start,
            "cpu": time.process_time() - cpu,
        }

    def arm(self, marker: str, expected: int) -> dict:
        self.tally.marker = marker.encode()
        self.tally.delivered, self.tally.last = 0, 0.0
        self.tally.expected = expected
        self.tally.waiting = {client for client in self.clients if not client.closed.done()}
        self.tally.done = asyncio.Event()
        if not self.tally.waiting:
            self.tally.done.set()
        for client in self.clients:
            client.count = 0
        self.cpu_at_arm = time.process_time()
        return {"armed": len(self.tally.waiting)}

    async def wait(self, quiet: float) -> dict:
        """Until every socket has its deliveries, or `quiet` s passed without one; and the CPU time since ``arm``."""
        tally = self.tally
        while not tally.done.is_set():
            before = tally.delivered
            try:
                async with asyncio.timeout(quiet):
                    await tally.done.wait()
            except TimeoutError:
                if tally.delivered == before:
                    break
        return {
            "delivered": tally.delivered,
            "last": tally.last,
            "cpu": time.process_time() - self.cpu_at_arm,  # waiting out `quiet` costs none
            "short": len(tally.waiting),
        }

    async def close(self) -> dict:
        for client in self.clients:
            client.close()
        closing = [client.closed for client in self.clients]
        if closing:
            await asyncio.wait(closing, timeout=10)
        for client in self.clients:
            if not client.closed.done():
                client.transport.abort()
        count, self.clients = len(self.clients), []
        return {"closed": count}

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            command = json.loads(line)
            name = command.pop("cmd")
            if name == "open":
                answer = await self.open(**command)
            elif name == "arm":
                answer = self.arm(**command)
            elif name == "wait":
                answer = await self.wait(**command)
            elif name == "bytes":
                answer = {"bytes": self.tally.total_bytes, "open": sum(not c.closed.done() for c in self.clients)}
            elif name == "close":
                answer = await self.close()
            else:
                answer = {"error": f"unknown command {name}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


class Receivers:
    """Several worker processes (this one's CPU affinity), driven together; sockets are dealt out in turn."""

    def __init__(self, processes: int) -> None:
        self.count = processes
        self.workers: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> "Receivers":
        for _ in range(self.count):
            self.workers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.receivers",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=2**26,
                )
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for worker in self.workers:
            worker.stdin.close()
        for worker in self.workers:
            try:
                await asyncio.wait_for(worker.wait(), 10)
            except TimeoutError:
                worker.kill()
                await worker.wait()

    async def _ask(self, worker: asyncio.subprocess.Process, command: dict) -> dict:
        worker.stdin.write((json.dumps(command) + "\n").encode())
        await worker.stdin.drain()
        line = await worker.stdout.readline()
        if not line:
            raise RuntimeError(f"a receiving process ended (exit code {await worker.wait()})")
        return json.loads(line)

    async def all(self, command: dict | list[dict]) -> list[dict]:
        """The same command (or one each) to every worker at once; their answers."""
        commands = command if isinstance(command, list) else [command] * len(self.workers)
        return await asyncio.gather(*(self._ask(w, c) for w, c in zip(self.workers, commands, strict=True)))

    async def open(self, urls: list[str], parallel: int = 50) -> dict:
        """Open one socket per URL, dealt out over the workers; sockets opened, failed, seconds and CPU."""
        shares = [urls[index :: len(self.workers)] for index in range(len(self.workers))]
        per_worker = max(1, parallel // len(self.workers))
        start = time.perf_counter()
        answers = await self.all([{"cmd": "open", "urls": share, "parallel": per_worker} for share in shares])
        return {
            "opened": sum(a["opened"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "seconds": time.perf_counter() - start,
            "cpu": sum(a["cpu"] for a in answers),
        }

    async def settle(self, quiet: float = 0.5, limit: float = 15) -> None:
        """Wait until the sockets have received nothing for `quiet` s (joins and presence told), at most `limit` s."""
        deadline = time.monotonic() + limit
        before = -1
        while time.monotonic() < deadline:
            total = sum(a["bytes"] for a in await self.all({"cmd": "bytes"}))
            if total == before:
                return
            before = total
            await asyncio.sleep(quiet)

    async def arm(self, marker: str, expected: int) -> None:
        await self.all({"cmd": "arm", "marker": marker, "expected": expected})

    async def wait(self, quiet: float = 3) -> list[dict]:
        return await self.all({"cmd": "wait", "quiet": quiet})

    async def close(self) -> None:
        await self.all({"cmd": "close"})


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, user and system (clock ticks, 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


@dataclass
class FanoutRow:
    rate: float  # deliveries per second, the median burst
    lost: int  # deliveries missing over all bursts
    daphne_us: float  # the Daphne processes' CPU time per delivery (the relay's, in its row)
    redis_us: float  # the Redis servers' CPU time per delivery
    server_cpu: float  # percent of a core, servers and Redis together, over the bursts
    generator_cpu: float  # percent of a core, every generator process together, over the bursts


async def fanout(
    receivers: Receivers,
    listener_urls: list[str],
    sender_url: str,
    server_pids: list[int],
    redis_pids: list[int],
    messages: int,
    rounds: int = ROUNDS,
) -> FanoutRow:
    """One client of `sender_url` bursts `messages`; it and the lean listeners count what reaches them."""
    await receivers.open(listener_urls)
    sender = await connect(sender_url, origin=page_origin(sender_url), **CONNECT_OPTIONS)
    heard: list[float] = []  # the sender's own deliveries of the current burst
    current = {"prefix": "", "all heard": asyncio.Event()}

    async def hear() -> None:
        async for frame in sender:
            if current["prefix"] and current["prefix"] in frame:
                heard.append(time.perf_counter())
                if len(heard) == messages:
                    current["all heard"].set()

    hearing = asyncio.create_task(hear())
    rates, elapsed, delivered, lost, generator = [], 0.0, 0, 0, 0.0
    daphne, redis = 0.0, 0.0
    try:
        await receivers.settle()
        for burst in range(rounds):
            prefix = f"scale{uuid.uuid4().hex[:6]}-{burst}-"
            await receivers.arm(prefix, messages)
            heard.clear()
            current["all heard"] = asyncio.Event()
            current["prefix"] = prefix
            daphne_before = sum(cpu_seconds(pid) for pid in server_pids)
            redis_before = sum(cpu_seconds(pid) for pid in redis_pids)
            own_cpu, start = time.process_time(), time.perf_counter()
            for number in range(messages):
                await sender.send(json.dumps({"message": f"{prefix}{number}"}))
            answers = await receivers.wait()
            with contextlib.suppress(TimeoutError):  # counted as lost
                await asyncio.wait_for(current["all heard"].wait(), 3)
            own_cpu = time.process_time() - own_cpu
            daphne += sum(cpu_seconds(pid) for pid in server_pids) - daphne_before
            redis += sum(cpu_seconds(pid) for pid in redis_pids) - redis_before
            count = sum(answer["delivered"] for answer in answers) + len(heard)
            last = max([answer["last"] for answer in answers] + heard[-1:])
            took = max(last - start, 1e-9)
            rates.append(count / took)
            elapsed += took
            delivered += count
            lost += (len(listener_urls) + 1) * messages - count
            generator += own_cpu + sum(answer["cpu"] for answer in answers)
    finally:
        hearing.cancel()
        await sender.close()
        await receivers.close()
    return FanoutRow(
        rate=statistics.median(rates),
        lost=lost,
        daphne_us=1e6 * daphne / max(delivered, 1),
        redis_us=1e6 * redis / max(delivered, 1) if redis_pids else math.nan,
        server_cpu=100 * (daphne + redis) / elapsed,
        generator_cpu=100 * generator / elapsed,
    )


if __name__ == "__main__":
    raise_file_limit()
    asyncio.run(Worker().serve())
