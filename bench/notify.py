"""``make bench-notify``: from `notify()` to a person's pages on two processes, and what a Group per person costs.

End to end: a private Redis, a database (SQLite, PostgreSQL or both) and two
Daphne processes (``daphne mysite.asgi:application``, rate and connection limits
off) pinned to the first core; on the second, a process with Django set up
against the same database and Redis signs a person in (an account and a session
row, as logging in makes them) and opens one ``ws/notifications/`` socket on
each Daphne process. It then notifies that person, one notification at a time
and then back to back, three ways: `anotify()` in its event loop, `notify()`
from a thread with no event loop (as a management command or a view under
gunicorn calls it), and ``POST /api/users/<username>/notifications`` to the
first Daphne process. Each is timed from the call to the ``notification`` frame
on each socket.

The designs: `bench.inbox_designs`, a Group per person against one Group with
addressed events, at the channel layer with real Redis, P processes of M
persons each.

Every wait is bounded; everything the run starts stops on exit, Ctrl+C included.
"""

import argparse
import asyncio
import contextlib
import json
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
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench import inbox_designs
from bench.inbox_designs import percentile
from bench.run import HOST, PROJECT, free_port, running

USERNAME = "bench-ann"
WARM_UP = 20  # notifications of each kind sent before the clock starts, and not counted
DEADLINE = 30  # seconds any one notification may take to reach both pages


# ### End to end: from notify() to the pages, through two Daphne processes ###


def server_environment(database_url: str, redis_url: str, secret: str) -> dict[str, str]:
    """The environment of the Daphne processes and of the process that notifies: one database, one Redis.

    `secret` is the secret key; the API token is made from it.
    """
    return {
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": "3",
        "REDIS_URL": redis_url,
        "CHAT_API_TOKEN": f"bench-{secret[:32]}",
        "CHAT_RATE_LIMIT": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_HANDSHAKE_RATE": "0",
        "CHAT_NEW_ROOMS_PER_IP": "0",
    }


@contextlib.contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    """A fresh database of `kind` (``sqlite`` or ``postgres``), as `DATABASE_URL`; PostgreSQL stops after."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'notify.sqlite3'}"
        return
    from pytest_channels_live import PostgresServer

    server = PostgresServer(work / "postgres.log", max_connections=50)
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


class Pages:
    """The person's notification sockets, one per Daphne process, and when each notification reached each."""

    def __init__(self, sockets: list[ClientConnection]) -> None:
        self.sockets = sockets
        self.arrived: dict[str, list[float | None]] = {}
        self.waiting: dict[str, asyncio.Future] = {}
        self.readers = [asyncio.create_task(self.read(index, socket)) for index, socket in enumerate(sockets)]

    async def read(self, index: int, socket: ClientConnection) -> None:
        async for text in socket:
            now = time.perf_counter()
            frame = json.loads(text)
            if frame.get("type") != "notification":
                continue
            times = self.arrived.setdefault(frame["message"], [None] * len(self.sockets))
            times[index] = now
            waiting = self.waiting.get(frame["message"])
            if None not in times and waiting is not None and not waiting.done():
                waiting.set_result(times)

    def expect(self, text: str) -> asyncio.Future:
        """A future of the times the notification saying `text` reached each page (call before sending it)."""
        future = self.waiting[text] = asyncio.get_running_loop().create_future()
        return future

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)


async def open_pages(ports: list[int], session_key: str) -> Pages:
    sockets = []
    for port in ports:
        socket = await connect(
            f"ws://{HOST}:{port}/ws/notifications/",
            origin=f"http://{HOST}:{port}",
            additional_headers={"Cookie": f"sessionid={session_key}"},
            max_queue=None,
            ping_interval=None,
            open_timeout=10,
            proxy=None,
        )
        first = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if first.get("type") != "inbox":
            raise SystemExit(f"the notification socket on port {port} answered {first} rather than its inbox")
        sockets.append(socket)
    return Pages(sockets)


