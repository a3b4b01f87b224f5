"""The scale curve of ``make bench``: idle sockets per Daphne process, and fan-out over processes and Redis shards.

Two tables, measured with the lean receivers of `bench.receivers` (a handshake of
their own, no compression, frames split but not decoded), so that the load
generator is not what sets the pace:

- **Idle sockets.** One Daphne process holds 1,000, then 5,000, then 10,000 idle
  sockets, 30 to a room (as classes are), opened 50 at a time: its resident
  memory per socket, sockets opened per second, and its CPU per socket opened.
- **Fan-out.** N clients in one room, one of them bursting messages: deliveries
  per second with one and two Daphne processes (the clients dealt out evenly,
  the sender on the first) and one and two Redis shards (``REDIS_URL`` naming
  both), beside the raw relay at the same N. Each row also gives the CPU each
  delivery cost the Daphne processes and Redis, and the generator's own CPU.

Every server process, Redis included, runs on the first core and the generator on
the second, in every row: with two cores, the rows with two processes or shards
show what a second one costs, not the throughput it would add on a core of its
own (for that, read the CPU per delivery).
"""

import asyncio
import math
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import rss_kib
from bench.receivers import FanoutRow, Receivers, cpu_seconds, fanout, raise_file_limit
from bench.run import DAPHNE, HOST, PROJECT, RAW_NAME, RAW_RELAY, free_port, redis_command, running

DELIVERIES_PER_BURST = 40_000  # messages per burst: this divided by the room's size
IDLE_STEPS = (1_000, 5_000, 10_000)
SOCKETS_PER_ROOM = 30

PROJECT_NAME = "this project (Daphne, Redis)"


@dataclass
class IdleRow:
    sockets: int
    kib_per_socket: float
    opened_per_second: float
    daphne_ms_per_open: float
    rss_mib: float
    generator_cpu: float  # percent of a core while the step's sockets opened
    failed: int


async def idle_sockets(
    receivers: Receivers, url: Callable[[str], str], pid: int, steps: tuple[int, ...] = IDLE_STEPS
) -> list[IdleRow]:
    """Hold more and more idle sockets on one Daphne process, `SOCKETS_PER_ROOM` to a room."""
    run = uuid.uuid4().hex[:6]
    # A first few sockets load what the first handshake imports and caches, which is no socket's cost.
    await receivers.open([url(f"warm{run}") for _ in range(50)])
    await receivers.settle()
    await receivers.close()
    base = rss_kib(pid)
    rows, held = [], 0
    for step in steps:
        urls = [url(f"idle{run}-{number // SOCKETS_PER_ROOM}") for number in range(held, step)]
        daphne_before = cpu_seconds(pid)
        opened = await receivers.open(urls)
        daphne_cpu = cpu_seconds(pid) - daphne_before
        held += opened["opened"]
        await receivers.settle(quiet=1.0)  # presence told, rooms quiet
        rss = rss_kib(pid)
        rows.append(
            IdleRow(
                sockets=held,
                kib_per_socket=(rss - base) / max(held, 1),
                opened_per_second=opened["opened"] / opened["seconds"],
                daphne_ms_per_open=1e3 * daphne_cpu / max(opened["opened"], 1),
                rss_mib=rss / 1024,
                generator_cpu=100 * opened["cpu"] / opened["seconds"],
                failed=opened["failed"],
            )
        )
    await receivers.close()
    return rows


def sharding_supported(environment: dict[str, str]) -> bool:
    """Whether this version's settings spread a comma-separated ``REDIS_URL`` over several servers."""
    probe = "from django.conf import settings; print(len(settings.CHANNEL_LAYERS['default']['CONFIG']['hosts']))"
    two = "redis://127.0.0.1:1/0,redis://127.0.0.1:2/0"
    answer = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {probe}"],
        cwd=PROJECT,
        env=os.environ | environment | {"REDIS_URL": two},
        capture_output=True,
        text=True,
    )
    return answer.returncode == 0 and answer.stdout.strip() == "2"


@contextmanager
def servers(
    work: Path, environment: dict[str, str], processes: int, shards: int
) -> Iterator[tuple[list[int], list[int], list[int]]]:
    """`shards` private Redis servers and `processes` Daphne processes of the project; their ports and pids."""
    with ExitStack() as stack:
        redis_urls, redis_pids = [], []
        for shard in range(shards):
            port = free_port()
            log = work / f"scale-redis-{shard}.log"
            redis_pids.append(stack.enter_context(running(redis_command(port, work), {}, port, log)).pid)
            redis_urls.append(f"redis://{HOST}:{port}/0")
        ports, pids = [], []
        for number in range(processes):
            port = free_port()
            argv = [part.format(port=port) for part in DAPHNE] + ["mysite.asgi:application"]
            env = environment | {"REDIS_URL": ",".join(redis_urls)}
            log = work / f"scale-daphne-{number}.log"
            pids.append(stack.enter_context(running(argv, env, port, log, preexec_fn=raise_file_limit)).pid)
            ports.append(port)
        yield ports, pids, redis_pids


