"""``make bench``: the project, the tutorial's consumer and a raw relay, measured side by side.

Each server runs as one process pinned with Redis to the first core; this load
generator runs on the second. Everything listens on 127.0.0.1 and stops at the end.
"""

import argparse
import asyncio
import importlib.util
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from bench import loadgen
from bench.receivers import FanoutRow, Receivers, fanout, raise_file_limit
from chat.groups import room_group_name

PROJECT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def pinned(argv: list[str], core: int) -> list[str]:
    return ["taskset", "-c", str(core), *argv] if shutil.which("taskset") and os.cpu_count() > 1 else argv


@contextmanager
def running(
    argv: list[str], env: dict[str, str], port: int, log: Path, preexec_fn: Callable[[], object] | None = None
) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            pinned(argv, 0), env=os.environ | env, cwd=PROJECT, stdout=out, stderr=out, preexec_fn=preexec_fn
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{argv[0]} exited; see {log}")
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{argv} did not listen on {port}") from None
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # a server still busy with a flood's backlog
            process.kill()
            process.wait(10)


def server_pid(process: subprocess.Popen) -> int:
    """The server's own pid (taskset execs it, so it is the same process)."""
    return process.pid


def group_counter(redis_url: str, group_name: Callable[[str], str | None]) -> Callable[[str], float]:
    """Counts a room's Group members in the channel layer's Redis (channels-redis's key layout)."""
    client = redis.Redis.from_url(redis_url)

    def count(room: str) -> float:
        group = group_name(room)
        return client.zcard(f"asgi:group:{group}") if group else math.nan

    return count


def project_environment(work: Path, redis_url: str) -> dict[str, str]:
    """The environment of this project's Daphne processes, limits off; migrates the run's SQLite database."""
    environment = {
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "REDIS_URL": redis_url,
        "CHAT_RATE_LIMIT": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_HANDSHAKE_RATE": "0",
        "CHAT_NEW_ROOMS_PER_IP": "0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=os.environ | environment, check=True
    )
    return environment


def redis_command(port: int, work: Path) -> list[str]:
    """A private Redis on `port`, keeping nothing on disk."""
    redis = shutil.which("redis-server") or sys.exit("redis-server is missing: sudo apt-get install -y redis-server")
    return [redis, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(work)]


RAW_NAME = "raw websockets relay (ceiling)"
DAPHNE = [sys.executable, "-m", "daphne", "-b", HOST, "-p", "{port}"]
RAW_RELAY = [sys.executable, "-m", "bench.raw_server", "{port}"]