def signed_in_person() -> tuple[object, str]:
    """An account and a session of it, in the servers' database: what logging in leaves there."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(USERNAME, "", secrets.token_urlsafe(16))
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session.update(
        {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
    )
    session.create()
    return user, session.session_key


# Each way of sending takes the notification's text and returns when the call began and when it returned.
Sender = Callable[[str], Awaitable[tuple[float, float]]]


def senders(user: object, api_url: str, thread: ThreadPoolExecutor) -> dict[str, Sender]:
    from django.conf import settings

    from notifications.services import anotify, notify

    async def by_anotify(text: str) -> tuple[float, float]:
        start = time.perf_counter()
        await anotify(user, text, "/chat/bench/")
        return start, time.perf_counter()

    def timed(call: Callable[[], object]) -> tuple[float, float]:
        start = time.perf_counter()
        call()
        return start, time.perf_counter()

    async def by_notify(text: str) -> tuple[float, float]:
        return await asyncio.get_running_loop().run_in_executor(
            thread, timed, lambda: notify(user, text, "/chat/bench/")
        )

    def post(text: str) -> None:
        request = urllib.request.Request(
            api_url,
            data=json.dumps({"message": text, "link": "/chat/bench/"}).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {settings.CHAT_API_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    async def by_api(text: str) -> tuple[float, float]:
        return await asyncio.get_running_loop().run_in_executor(thread, timed, lambda: post(text))

    return {"anotify()": by_anotify, "notify()": by_notify, "HTTP API": by_api}


async def one_at_a_time(pages: Pages, send: Sender, prefix: str, count: int) -> dict[str, list[float]]:
    """Send `count` notifications, each once the last has reached both pages; ms to each page, and to the return."""
    delays: dict[str, list[float]] = {"returned": [], "page 1": [], "page 2": []}
    for number in range(count):
        text = f"{prefix} {number}"
        arrived = pages.expect(text)
        start, returned = await send(text)
        first, second = await asyncio.wait_for(arrived, DEADLINE)
        delays["returned"].append(1000 * (returned - start))
        delays["page 1"].append(1000 * (first - start))
        delays["page 2"].append(1000 * (second - start))
    return delays


async def back_to_back(pages: Pages, send: Sender, prefix: str, count: int) -> float:
    """Notifications a second: `count` sent one after another, until the last reached both pages."""
    arrivals = [pages.expect(f"{prefix} {number}") for number in range(count)]
    start = time.perf_counter()
    for number in range(count):
        await send(f"{prefix} {number}")
    times = await asyncio.wait_for(asyncio.gather(*arrivals), DEADLINE)
    return count / (max(max(pair) for pair in times) - start)


def redis_connections() -> int:
    """Connections Redis has accepted so far, from anyone."""
    import redis
    from django.conf import settings

    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return client.info("stats")["total_connections_received"] - 1  # less this one


async def measure_end_to_end(ports: list[int], count: int) -> dict[str, dict]:
    from asgiref.sync import sync_to_async

    user, session_key = await sync_to_async(signed_in_person)()
    pages = await open_pages(ports, session_key)
    results: dict[str, dict] = {}
    try:
        with ThreadPoolExecutor(1) as thread:
            api_url = f"http://{HOST}:{ports[0]}/api/users/{USERNAME}/notifications"
            for name, send in senders(user, api_url, thread).items():
                await one_at_a_time(pages, send, f"{name} warm-up", WARM_UP)
                connections = redis_connections()
                delays = await one_at_a_time(pages, send, f"{name} one", count)
                connections = (redis_connections() - connections) / count
                rate = await back_to_back(pages, send, f"{name} burst", count)
                results[name] = {"delays": delays, "back to back /s": rate, "connections": connections}
    finally:
        await pages.close()
    return results


def run_end_to_end_client(conn: Connection, env: dict[str, str], ports: list[int], count: int) -> None:
    """In a process of its own, on the second core: Django against the servers' database and Redis."""
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})
    os.environ.update(env)
    import django

    django.setup()
    conn.send(asyncio.run(measure_end_to_end(ports, count)))


