"""Real servers for the tests: redis-server and Daphne, each in its own process.

Both are started on loopback ports of their own, log to a file the tests can
read, and can be stopped, killed and started again on the same port.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll `condition` until it returns something truthy; fail the test naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def require_executable(path_or_name: str, package: str) -> str:
    found = shutil.which(path_or_name)
    if not found:
        pytest.fail(
            f"{path_or_name} is not installed. Install it with: sudo apt-get install -y {package} "
            "(or run `make test`, which does it for you)",
            pytrace=False,
        )
    return found


class ServerProcess:
    """A child process with a log file, started and stopped on demand."""

    name = "server"

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.environment(), cwd=PROJECT_ROOT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if not self.running:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def fail_if_exited(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}. Its log:\n{self.log()[-4000:]}")
        return False


class RedisServer(ServerProcess):
    """A private redis-server that keeps nothing on disk."""

    name = "redis-server"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir / "redis.log")
        self.workdir = workdir
        self.executable = require_executable("redis-server", "redis-server")
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.executable,
            "--bind", HOST, "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip

    def start(self) -> None:
        """Start on the port used before, or on a free one the first time."""
        self.port = self.port or free_port()
        self.spawn()
        wait_for(lambda: self.fail_if_exited() or self.ping(), 10, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class WebEndpoint:
    """The URLs of a server on a loopback `port`, as browsers and socket clients need them."""

    port: int

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def origin(self) -> str:
        return self.http_url

    def ws_url(self, path: str) -> str:
        return f"ws://{HOST}:{self.port}{path}"


class DaphneServer(WebEndpoint, ServerProcess):
    """`daphne mysite.asgi:application`, as users run it, with settings from the environment."""

    name = "daphne"

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        super().__init__(log_path)
        self.env = env
        self.port = 0

    def command(self) -> list[str]:
        # Port 0 the first time: the kernel picks a free one and Daphne logs it.
        endpoint = f"tcp:port={self.port}:interface={HOST}"
        return [sys.executable, "-m", "daphne", "-e", endpoint, "mysite.asgi:application"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        log_before = len(self.log())
        self.spawn()

        def listening() -> int | None:
            self.fail_if_exited()
            found = re.findall(r"Listening on TCP address [\d.]+:(\d+)", self.log()[log_before:])
            return int(found[-1]) if found else None

        self.port = wait_for(listening, 30, "Daphne to listen")

    def tracebacks(self) -> list[str]:
        return [line for line in self.log().splitlines() if line.startswith("Traceback")]


class ListeningServer(WebEndpoint, ServerProcess):
    """Any server given its command line, ready once its port accepts connections."""

    def __init__(self, name: str, log_path: Path, argv: list[str], env: dict[str, str], port: int) -> None:
        super().__init__(log_path)
        self.name, self.argv, self.env, self.port = name, argv, env, port

    def command(self) -> list[str]:
        return self.argv

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        self.spawn()
        wait_for(lambda: self.fail_if_exited() or self.accepts(), 30, f"{self.name} on port {self.port}")

    def accepts(self) -> bool:
        try:
            socket.create_connection((HOST, self.port), timeout=1).close()
            return True
        except OSError:
            return False


def readiness(server: DaphneServer) -> tuple[int, dict]:
    """The status and body of a server's ``/readyz``."""
    try:
        with urllib.request.urlopen(f"{server.http_url}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
