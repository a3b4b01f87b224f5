"""The quiet room (a probe in a process of its own, timing acks) and the server's memory and CPU.

The probe is a process of its own so that an attacker keeping the load generator's
event loop busy does not show up as the server's latency.
"""

import asyncio
import contextlib
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.clients import connect_options
from bench.loadgen import rss_kib
from bench.run import HOST

QUIET_ADDRESS = "127.0.0.1"
QUIET_SOCKETS = 5  # the sender turns through them: 2 frames a second each, well under the rate limit
QUIET_INTERVAL = 0.1  # seconds between the quiet room's messages


def run_probe(port: int, room: str, log_path: str) -> None:
    """The probe process: 10 messages a second into `room`, each send and ack written to `log_path`."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(probe(port, room, Path(log_path)))


async def probe(port: int, room: str, log_path: Path) -> None:
    url = f"ws://{HOST}:{port}/ws/chat/{room}/"
    slots: list[ClientConnection | None] = [None] * QUIET_SOCKETS
    with open(log_path, "a", buffering=1) as log:

        def record(line: str) -> None:
            log.write(f"{line} {time.monotonic():.6f}\n")

        async def keep_open(slot: int) -> None:
            while True:
                try:
                    client = await connect(url, local_addr=(QUIET_ADDRESS, 0), **connect_options(url))
                except (OSError, InvalidHandshake, TimeoutError):
                    record("X refused")
                    await asyncio.sleep(0.5)
                    continue
                slots[slot] = client
                try:
                    async for text in client:
                        frame = json.loads(text)
                        if frame.get("client_id", "").startswith("q"):
                            if frame.get("type") == "ack":
                                record(f"A {frame['client_id'][1:]}")
                            elif frame.get("type") == "error":
                                record(f"E {frame['client_id'][1:]} {frame.get('code')}")
                except ConnectionClosed as exc:
                    record(f"X closed {exc.rcvd.code if exc.rcvd else 'without a code'}")
                slots[slot] = None
                await asyncio.sleep(0.5)

        keepers = [asyncio.create_task(keep_open(slot)) for slot in range(QUIET_SOCKETS)]
        try:
            start, number = time.monotonic(), 0
            while True:
                await asyncio.sleep(max(start + number * QUIET_INTERVAL - time.monotonic(), 0))
                client = slots[number % QUIET_SOCKETS]
                if client is not None:
                    record(f"S {number}")
                    with contextlib.suppress(ConnectionClosed):
                        await client.send(json.dumps({"message": f"quiet {number}", "client_id": f"q{number}"}))
                number += 1
        finally:
            for keeper in keepers:
                keeper.cancel()


@dataclass
class ProbeLog:
    """The probe's record: when each message went, and when its ack came."""

    sent: dict[int, float] = field(default_factory=dict)
    acked: dict[int, float] = field(default_factory=dict)
    troubles: list[tuple[float, str]] = field(default_factory=list)  # errors, closes, refusals

    @classmethod
    def read(cls, path: Path) -> "ProbeLog":
        log = cls()
        for line in path.read_text().split("\n")[:-1]:  # the last line may be half written
            kind, *rest, stamp = line.split()
            if kind == "S":
                log.sent[int(rest[0])] = float(stamp)
            elif kind == "A":
                log.acked.setdefault(int(rest[0]), float(stamp))
            elif kind == "E":
                log.troubles.append((float(stamp), f"error {rest[-1]}"))
            else:
                log.troubles.append((float(stamp), f"socket {' '.join(rest)}"))
        return log

    def latencies(self, start: float, end: float, now: float) -> tuple[list[float], int]:
        """Ack latencies (ms) of the messages sent in [start, end); one never acked counts as its wait so far."""
        delays, unanswered = [], 0
        for number, sent in self.sent.items():
            if start <= sent < end:
                acked = self.acked.get(number)
                if acked is None:
                    unanswered += 1
                delays.append(1000 * ((acked if acked is not None else now) - sent))
        return sorted(delays), unanswered


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(int(share * len(sorted_values)), len(sorted_values) - 1)]


def latency_cell(log: ProbeLog, start: float, end: float) -> str:
    delays, unanswered = log.latencies(start, end, time.monotonic())
    if not delays:
        return "n/a"
    p50, p99 = statistics.median(delays), percentile(delays, 0.99)
    cell = f"{number(p50)} / {'≥' if unanswered else ''}{number(p99)}"
    return cell + (f" ({unanswered} unanswered)" if unanswered else "")


def number(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime and stime


@dataclass
class Sampler:
    """Daphne's resident memory (KiB) and CPU time, every 0.2 s while a measurement runs."""

    pid: int
    samples: list[tuple[float, int, float]] = field(default_factory=list)

    def sample(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self.samples.append((time.monotonic(), rss_kib(self.pid), cpu_seconds(self.pid)))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.2)

    def within(self, start: float, end: float) -> list[tuple[float, int, float]]:
        return [sample for sample in self.samples if start <= sample[0] <= end]

    def rss_mib(self, start: float, end: float, peak: bool = False) -> str:
        window = self.within(start, end)
        if not window:
            return "n/a"
        kib = max(rss for _, rss, _ in window) if peak else window[-1][1]
        return number(kib / 1024)

    def cpu_share(self, start: float, end: float) -> float | None:
        """Daphne's CPU time over the window, in percent of one core."""
        window = self.within(start, end)
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            return None
        return 100 * (window[-1][2] - window[0][2]) / (window[-1][0] - window[0][0])

    def cpu_percent(self, start: float, end: float) -> str:
        share = self.cpu_share(start, end)
        return "n/a" if share is None else f"{share:.0f}"
