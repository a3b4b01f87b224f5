"""What sockets that never read, and sockets that flood frames no consumer sees, cost one Daphne process.

    .venv/bin/python -m bench.daphne_limits

Runs each scenario against a fresh `daphne mysite.asgi:application` (SQLite, the in-memory
layer) three times, one column each: without the attackers, with them and the limits of
`chat.daphne_limits` switched off (as before them), and with them and the default limits.
Each scenario has a quiet room beside it, whose one socket sends a message every 0.2 s and
times the ack:

- slow readers: a busy room (8 senders that read, each 4 messages of 2,000 emoji a second,
  within the rate limit) with 30 sockets that never read (a 4 KiB receive buffer) but send
  a short message every 5 s, for 36 s; then all leave. Twice, to show whether the memory
  freed after the first round is used again by the second. The server's resident memory
  before, at the end of each round and 10 s after it, and how many readers it dropped;
- ping flood: 5 sockets sending WebSocket ping frames back to back for 10 s;
- fragment flood: 5 sockets sending one text message in 1-byte pieces for 10 s.

For the floods: the quiet room's acks before and during, the server's CPU, and how many
flooders it dropped. Figures are from one machine; the tests assert outcomes only.
"""

import argparse
import functools
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import websocket

from bench.run import HOST, PROJECT, free_port, running

ORIGIN = f"http://{HOST}"
# Client frames are masked; a zero mask leaves the payload as it is.
PING = b"\x89\x80\x00\x00\x00\x00"  # final, ping, no payload
FIRST_PIECE = b"\x01\x81\x00\x00\x00\x00x"  # not final, text, "x"
NEXT_PIECE = b"\x00\x81\x00\x00\x00\x00x"  # not final, continuation, "x"
# 2,000 emoji: 24 KB as the client escapes it, 8 KB as the server sends it.
LONG_MESSAGE = json.dumps({"message": "\N{GRINNING FACE}" * 2000})


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(port: int, room: str, receive_buffer: int | None = None) -> websocket.WebSocket:
    options = {} if receive_buffer is None else {"sockopt": ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)}
    return websocket.create_connection(
        f"ws://{HOST}:{port}/ws/chat/{room}/", origin=f"{ORIGIN}:{port}", timeout=10, **options
    )


class Repeating(threading.Thread):
    """Calls `step` every `pause` seconds until stopped, or until the server drops its socket."""

    def __init__(self, step: Callable[[], object], pause: float) -> None:
        super().__init__(daemon=True)
        self.step, self.pause = step, pause
        self.running = True
        self.dropped = False

    def run(self) -> None:
        while self.running:
            try:
                self.step()
            except (OSError, websocket.WebSocketException):
                self.dropped = self.running
                return
            time.sleep(self.pause)