def answer(conn: Connection, process: multiprocessing.Process, timeout: float) -> object:
    """What `process` sends on `conn`, once it has; stops the run if it fails or takes longer than `timeout` s."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.5):
        if not process.is_alive():
            raise SystemExit("the end-to-end client failed (its error is above)")
        if time.monotonic() > deadline:
            raise SystemExit(f"the end-to-end client did not finish in {timeout:.0f} s")
    return conn.recv()


def end_to_end(kind: str, work: Path, redis_url: str, count: int) -> dict[str, dict]:
    """Start the database and two Daphne processes, then measure from a client process."""
    with database(kind, work) as database_url:
        env = server_environment(database_url, redis_url, secrets.token_urlsafe(50))
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=PROJECT,
            env=os.environ | env,
            check=True,
        )
        ports = [free_port(), free_port()]
        logs = [work / f"daphne-{kind}-{number}.log" for number in (1, 2)]
        with contextlib.ExitStack() as servers:
            for port, log in zip(ports, logs, strict=True):
                argv = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), "mysite.asgi:application"]
                servers.enter_context(running(argv, env, port, log))
            ours, theirs = multiprocessing.get_context("spawn").Pipe()
            client = multiprocessing.get_context("spawn").Process(
                target=run_end_to_end_client, args=(theirs, env, ports, count), daemon=True
            )
            client.start()
            try:
                results = answer(ours, client, timeout=120 + count)
            finally:
                client.join(5)
                if client.is_alive():
                    client.kill()
        tracebacks = sum(log.read_text(errors="replace").count("Traceback") for log in logs)
    for result in results.values():
        result["tracebacks"] = tracebacks
    return results


# ### Tables ###


def cell(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.1f}"


def end_to_end_tables(results: dict[str, dict[str, dict]], count: int) -> str:
    lines = [
        f"From the call to the `notification` frame, {count} notifications one at a time (ms):",
        "",
        "| database | sent by | to | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    where = {
        "page 1": "page on Daphne 1",
        "page 2": "page on Daphne 2",
        "returned": "the call returns",
    }
    for kind, by_sender in results.items():
        for sender, result in by_sender.items():
            for key, label in where.items():
                if sender == "HTTP API" and key != "returned":
                    label += " (took the request)" if key == "page 1" else " (the other)"
                delays = result["delays"][key]
                cells = [cell(percentile(delays, share)) for share in (0.5, 0.95, 0.99)] + [cell(max(delays))]
                lines.append(f"| {kind} | {sender} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Back to back (until the last reached both pages); Redis connections opened per notification"
        " (one at a time); tracebacks in the two Daphne logs:",
        "",
        "| database | sent by | notifications/s | Redis connections | tracebacks |",
        "|---|---|---|---|---|",
    ]
    for kind, by_sender in results.items():
        for sender, result in by_sender.items():
            cells = [cell(result["back to back /s"]), f"{result['connections']:.2f}", str(result["tracebacks"])]
            lines.append(f"| {kind} | {sender} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTIFICATION_COLUMNS = {
    "p50 ms": "p50 ms",
    "p99 ms": "p99 ms",
    "back to back /s": "back to back /s",
    "lost": "lost",
    "Redis cmds": "Redis cmds",
    "Redis µs": "Redis CPU µs",
    "sender µs": "sender CPU µs",
    "holders µs": "holders' CPU µs",
    "all µs": "all CPU µs",
    "offline: Redis cmds": "nobody online: Redis cmds",
    "offline: all µs": "nobody online: all CPU µs",
}
JOIN_COLUMNS = {
    "join s": "storm: join s",
    "process µs/join": "CPU µs/join",
    "Redis cmds/join": "Redis cmds/join",
    "leave s": "storm: leave s",
    "process µs/leave": "CPU µs/leave",
    "page µs": "a page: all CPU µs",
    "KiB/person": "KiB/person (process)",
    "Redis B/person": "B/person (Redis)",
    "command timeouts": "layer timeouts",
    "stale members": "stale members after",
}


def design_tables(rows: list[tuple[str, int, int, dict[str, float]]]) -> str:
    lines = []
    for title, columns in (
        ("Per notification (paced for p50/p99; the rest back to back):", NOTIFICATION_COLUMNS),
        ("Joining and leaving (every page of every process at once):", JOIN_COLUMNS),
    ):
        lines += [title, "", "| design | P × M | " + " | ".join(columns.values()) + " |"]
        lines.append("|---" * (len(columns) + 2) + "|")
        for design, processes, persons, row in rows:
            cells = [cell(row[key]) for key in columns]
            lines.append(f"| {design} | {processes} × {persons:,} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres", help="end to end on these (sqlite, postgres)")
    parser.add_argument("--count", type=int, default=500, help="notifications of each kind, end to end")
    parser.add_argument("--processes", default="2,4", help="P: processes holding pages, for the designs")
    parser.add_argument("--persons", default="1000,5000", help="M: persons online per process, for the designs")
    parser.add_argument("--paced", type=int, default=400, help="notifications paced at --rate a second, per row")
    parser.add_argument("--rate", type=float, default=200, help="notifications a second, paced")
    parser.add_argument(
        "--burst", type=int, default=500, help="notifications back to back per row (half as many to nobody online)"
    )
    parser.add_argument("--only", choices=("end-to-end", "designs"), help="one part only")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server logs)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    redis_server = shutil.which("redis-server") or sys.exit(
        "redis-server is missing: sudo apt-get install -y redis-server"
    )
    databases = [kind for kind in args.databases.split(",") if kind] if args.only != "designs" else []
    if "postgres" in databases and not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        sys.exit("PostgreSQL's server is missing: sudo apt-get install -y postgresql (or --databases sqlite)")
    two_cores = bool(os.cpu_count() and os.cpu_count() > 1)
    if two_cores:
        os.sched_setaffinity(0, {0})  # the servers this process starts run there; the clients move themselves
    work = Path(tempfile.mkdtemp(prefix="chat-notify-"))
    redis_port = free_port()
    redis_url = f"redis://{HOST}:{redis_port}/0"
    redis_argv = [redis_server, "--bind", HOST, "--port", str(redis_port), "--save", "", "--appendonly", "no"]
    started = time.monotonic()
    end_to_end_results: dict[str, dict[str, dict]] = {}
    design_rows: list[tuple[str, int, int, dict[str, float]]] = []
    try:
        with running([*redis_argv, "--dir", str(work)], {}, redis_port, work / "redis.log"):
            for kind in databases:
                print(f"end to end on {kind}…", file=sys.stderr, flush=True)
                end_to_end_results[kind] = end_to_end(kind, work, redis_url, args.count)
            if args.only != "end-to-end":
                env = server_environment(f"sqlite:///{work / 'designs.sqlite3'}", redis_url, secrets.token_urlsafe(50))
                if two_cores:
                    os.sched_setaffinity(0, {0, 1})  # the workers inherit it: they run where they can
                for processes in map(int, args.processes.split(",")):
                    for persons in map(int, args.persons.split(",")):
                        for design in inbox_designs.DESIGNS:
                            print(f"{design}, {processes} × {persons}…", file=sys.stderr, flush=True)
                            row = inbox_designs.measure(
                                redis_url,
                                env,
                                design,
                                processes,
                                persons,
                                paced=args.paced,
                                rate=args.rate,
                                burst=args.burst,
                                offline=args.burst // 2,
                            )
                            design_rows.append((design, processes, persons, row))
    finally:
        if args.keep:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if end_to_end_results:
        print(end_to_end_tables(end_to_end_results, args.count), end="\n\n")
    if design_rows:
        print(design_tables(design_rows))
    print(f"{os.cpu_count()} cores; {time.monotonic() - started:.0f} s in all.")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("Interrupted; every process the run started has stopped.")
