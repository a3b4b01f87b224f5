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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from bench import loadgen
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
def running(argv: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "ab") as out:
        process = subprocess.Popen(pinned(argv, 0), env=os.environ | env, cwd=PROJECT, stdout=out, stderr=out)
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


def targets(work: Path, redis_url: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    daphne = [sys.executable, "-m", "daphne", "-b", HOST, "-p", "{port}"]
    database = f"sqlite:///{work / 'bench.sqlite3'}"
    project_env = {
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "CHAT_RATE_LIMIT": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_HANDSHAKE_RATE": "0",
        "CHAT_NEW_ROOMS_PER_IP": "0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=os.environ | project_env, check=True
    )
    return {
        "this project (Daphne, Redis)": ([*daphne, "mysite.asgi:application"], project_env),
        "tutorial consumer (Daphne, Redis)": (
            [*daphne, "bench.tutorial:application"],
            {"DJANGO_SETTINGS_MODULE": "bench.tutorial", "REDIS_URL": redis_url},
        ),
        "raw websockets relay (ceiling)": ([sys.executable, "-m", "bench.raw_server", "{port}"], {}),
    }


# How each server names a room's Group, to look for members left behind.
GROUP_NAMES: dict[str, Callable[[str], str | None]] = {
    "this project (Daphne, Redis)": room_group_name,
    "tutorial consumer (Daphne, Redis)": lambda room: f"chat_{room}",
    "raw websockets relay (ceiling)": lambda room: None,
}


async def measure(
    url: loadgen.URL, pid: int, sizes: list[int], group_members: Callable[[str], float]
) -> dict[str, float]:
    row: dict[str, float] = {}
    # Memory first, while the server's heap is still small: later scenarios grow it, and freed memory stays.
    kib_per_connection = await loadgen.memory_per_connection(url, pid)
    for size in sizes:
        row[f"fan-out {size}"] = await loadgen.fanout(url, size, messages=20 if size <= 200 else 10)
    row["storm loss %"] = await loadgen.storm(url)
    row["p50 ms"], row["p99 ms"] = await loadgen.latency(url)
    row["conn/s"] = await loadgen.connection_rate(url)
    row["KiB/conn"] = kib_per_connection
    row["churn: stale members"] = await loadgen.churn(url, group_members)
    return row


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000", help="room sizes for the fan-out columns")
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

    work = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    redis_port = free_port()
    redis = shutil.which("redis-server") or sys.exit("redis-server is missing: sudo apt-get install -y redis-server")
    redis_argv = [
        redis,
        "--bind",
        HOST,
        "--port",
        str(redis_port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(work),
    ]
    rows: dict[str, dict[str, float]] = {}
    try:
        with running(redis_argv, {}, redis_port, work / "redis.log"):
            redis_url = f"redis://{HOST}:{redis_port}/0"
            for name, (argv, env) in targets(work, redis_url).items():
                port = free_port()
                command = [part.format(port=port) for part in argv]
                with running(command, env, port, work / f"{len(rows)}.log") as process:
                    url = lambda room, port=port: f"ws://{HOST}:{port}/ws/chat/{room}/"  # noqa: E731
                    print(f"measuring {name}…", file=sys.stderr, flush=True)
                    members = group_counter(redis_url, GROUP_NAMES[name])
                    rows[name] = asyncio.run(measure(url, server_pid(process), sizes, members))
                rows[name]["tracebacks"] = (
                    (work / f"{len(rows) - 1}.log").read_text(errors="replace").count("Traceback")
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows, baseline="tutorial consumer (Daphne, Redis)"))
    print(f"\n{os.cpu_count()} cores; server and Redis on core 0, load generator on core 1.")


if __name__ == "__main__":
    main()