def targets(work: Path, redis_url: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    return {
        "this project (Daphne, Redis)": ([*DAPHNE, "mysite.asgi:application"], project_environment(work, redis_url)),
        "tutorial consumer (Daphne, Redis)": (
            [*DAPHNE, "bench.tutorial:application"],
            {"DJANGO_SETTINGS_MODULE": "bench.tutorial", "REDIS_URL": redis_url},
        ),
        RAW_NAME: (RAW_RELAY, {}),
    }


# How each server names a room's Group, to look for members left behind.
GROUP_NAMES: dict[str, Callable[[str], str | None]] = {
    "this project (Daphne, Redis)": room_group_name,
    "tutorial consumer (Daphne, Redis)": lambda room: f"chat_{room}",
    RAW_NAME: lambda room: None,
}


# Deliveries per fan-out burst: this divided by the room's size is the number of messages. Enough that a
# burst to the raw relay lasts about a tenth of a second, rather than the few milliseconds of a handshake.
FANOUT_DELIVERIES = 20_000


async def measure(
    url: loadgen.URL,
    pids: list[int],
    redis_pids: list[int],
    sizes: list[int],
    group_members: Callable[[str], float],
    generator: str,
    receiver_processes: int,
) -> tuple[dict[str, float], dict[int, FanoutRow]]:
    """The server's row of the table, and for each room size what its fan-out cost the server and the generator."""
    row: dict[str, float] = {}
    checks: dict[int, FanoutRow] = {}
    # Memory first, while the server's heap is still small: later scenarios grow it, and freed memory stays.
    kib_per_connection = await loadgen.memory_per_connection(url, pids[0])
    for size in sizes:
        messages = FANOUT_DELIVERIES // size
        if generator == "websockets":
            rate, generator_cpu = await loadgen.fanout(url, size, messages)
            checks[size] = FanoutRow(rate, 0, math.nan, math.nan, math.nan, generator_cpu)
        else:
            room = f"fan{uuid.uuid4().hex[:8]}"
            async with Receivers(receiver_processes) as receivers:
                checks[size] = await fanout(receivers, [url(room)] * (size - 1), url(room), pids, redis_pids, messages)
        row[f"fan-out {size}"] = checks[size].rate
    row["storm loss %"] = await loadgen.storm(url)
    row["p50 ms"], row["p99 ms"] = await loadgen.latency(url)
    row["conn/s"] = await loadgen.connection_rate(url)
    row["KiB/conn"] = kib_per_connection
    row["churn: stale members"] = await loadgen.churn(url, group_members)
    return row, checks


def table(rows: dict[str, dict[str, float]], baseline: str) -> str:
    columns = list(next(iter(rows.values())))
    lines = ["| server | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = []
        for column in columns:
            value, base = row[column], rows[baseline][column]
            cell = "n/a" if math.isnan(value) else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
            if name != baseline and column.startswith(("fan-out", "conn/s")) and base and not math.isnan(base):
                cell += f" ({value / base:.1f}x)"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_check(checks: dict[str, dict[int, FanoutRow]]) -> str:
    """What each fan-out burst cost the server (with its Redis) and the load generator."""
    lines = [
        "| server | N | deliveries/s | server µs/delivery | Redis µs/delivery | servers' CPU % | generator CPU % |",
        "|---" * 7 + "|",
    ]
    for name, by_size in checks.items():
        for size, row in by_size.items():
            cells = [row.rate, row.daphne_us, row.redis_us, row.server_cpu, row.generator_cpu]
            lines.append(f"| {name} | {size:,} | " + " | ".join(scale_number(cell) for cell in cells) + " |")
    return "\n".join(lines)


def scale_number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000", help="room sizes for the fan-out columns")
    parser.add_argument(
        "--only", choices=["servers", "scale"], help="only the table of the three servers, or only the scale tables"
    )
    parser.add_argument("--scale-sizes", default="200,1000", help="room sizes of the scale table's fan-out rows")
    parser.add_argument("--idle", default="1000,5000,10000", help="idle sockets held, step by step ('' for none)")
    parser.add_argument("--processes", default="1,2", help="Daphne processes in the scale table's rows")
    parser.add_argument("--shards", default="1,2", help="Redis servers in the scale table's rows")
    parser.add_argument(
        "--receivers", type=int, default=1, help="processes of lean receiving clients (all on the generator's core)"
    )
    parser.add_argument(
        "--generator",
        choices=["lean", "websockets"],
        default="lean",
        help="fan-out clients of the servers' table: lean receivers, or websockets clients in this process",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if importlib.util.find_spec("click"):
        print(
            "warning: click is importable here, and autobahn then colours the arguments of its debug log "
            "calls on every frame Daphne sends, which slows every Daphne row. The environment `make setup` "
            "builds has no click (the documentation tools live in .venv-docs).",
            file=sys.stderr,
        )
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    raise_file_limit()

    work = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    redis_port = free_port()
    rows: dict[str, dict[str, float]] = {}
    checks: dict[str, dict[int, FanoutRow]] = {}
    scale_tables = ""
    started = time.monotonic()
    try:
        with running(redis_command(redis_port, work), {}, redis_port, work / "redis.log") as redis_process:
            redis_url = f"redis://{HOST}:{redis_port}/0"
            for name, (argv, env) in targets(work, redis_url).items():
                if args.only == "scale":
                    break
                port = free_port()
                command = [part.format(port=port) for part in argv]
                with running(command, env, port, work / f"{len(rows)}.log") as process:
                    url = lambda room, port=port: f"ws://{HOST}:{port}/ws/chat/{room}/"  # noqa: E731
                    print(f"measuring {name}…", file=sys.stderr, flush=True)
                    members = group_counter(redis_url, GROUP_NAMES[name])
                    redis_pids = [] if name == RAW_NAME else [redis_process.pid]
                    rows[name], checks[name] = asyncio.run(
                        measure(url, [server_pid(process)], redis_pids, sizes, members, args.generator, args.receivers)
                    )
                rows[name]["tracebacks"] = (
                    (work / f"{len(rows) - 1}.log").read_text(errors="replace").count("Traceback")
                )
        if args.only != "servers":
            # Here rather than at the top: the scale tables build on this module.
            from bench import scale

            idle, fanouts, notes = scale.measure(
                work,
                project_environment(work, "redis://"),
                sizes=tuple(int(size) for size in args.scale_sizes.split(",")),
                processes=tuple(int(count) for count in args.processes.split(",")),
                shards=tuple(int(count) for count in args.shards.split(",")),
                idle_steps=tuple(int(count) for count in args.idle.split(",") if count),
                receiver_processes=args.receivers,
            )
            scale_tables = scale.tables(idle, fanouts, notes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if rows:
        print(table(rows, baseline="tutorial consumer (Daphne, Redis)"))
        print("\nWhat each fan-out burst cost:\n")
        print(load_check(checks))
    if scale_tables:
        print("\nScale:\n")
        print(scale_tables)
    print(
        f"\n{os.cpu_count()} cores; servers and Redis on core 0, load generator on core 1; "
        f"{time.monotonic() - started:.0f} s in all."
    )


if __name__ == "__main__":
    main()
