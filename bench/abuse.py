"""``make bench-abuse``: what one hostile client costs everyone else on the same Daphne process.

One Daphne process with the project's default limits (and Redis) runs pinned to the first
core. A quiet room beside it (`bench.quiet`) says something every 100 ms and times each
acknowledgement. Then each attack of issue 17 (`bench.attacks`) runs for a few seconds,
one after another, with a pause to recover in between; the table gives, for each, the
quiet room's ack latency and the server's memory and CPU before, during and after it,
and what the server did to the attacker. Every wait is bounded; everything started stops
on exit, Ctrl+C included.
"""

import argparse
import asyncio
import collections
import contextlib
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from websockets.exceptions import InvalidHandshake

from bench.attacks import ADMIN_USERNAME, ATTACKS, LONG_ROOM, LONG_ROOM_MESSAGES, Attack, Target, fresh, no_attacker
from bench.clients import Refused
from bench.quiet import ProbeLog, Sampler, latency_cell, percentile, run_probe
from bench.run import HOST, PROJECT, free_port, running

BEFORE = 2.0  # seconds of quiet measured before each attack
SETTLE = 2.0  # seconds between the attacker's end and the "after" window
AFTER = 2.0  # seconds of the "after" window
RECOVERY_LIMIT = 15.0  # the longest wait for the server to be back to normal after an attack
IDLE_CPU = 20.0  # percent of a core: Daphne with only the quiet room uses about 5


@dataclass
class Server:
    process: subprocess.Popen
    target: Target
    probe_log: Path
    server_log: Path


async def wait_for_normal(server: Server, sampler: Sampler, limit_ms: float, timeout: float) -> float | None:
    """Wait until the quiet room's last second was acked within `limit_ms` and Daphne is about idle.

    Returns when that was, or None if it was not within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        delays, unanswered = ProbeLog.read(server.probe_log).latencies(now - 1.5, now - 0.5, now)
        cpu = sampler.cpu_share(now - 1, now)
        if delays and not unanswered and delays[-1] < limit_ms and cpu is not None and cpu < IDLE_CPU:
            return now
    return None


async def wait_for_acks(server: Server, sent_before: float, timeout: float) -> None:
    """Until every quiet message sent before `sent_before` has its ack (at most `timeout` s): the last ones are due."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, unanswered = ProbeLog.read(server.probe_log).latencies(sent_before - 1, sent_before, time.monotonic())
        if not unanswered:
            return
        await asyncio.sleep(0.1)


async def measure(server: Server, attack: Attack, quiet_limit_ms: float) -> dict[str, str]:
    sampler = Sampler(server.process.pid)
    sampling = asyncio.create_task(sampler.run())
    log_start = server.server_log.stat().st_size
    try:
        await wait_for_normal(server, sampler, quiet_limit_ms, RECOVERY_LIMIT)
        before = time.monotonic()
        await asyncio.sleep(BEFORE)
        started = time.monotonic()
        server.target.load_stopped = None
        try:
            outcome = await attack.run(server.target, attack.seconds)
        except (OSError, Refused, InvalidHandshake, TimeoutError) as exc:
            outcome = f"could not attack: {exc!r}"
        stopped = server.target.load_stopped or time.monotonic()
        ended = time.monotonic()
        await asyncio.sleep(SETTLE + AFTER)
        after = ended + SETTLE
        finished = time.monotonic()
        await wait_for_acks(server, finished, timeout=3)
        # Until the tail of the attack is over, so that what it still costs (log lines too) counts here.
        checking = time.monotonic()
        normal = await wait_for_normal(server, sampler, quiet_limit_ms, RECOVERY_LIMIT)
        checked = time.monotonic()
    finally:
        sampling.cancel()
    log = ProbeLog.read(server.probe_log)
    troubles = collections.Counter(what for stamp, what in log.troubles if before <= stamp <= finished)
    if troubles:
        outcome += "; the quiet room got " + ", ".join(f"{count}× {what}" for what, count in troubles.items())
    new_log = server.server_log.read_bytes()[log_start:].decode(errors="replace").splitlines()
    warnings = sum(" WARNING " in line or " ERROR " in line for line in new_log)
    tracebacks = sum(line.startswith("Traceback") for line in new_log)
    return {
        "attack": attack.label,
        "what the attacker got": outcome,
        "quiet p50 / p99 ms before": latency_cell(log, before, started),
        "quiet during": latency_cell(log, started, stopped),
        "quiet after": latency_cell(log, after, finished),
        "RSS MiB before": sampler.rss_mib(before, started),
        "RSS peak during": sampler.rss_mib(started, ended, peak=True),
        "RSS after": sampler.rss_mib(after, finished),
        "CPU % during": sampler.cpu_percent(started, stopped),
        "CPU % after": sampler.cpu_percent(after, finished),
        "back to normal": recovery(stopped, checking, normal, checked),
        "log: warnings (tracebacks)": f"{warnings:,} ({tracebacks})",
    }


