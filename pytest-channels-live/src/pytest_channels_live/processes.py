"""Server processes for tests: started on a free loopback port, logging to a file, stopped on demand."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HOST = "127.0.0.1"

# A line of a log that begins a Python traceback.
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):.*$", re.MULTILINE)

# Every server started in this test run, so that the plugin can read what each logged during a test.
STARTED: list["ServerProcess"] = []


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll `condition` until it returns something truthy, and return that; fail the test naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def require_executable(path_or_name: str, package: str) -> str:
    """The full path of a program, or a test failure that says which Debian package installs it."""
    found = shutil.which(path_or_name)
    if not found:
        pytest.fail(
            f"{path_or_name} is not installed. Install it with: sudo apt-get install -y {package}", pytrace=False
        )
    return found


class ServerProcess:
    """A child process with a log file, which can be started, stopped, killed and started again."""

    name = "server"

    def __init__(self, log_path: Path, cwd: Path | None = None) -> None:
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def popen_options(self) -> dict[str, object]:
        """Extra arguments for `subprocess.Popen` (a user to run as, say)."""
        return {}

    def spawn(self) -> None:
        """Start the process, appending its output to the log file."""
        if self.running:
            pytest.fail(
                f"{self.name} is already running (pid {self.process.pid}): stop or kill it first", pytrace=False
            )
        if self not in STARTED:
            STARTED.append(self)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.cwd,
                **self.popen_options(),
            )

    def start(self) -> None:
        """Start the process and wait until it serves; subclasses say how to tell."""
        self.spawn()

    def restart(self) -> None:
        """Stop (gracefully) and start again, on the same port."""
        self.stop()
        self.start()

    def log(self) -> str:
        """Everything the process has written to its log, across restarts."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        """What the process has logged after the first `offset` bytes."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def tracebacks(self) -> list[str]:
        """The lines of its log that begin a Python traceback."""
        return TRACEBACK.findall(self.log())

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        """Ask the process to end (SIGTERM), and kill it if it hasn't after `timeout` seconds."""
        if not self.running:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash or the OOM killer would: no clean-up runs."""
        self.stop(signal.SIGKILL)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): a hung server whose connections stay open and silent."""
        self.signal_running(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_running(signal.SIGCONT)

    def signal_running(self, sig: int) -> None:
        if not self.running:
            pytest.fail(f"{self.name} is not running", pytrace=False)
        self.process.send_signal(sig)

    def wait_for_log(self, offset: int, text: str, timeout: float) -> None:
        """Wait until the process, still running, has logged `text` after `offset`: its own word that it serves.

        Safer than asking the port: after a restart, another server may have taken it.
        """
        wait_for(
            lambda: self.fail_if_exited() or text in self.log_since(offset),
            timeout,
            f"{self.name} to log {text!r} (log: {self.log_path})",
        )

    def fail_if_exited(self) -> bool:
        """Fail the test with the end of the log if the process has ended; False otherwise (for `wait_for`)."""
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}. Its log:\n{self.log()[-4000:]}")
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


def port_accepts(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback `port`."""
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


class ListeningServer(WebEndpoint, ServerProcess):
    """Any server given its command line, ready once its port accepts connections."""

    def __init__(
        self, name: str, log_path: Path, argv: list[str], env: dict[str, str], port: int, cwd: Path | None = None
    ) -> None:
        super().__init__(log_path, cwd)
        self.name, self.argv, self.env, self.port = name, argv, env, port

    def command(self) -> list[str]:
        return self.argv

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        self.spawn()
        wait_for(lambda: self.fail_if_exited() or self.accepts(), 30, f"{self.name} on port {self.port}")

    def accepts(self) -> bool:
        return port_accepts(self.port)


def start_all(servers: Sequence[ServerProcess]) -> None:
    """Start the servers side by side, each waiting for its own readiness: as long as the slowest."""
    with ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
        for started in [pool.submit(server.start) for server in servers]:
            started.result()


def stop_all(servers: Sequence[ServerProcess]) -> None:
    """Stop the servers side by side."""
    with ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
        for stopped in [pool.submit(server.stop) for server in servers]:
            stopped.result()
