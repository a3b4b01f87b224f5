"""Load scenarios against one chat server, over loopback only, bounded in count and time.

Each scenario opens its own clients in a fresh room and closes them after. Frames
are matched by their ``message`` text, so the same scenarios measure the project,
the tutorial's consumer and a raw relay alike.
"""

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

URL = Callable[[str], str]  # room name -> socket URL
DEADLINE = 60  # seconds any one wait may take
HANDSHAKE_ATTEMPTS = 5
# No compression: Daphne offers none, and a client offering it would make the raw relay compress every frame.
CONNECT_OPTIONS = {"max_queue": None, "open_timeout": 30, "ping_interval": None, "compression": None}


def page_origin(socket_url: str) -> str:
    """The origin of the page a browser would open `socket_url` from: the chat takes sockets from its own pages only."""
    parts = urlsplit(socket_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


async def open_clients(url: URL, room: str, count: int, parallel: int = 50) -> list[ClientConnection]:
    gate = asyncio.Semaphore(parallel)

    async def one() -> ClientConnection:
        async with gate:
            for attempt in range(1, HANDSHAKE_ATTEMPTS):
                try:
                    return await connect(url(room), origin=page_origin(url(room)), **CONNECT_OPTIONS)
                except InvalidStatus:
                    # A server that fails a handshake (the tutorial's, past redis-py's 100 connections)
                    # is asked again; its log counts the failure in the tracebacks column.
                    await asyncio.sleep(0.1 * attempt)
            return await connect(url(room), origin=page_origin(url(room)), **CONNECT_OPTIONS)

    return await asyncio.gather(*(one() for _ in range(count)))


async def close_all(clients: list[ClientConnection]) -> None:
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


def texts(frame: str | bytes, prefix: str) -> str | None:
    """The message text of a chat frame, if it is one of ours."""
    try:
        data = json.loads(frame)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type", "chat.message") != "chat.message":
        return None
    message = data.get("message")
    return message if isinstance(message, str) and message.startswith(prefix) else None


async def collect(client: ClientConnection, prefix: str, expected: int, quiet: float) -> list[tuple[str, float]]:
    """Our messages as they arrive, with arrival times, until `expected` came or `quiet` s passed without one."""
    got: list[tuple[str, float]] = []
    while len(got) < expected:
        try:
            async with asyncio.timeout(quiet):  # no task per frame, as wait_for would start
                frame = await client.recv()
        except TimeoutError:
            break
        text = texts(frame, prefix)
        if text is not None:
            got.append((text, time.perf_counter()))
    return got


async def fanout(url: URL, clients: int, messages: int = 20, rounds: int = 3) -> tuple[float, float]:
    """Deliveries per second: one sender bursts `messages` to a room of `clients`; the median of `rounds` bursts.

    And this process's own CPU time over that burst, in percent of a core: near 100, the
    generator rather than the server sets the pace.
    """
    room = f"fan{uuid.uuid4().hex[:8]}"
    listeners = await open_clients(url, room, clients)
    bursts = []
    try:
        for burst in range(rounds):
            prefix = f"fan{burst}-"
            receiving = [asyncio.create_task(collect(c, prefix, messages, quiet=10)) for c in listeners]
            await asyncio.sleep(0.5)  # let the room settle (joins, presence) before the clock starts
            start, cpu = time.perf_counter(), time.process_time()
            sender = listeners[0]
            for number in range(messages):
                await sender.send(json.dumps({"message": f"{prefix}{number}"}))
            results = await asyncio.wait_for(asyncio.gather(*receiving), DEADLINE)
            cpu = time.process_time() - cpu
            delivered = sum(len(result) for result in results)
            last = max((arrival for result in results for _, arrival in result), default=start)
            elapsed = max(last - start, 1e-9)
            bursts.append((delivered / elapsed, 100 * cpu / max(time.perf_counter() - start, 1e-9)))
    finally:
        await close_all(listeners)
    rate, generator_cpu = sorted(bursts)[len(bursts) // 2]
    return rate, generator_cpu


async def storm(url: URL, clients: int = 200, senders: int = 50, each: int = 10) -> float:
    """Live loss, in percent: `senders` of `clients` send `each` messages at once; everyone should get all."""
    room, prefix = f"storm{uuid.uuid4().hex[:8]}", "storm-"
    people = await open_clients(url, room, clients)
    expected = senders * each
    try:
        receiving = [asyncio.create_task(collect(c, prefix, expected, quiet=3)) for c in people]
        await asyncio.sleep(0.5)

        async def talk(client: ClientConnection, who: int) -> None:
            for number in range(each):
                await client.send(json.dumps({"message": f"{prefix}{who}-{number}"}))

        await asyncio.gather(*(talk(people[who], who) for who in range(senders)))
        results = await asyncio.wait_for(asyncio.gather(*receiving), DEADLINE)
    finally:
        await close_all(people)
    received = sum(len({text for text, _ in result}) for result in results)
    return 100 * (1 - received / (expected * clients))


async def latency(url: URL, clients: int = 200, rate: float = 5, seconds: float = 4) -> tuple[float, float]:
    """p50 and p99 in ms from send to each delivery, at `rate` messages a second to a room of `clients`."""
    room, prefix = f"lat{uuid.uuid4().hex[:8]}", "lat-"
    people = await open_clients(url, room, clients)
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    try:
        receiving = [asyncio.create_task(collect(c, prefix, count, quiet=5)) for c in people]
        await asyncio.sleep(0.5)
        for number in range(count):
            text = f"{prefix}{number}"
            sent[text] = time.perf_counter()
            await people[0].send(json.dumps({"message": text}))
            await asyncio.sleep(1 / rate)
        results = await asyncio.wait_for(asyncio.gather(*receiving), DEADLINE)
    finally:
        await close_all(people)
    delays = sorted(1000 * (arrival - sent[text]) for result in results for text, arrival in result)
    if len(delays) < 2:
        return float("nan"), float("nan")
    return statistics.median(delays), delays[int(0.99 * (len(delays) - 1))]


async def connection_rate(url: URL, clients: int = 300) -> float:
    """Sockets opened per second, 50 at a time."""
    start = time.perf_counter()
    people = await open_clients(url, f"conn{uuid.uuid4().hex[:8]}", clients)
    elapsed = time.perf_counter() - start
    await close_all(people)
    return clients / elapsed


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def memory_per_connection(url: URL, pid: int, clients: int = 500) -> float:
    """KiB of the server's resident memory per idle socket."""
    before = rss_kib(pid)
    people = await open_clients(url, f"mem{uuid.uuid4().hex[:8]}", clients)
    await asyncio.sleep(2)  # idle: let the server settle
    after = rss_kib(pid)
    await close_all(people)
    return (after - before) / clients


async def churn(url: URL, group_members: Callable[[str], float], total: int = 1000, batch: int = 200) -> float:
    """Group members left behind after `total` clients connected and left in batches of `batch`.

    `group_members(room)` counts the room's Group members in Redis; NaN for a server without Groups.
    """
    room = f"churn{uuid.uuid4().hex[:8]}"
    for _ in range(total // batch):
        await close_all(await open_clients(url, room, batch))
    deadline = time.monotonic() + 10
    while (left := group_members(room)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # disconnects are handled a moment after the close
    return float(left)