def recovery(stopped: float, checking: float, normal: float | None, checked: float) -> str:
    """How long after the attacker stopped the server was back to normal; first checked after the "after" window."""
    if normal is None:
        return f"not in {checked - stopped:.0f} s"
    if normal - checking < 0.6:  # at the first look
        return f"≤ {normal - stopped:.0f} s"
    return f"{normal - stopped:.0f} s"


def table(rows: list[dict[str, str]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(row.values()) + " |" for row in rows]
    return "\n".join(lines)


# ### Setting up: the database, the server, the probe ###


def seed_database(room: str, messages: int, admin_password: str) -> None:
    """Run in a child process with the server's environment: a long room, and an admin account to guess at."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from chat.models import Message, Room

    with transaction.atomic():
        long_room = Room.objects.create(name=room, last_message_id=messages)
        Message.objects.bulk_create(
            Message(room=long_room, room_message_id=number, author="seed", text=f"{number:06d} " + "y" * 1990)
            for number in range(1, messages + 1)
        )
        get_user_model().objects.create_superuser(ADMIN_USERNAME, "", admin_password)


@contextlib.contextmanager
def probe_process(port: int, room: str, log_path: Path) -> Iterator[multiprocessing.Process]:
    log_path.touch()
    process = multiprocessing.get_context("spawn").Process(
        target=run_probe, args=(port, room, str(log_path)), daemon=True
    )
    process.start()
    try:
        deadline = time.monotonic() + 30
        while not ProbeLog.read(log_path).acked:
            if time.monotonic() > deadline or not process.is_alive():
                raise SystemExit(f"the quiet room's probe got no ack in 30 s; see {log_path}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


@contextlib.contextmanager
def serving(work: Path, env: dict[str, str], target: Target, number: int) -> Iterator[Server]:
    argv = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(target.port), "mysite.asgi:application"]
    server_log, probe_log = work / f"daphne-{number}.log", work / f"probe-{number}.log"
    with running(argv, env, target.port, server_log) as process, probe_process(target.port, fresh("quiet"), probe_log):
        yield Server(process, target, probe_log, server_log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(ATTACKS), help=f"attacks to run, by number (default: all, {','.join(ATTACKS)})"
    )
    parser.add_argument(
        "--fresh-server", action="store_true", help="a new Daphne process for each attack, so none inherits a heap"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server logs, probe records)")
    args = parser.parse_args()
    # A plain `kill` stops the run as Ctrl+C does, so the servers and the probe stop with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    chosen = [ATTACKS[key] for key in args.only.split(",")]
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    redis_server = shutil.which("redis-server") or sys.exit(
        "redis-server is missing: sudo apt-get install -y redis-server"
    )
    work = Path(tempfile.mkdtemp(prefix="chat-abuse-"))
    redis_port = free_port()
    redis_argv = [redis_server, "--bind", HOST, "--port", str(redis_port), "--save", "", "--appendonly", "no"]
    admin_password = secrets.token_urlsafe(16)
    env = {
        # The project's defaults for every limit: only what a server needs to start is set.
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{work / 'abuse.sqlite3'}",
        "REDIS_URL": f"redis://{HOST}:{redis_port}/0",
    }
    rows: list[dict[str, str]] = []
    started = time.monotonic()
    try:
        with running([*redis_argv, "--dir", str(work)], {}, redis_port, work / "redis.log"):
            project_env = os.environ | env
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=project_env, check=True
            )
            seed = f"seed_database({LONG_ROOM!r}, {LONG_ROOM_MESSAGES}, {admin_password!r})"
            seed_command = [sys.executable, "-c", f"from bench.abuse import seed_database; {seed}"]
            subprocess.run(seed_command, cwd=PROJECT, env=project_env, check=True)
            target = Target(free_port(), work / "abuse.sqlite3", admin_password)
            quiet_limit_ms = 50.0
            with contextlib.ExitStack() as servers:
                server = None
                for number, attack in enumerate(chosen):
                    if server is None or args.fresh_server:
                        servers.close()
                        target.port = free_port()
                        server = servers.enter_context(serving(work, env, target, number))
                    print(f"{attack.label}…", file=sys.stderr, flush=True)
                    rows.append(asyncio.run(measure(server, attack, quiet_limit_ms)))
                    if attack.run is no_attacker:
                        delays, _ = ProbeLog.read(server.probe_log).latencies(0, math.inf, time.monotonic())
                        quiet_limit_ms = max(50.0, 3 * percentile(delays, 0.99))
    finally:
        if args.keep:
            print(f"logs and records kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        if rows:
            print(table(rows))
    print(
        f"\n{os.cpu_count()} cores; Daphne and Redis on core 0, the attackers and the quiet room's probe on core 1;"
        f" {time.monotonic() - started:.0f} s in all."
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("Interrupted; every process the run started has stopped.")