def room_url(port: int, room: str) -> str:
    return f"ws://{HOST}:{port}/ws/chat/{room}/"


def measure(
    work: Path,
    environment: dict[str, str],
    *,
    sizes: tuple[int, ...] = (200, 1000),
    processes: tuple[int, ...] = (1, 2),
    shards: tuple[int, ...] = (1, 2),
    idle_steps: tuple[int, ...] = IDLE_STEPS,
    receiver_processes: int = 1,
) -> tuple[list[IdleRow], list[tuple[str, int, int, int, FanoutRow]], list[str]]:
    """The idle rows, the fan-out rows (server, processes, shards, N, figures) and notes on what was left out."""
    notes: list[str] = []
    if max(shards) >= 2 and not sharding_supported(environment):
        notes.append("rows with several Redis shards left out: this version's REDIS_URL names one server")
        shards = tuple(count for count in shards if count == 1)

    def run(scenario: Callable[[Receivers], object]) -> object:
        async def main() -> object:
            async with Receivers(receiver_processes) as receivers:
                return await scenario(receivers)

        return asyncio.run(main())

    fanouts: list[tuple[str, int, int, int, FanoutRow]] = []
    port = free_port()
    argv = [part.format(port=port) for part in RAW_RELAY]
    with running(argv, {}, port, work / "scale-raw.log", preexec_fn=raise_file_limit) as relay:
        for size in sizes:
            print(f"scale: raw relay, {size} clients…", file=sys.stderr, flush=True)
            urls = [room_url(port, "raw")] * (size - 1)
            row = run(
                lambda r, urls=urls, size=size: fanout(
                    r, urls, room_url(port, "raw"), [relay.pid], [], DELIVERIES_PER_BURST // size
                )
            )
            fanouts.append((RAW_NAME, 1, 0, size, row))
    for shard_count in shards:
        for process_count in processes:
            with servers(work, environment, process_count, shard_count) as (ports, pids, redis_pids):
                for size in sizes:
                    print(
                        f"scale: {process_count} Daphne, {shard_count} Redis, {size} clients…",
                        file=sys.stderr,
                        flush=True,
                    )
                    room = f"scale{uuid.uuid4().hex[:8]}"
                    # The sender is on the first process; the others are dealt out so each process has N / P.
                    urls = [room_url(ports[(number + 1) % len(ports)], room) for number in range(size - 1)]
                    row = run(
                        lambda r, urls=urls, room=room, size=size, ports=ports, pids=pids, rp=redis_pids: fanout(
                            r, urls, room_url(ports[0], room), pids, rp, DELIVERIES_PER_BURST // size
                        )
                    )
                    fanouts.append((PROJECT_NAME, process_count, shard_count, size, row))
    idle: list[IdleRow] = []
    if idle_steps:
        print("scale: idle sockets on one Daphne process…", file=sys.stderr, flush=True)
        with servers(work, environment, 1, 1) as (ports, pids, _):
            idle = run(lambda r: idle_sockets(r, lambda room: room_url(ports[0], room), pids[0], idle_steps))
    return idle, fanouts, notes


def number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def tables(idle: list[IdleRow], fanouts: list[tuple[str, int, int, int, FanoutRow]], notes: list[str]) -> str:
    lines = [
        "| server | Daphne processes | Redis shards | N | deliveries/s | × raw | × raw by CPU | Daphne µs/delivery "
        "| Redis µs/delivery | servers' CPU % | generator CPU % | lost |",
        "|---" * 12 + "|",
    ]
    raw = {size: row for name, _, _, size, row in fanouts if name == RAW_NAME}
    for name, processes, shards, size, row in fanouts:
        ratio = by_cpu = ""
        if name != RAW_NAME and size in raw:
            ratio = f"{row.rate / raw[size].rate:.2f}x"
            # What the rate would be with every server at full speed: the relay's CPU per delivery over ours.
            by_cpu = f"{raw[size].daphne_us / (row.daphne_us + row.redis_us):.2f}x"
        lines.append(
            f"| {name} | {processes} | {shards or 'n/a'} | {size:,} | {number(row.rate)} | {ratio} | {by_cpu} "
            f"| {number(row.daphne_us)} | {number(row.redis_us)} | {number(row.server_cpu)} "
            f"| {number(row.generator_cpu)} | {row.lost:,} |"
        )
    if idle:
        lines += [
            "",
            "| idle sockets on one Daphne process | KiB/socket | sockets opened/s | Daphne CPU ms/socket opened "
            "| Daphne RSS MiB | generator CPU % | failed |",
            "|---" * 7 + "|",
        ]
        for row in idle:
            lines.append(
                f"| {row.sockets:,} | {number(row.kib_per_socket)} | {number(row.opened_per_second)} "
                f"| {number(row.daphne_ms_per_open)} | {number(row.rss_mib)} | {number(row.generator_cpu)} "
                f"| {row.failed} |"
            )
    lines += [f"\n{note}." for note in notes]
    return "\n".join(lines)