class QuietRoom(threading.Thread):
    """One socket in a room of its own, sending a message every 0.2 s and timing each ack."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.ws = connect(port, f"quiet-{secrets.token_hex(4)}")
        self.acks: list[tuple[float, float]] = []  # (when sent, seconds to its ack)
        self.running = True

    def run(self) -> None:
        try:
            self.measure()
        except (OSError, websocket.WebSocketException) as exc:
            print(f"the quiet room's socket failed: {exc!r}", file=sys.stderr)

    def measure(self) -> None:
        number = 0
        while self.running:
            number += 1
            sent = time.monotonic()
            self.ws.send(json.dumps({"message": f"quiet {number}", "client_id": f"q{number}"}))
            self.ws.settimeout(60)
            while (frame := json.loads(self.ws.recv())).get("client_id") != f"q{number}" or frame["type"] != "ack":
                pass
            self.acks.append((sent, time.monotonic() - sent))
            time.sleep(max(0.0, 0.2 - (time.monotonic() - sent)))

    def stop(self) -> None:
        self.running = False
        self.join(60)
        self.ws.close()

    def ack_ms(self, start: float, end: float) -> str:
        """Median and p99 of the acks to messages sent between `start` and `end`."""
        window = sorted(seconds for sent, seconds in self.acks if start <= sent <= end)
        if not window:
            return "none"
        p99 = window[min(len(window) - 1, int(len(window) * 0.99))]
        return f"{1000 * statistics.median(window):.0f} / {1000 * p99:.0f}"


def slow_readers(port: int, pid: int, attack: bool, rounds: int = 2) -> dict[str, str]:
    row = {}
    quiet = QuietRoom(port)
    quiet.start()
    time.sleep(2)
    row["RSS before, MiB"] = f"{rss_mib(pid):.0f}"
    started = time.monotonic()
    for round_number in range(1, rounds + 1):
        room = f"busy-{secrets.token_hex(4)}"
        senders = [connect(port, room) for _ in range(8)]
        busy = [Repeating(lambda ws=ws: ws.send(LONG_MESSAGE), 0.25) for ws in senders]
        busy += [Repeating(ws.recv, 0) for ws in senders]
        stalled = [connect(port, room, receive_buffer=4096) for _ in range(30 if attack else 0)]
        talk = [Repeating(lambda ws=ws: ws.send(json.dumps({"message": "still here"})), 5) for ws in stalled]
        for thread in busy + talk:
            thread.start()
        time.sleep(36)
        row[f"round {round_number}: RSS at 36 s, MiB"] = f"{rss_mib(pid):.0f}"
        row[f"round {round_number}: readers dropped"] = f"{sum(thread.dropped for thread in talk)}/{len(talk)}"
        for thread in busy + talk:
            thread.running = False
        for ws in stalled + senders:
            ws.shutdown()  # closes the socket, no closing handshake
        time.sleep(10)
        row[f"round {round_number}: RSS 10 s after, MiB"] = f"{rss_mib(pid):.0f}"
    row["quiet room ack median / p99, ms"] = quiet.ack_ms(started, time.monotonic())
    quiet.stop()
    return row


def flood(port: int, pid: int, attack: bool, first: bytes, frames: bytes) -> dict[str, str]:
    quiet = QuietRoom(port)
    quiet.start()
    time.sleep(3)
    calm = time.monotonic()
    time.sleep(3)
    sockets = [connect(port, f"flood-{secrets.token_hex(4)}") for _ in range(5 if attack else 0)]
    for ws in sockets:
        ws.sock.sendall(first)
    blob = frames * 10_000
    flooders = [Repeating(lambda ws=ws: ws.sock.sendall(blob), 0) for ws in sockets]
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    for thread in flooders:
        thread.start()
    time.sleep(10)
    ended = time.monotonic()
    cpu = (cpu_seconds(pid) - cpu_before) / (ended - started)
    dropped = sum(thread.dropped for thread in flooders)
    for thread in flooders:
        thread.running = False
    for ws in sockets:
        ws.shutdown()
    quiet.stop()
    return {
        "quiet room ack median / p99 before, ms": quiet.ack_ms(calm, started),
        "quiet room ack median / p99 during, ms": quiet.ack_ms(started, ended),
        "server CPU during, %": f"{100 * cpu:.0f}",
        "flooders dropped": f"{dropped}/{len(sockets)}",
    }


# Columns: the server's environment, and whether the attackers come.
VARIANTS = {
    "no attacker": ({}, False),
    "limits off": ({"CHAT_MAX_UNSENT_BYTES": "0", "CHAT_CONTROL_FRAME_RATE": "0"}, True),
    "limits on": ({}, True),
}
SCENARIOS = {
    "slow readers": slow_readers,
    "ping flood": lambda port, pid, attack: flood(port, pid, attack, b"", PING),
    "fragment flood": lambda port, pid, attack: flood(port, pid, attack, FIRST_PIECE, NEXT_PIECE),
}


def run_scenarios(work: Path, env: dict[str, str], names: list[str], variants: list[str], rounds: int) -> None:
    """Each scenario against a fresh server per column; prints a table per scenario."""
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=os.environ | env, check=True)
    scenarios = SCENARIOS | {"slow readers": functools.partial(slow_readers, rounds=rounds)}
    for name in names:
        figures: dict[str, dict[str, str]] = {}
        for variant in variants:
            overrides, attack = VARIANTS[variant]
            port = free_port()
            argv = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), "mysite.asgi:application"]
            log = work / f"{name}-{variant}.log"
            print(f"{name}, {variant}…", file=sys.stderr, flush=True)
            with running(argv, env | overrides, port, log) as process:
                figures[variant] = scenarios[name](port, process.pid, attack)
            figures[variant]["tracebacks in the log"] = str(log.read_text(errors="replace").count("Traceback"))
        print(f"\n| {name} | " + " | ".join(figures) + " |")
        print("|---|" + "---|" * len(figures))
        for key in next(iter(figures.values())):
            print(f"| {key} | " + " | ".join(row[key] for row in figures.values()) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SCENARIOS), action="append", help="run this scenario (repeatable)")
    parser.add_argument("--variant", choices=list(VARIANTS), action="append", help="run this column (repeatable)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of slow readers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chat-limits-"))
    env = {
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{work / 'limits.sqlite3'}",
        "REDIS_URL": "",
    }
    try:
        run_scenarios(work, env, args.only or list(SCENARIOS), args.variant or list(VARIANTS), args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{os.cpu_count()} cores; the server on core 0.")


if __name__ == "__main__":
    main()
