"""Real servers for the tests: redis-server and Sentinel, PostgreSQL and Daphne, each in its own process.

Each is started on a loopback port of its own, logs to a file the tests can
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
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import redis

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


def redis_answers(port: int) -> bool:
    """Whether a redis-server (or a Sentinel) on `port` answers PING."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


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
    """A private redis-server that keeps nothing on disk; with `replica_of`, a replica of another."""

    name = "redis-server"

    def __init__(self, workdir: Path, replica_of: "RedisServer | None" = None) -> None:
        super().__init__(workdir / "redis.log")
        self.workdir = workdir
        self.executable = require_executable("redis-server", "redis-server")
        self.port = 0
        self.replica_of = replica_of

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        replication = ["--replicaof", HOST, str(self.replica_of.port)] if self.replica_of else []
        return [
            self.executable,
            "--bind", HOST, "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir),
            # A replica that connects is sent the data at once, not 5 s later in case others come too.
            "--repl-diskless-sync-delay", "0",
            *replication,
        ]  # fmt: skip

    def start(self) -> None:
        """Start on the port used before, or on a free one the first time."""
        self.port = self.port or free_port()
        self.spawn()
        wait_for(lambda: self.fail_if_exited() or self.ping(), 10, f"redis-server on port {self.port}")

    def pause(self) -> None:
        """Stop the process without ending it (SIGSTOP): a hung server, connections open and silent."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def ping(self) -> bool:
        return redis_answers(self.port)

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)

    def role(self) -> str:
        """``master`` or ``slave``, as the server itself says (a promoted replica says ``master``)."""
        with self.client() as client:
            return client.info("replication")["role"]

    def in_sync(self) -> bool:
        """A replica: whether its link to the primary is up (the first copy of the data is done)."""
        with self.client() as client:
            return client.info("replication").get("master_link_status") == "up"


class RedisSentinel(ServerProcess):
    """A Redis Sentinel watching one primary, with failover times short enough for a test.

    Sentinel writes what it learns (the other Sentinels, the replicas, a new
    primary) into its configuration file, so each has a file of its own in its workdir.
    """

    name = "redis-sentinel"

    def __init__(
        self, workdir: Path, master_name: str, primary: RedisServer, replicas: list[RedisServer], quorum: int = 2
    ) -> None:
        super().__init__(workdir / "sentinel.log")
        self.workdir = workdir
        self.executable = require_executable("redis-sentinel", "redis-sentinel")
        self.config_path = workdir / "sentinel.conf"
        self.master_name = master_name
        self.primary = primary
        self.replicas = replicas
        self.quorum = quorum
        self.port = 0

    @property
    def address(self) -> str:
        """As `REDIS_SENTINELS` names it: host:port."""
        return f"{HOST}:{self.port}"

    def write_config(self) -> None:
        name = self.master_name
        self.config_path.write_text(
            f"bind {HOST}\nport {self.port}\ndir {self.workdir}\n"
            f"sentinel monitor {name} {HOST} {self.primary.port} {self.quorum}\n"
            # Seconds rather than Sentinel's default 30: a silent primary is down after 1 s.
            f"sentinel down-after-milliseconds {name} 1000\n"
            # A failover that stalls (a split vote) is tried again after twice this.
            f"sentinel failover-timeout {name} 3000\n"
            f"sentinel parallel-syncs {name} 1\n"
            # Named at once: found by itself, a replica waits for Sentinel's next look at the primary, 10 s.
            + "".join(f"sentinel known-replica {name} {HOST} {replica.port}\n" for replica in self.replicas)
        )

    def command(self) -> list[str]:
        return [self.executable, str(self.config_path)]

    def start(self) -> None:
        """Start on a free port with a new configuration, or as before with what it has written since."""
        if not self.port:
            self.port = free_port()
            self.write_config()
        self.spawn()
        wait_for(lambda: self.fail_if_exited() or redis_answers(self.port), 10, f"redis-sentinel on port {self.port}")

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5, decode_responses=True)

    def primary_port(self) -> int | None:
        """The port of the primary this Sentinel names now."""
        with self.client() as client:
            address = client.sentinel_get_master_addr_by_name(self.master_name)
        return int(address[1]) if address else None

    def knows(self, sentinels: int, replicas: int) -> bool:
        """Whether it has met `sentinels` other Sentinels and `replicas` replicas, all up: it can then fail over."""
        with self.client() as client:
            others = client.sentinel_sentinels(self.master_name)
            found = client.sentinel_slaves(self.master_name)
        up = [replica for replica in found if not replica["is_sdown"] and not replica["is_disconnected"]]
        return len(others) >= sentinels and len(up) >= replicas


def start_all(servers: Sequence[ServerProcess]) -> None:
    """Start the servers side by side, each waiting for its own readiness: as long as the slowest."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        for started in [pool.submit(server.start) for server in servers]:
            started.result()


def stop_all(servers: Sequence[ServerProcess]) -> None:
    """Stop the servers side by side: Daphne takes a moment to close its sockets and end."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        for stopped in [pool.submit(server.stop) for server in servers]:
            stopped.result()


def postgres_binaries() -> Path:
    """The bin folder of the newest PostgreSQL server installed (Debian keeps them off PATH, one folder a version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
    )
    if not found:
        pytest.fail(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/<version>/bin/postgres). "
            "Install it with: sudo apt-get install -y postgresql (or run `make test`, which does it for you)",
            pytrace=False,
        )
    return found[-1].parent


class PostgresServer(ServerProcess):
    """A throwaway PostgreSQL cluster: its own data and socket folder, a free loopback port, no fsync.

    It never touches a server it did not start. `initdb` and `postgres` refuse to
    run as root, so as root they run as Debian's ``postgres`` user in a folder of
    that user's (outside pytest's temporary root, which only root may enter).
    Logins are trusted without a password: the server listens on 127.0.0.1 and a
    private socket only, and lives as long as the tests.
    """

    name = "postgres"
    superuser = "postgres"
    # The role the application connects as: not a superuser, so the slots PostgreSQL
    # keeps for superusers stay free for the tests' own queries when the app uses up the rest.
    app_role = "chat"
    database = "chat"

    def __init__(self, log_path: Path, max_connections: int = 30) -> None:
        super().__init__(log_path)
        self.bin_dir = postgres_binaries()
        self.max_connections = max_connections
        self.port = 0
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="chat-tests-postgres-"))
        if self.run_as:
            shutil.chown(self.root, self.run_as, self.run_as)
        self.data_dir = self.root / "data"

    @property
    def url(self) -> str:
        """The application's `DATABASE_URL` for the cluster's own database."""
        return self.database_url(self.database)

    def database_url(self, database: str) -> str:
        return f"postgres://{self.app_role}@{HOST}:{self.port}/{database}"

    def privileges(self) -> dict[str, object]:
        """Popen's arguments that drop root for the ``postgres`` user (none when not root)."""
        if not self.run_as:
            return {}
        return {"user": self.run_as, "group": self.run_as, "extra_groups": []}

    def command(self) -> list[str]:
        return [
            str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.root),
            "-c", "listen_addresses=" + HOST, "-c", f"max_connections={self.max_connections}",
            # Throwaway data: skip the disk flushes that make a test server slow.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        # The shell's PG* variables (PGHOST, PGDATA, ...) are for the machine's server, not this one.
        return {key: value for key, value in os.environ.items() if not key.startswith("PG")} | {"LC_ALL": "C"}

    def spawn(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.root,
                **self.privileges(),
            )

    def initdb(self) -> None:
        argv = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser,
            "--auth=trust", "--no-locale", "--encoding=UTF8", "--no-sync",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            subprocess.run(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.root,
                check=True,
                **self.privileges(),
            )

    def start(self) -> None:
        """Start on the port used before (the same data), or create the cluster on a free port the first time."""
        first_time = not self.data_dir.exists()
        if first_time:
            self.initdb()
        self.port = self.port or free_port()
        self.spawn()
        wait_for(lambda: self.fail_if_exited() or self.accepts(), 30, f"PostgreSQL on port {self.port}")
        if first_time:
            with self.connect() as admin:
                admin.execute(f"CREATE ROLE {self.app_role} LOGIN")
            self.create_database(self.database)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:
        """Stop; SIGINT is PostgreSQL's fast shutdown, which ends open sessions rather than waiting for them."""
        super().stop(sig, timeout)

    def remove(self) -> None:
        """Stop and delete the cluster's folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """A superuser connection in autocommit mode, for setting up and for looking inside."""
        return psycopg.connect(
            host=HOST, port=self.port, user=self.superuser, dbname=database, autocommit=True, connect_timeout=5
        )

    def accepts(self) -> bool:
        try:
            self.connect().close()
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        """A new empty database owned by the application's role; returns its `DATABASE_URL`."""
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}" OWNER {self.app_role}')
        return self.database_url(name)

    def backends(self, database: str) -> int:
        """How many server processes serve clients connected to `database` now (not counting this query's)."""
        with self.connect() as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
            ).fetchone()
        return row[0]


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


class TlsEndpoint(WebEndpoint):
    """A server's TLS endpoint on a loopback `port`: https pages, wss sockets."""

    def __init__(self, port: int) -> None:
        self.port = port

    @property
    def http_url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"wss://{HOST}:{self.port}{path}"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl as docs/deploy.md makes one; (cert, key)."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            require_executable("openssl", "openssl"), "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return certificate, key


class DaphneServer(WebEndpoint, ServerProcess):
    """`daphne mysite.asgi:application`, as users run it, with settings from the environment.

    With `tls` (a certificate and its key), it also serves TLS on a second endpoint, as
    Daphne alone does (deploy/systemd/chat-daphne-alone.service): `tls_endpoint`.
    """

    name = "daphne"

    def __init__(self, log_path: Path, env: dict[str, str], tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(log_path)
        self.env = env
        self.port = 0
        self.tls = tls
        self.tls_endpoint = TlsEndpoint(free_port()) if tls else None

    def command(self) -> list[str]:
        # Port 0 the first time: the kernel picks a free one and Daphne logs it.
        endpoints = ["-e", f"tcp:port={self.port}:interface={HOST}"]
        if self.tls:
            certificate, key = self.tls
            endpoints += [
                "-e",
                f"ssl:port={self.tls_endpoint.port}:privateKey={key}:certKey={certificate}:interface={HOST}",
            ]
        return [sys.executable, "-m", "daphne", *endpoints, "mysite.asgi:application"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        log_before = len(self.log())
        self.spawn()

        tls_port = self.tls_endpoint.port if self.tls_endpoint else None

        def listening() -> int | None:
            self.fail_if_exited()
            found = [
                int(port) for port in re.findall(r"Listening on TCP address [\d.]+:(\d+)", self.log()[log_before:])
            ]
            plain = [port for port in found if port != tls_port]
            return plain[-1] if plain and (tls_port is None or tls_port in found) else None

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


def open_sockets(server: DaphneServer) -> float:
    """The process's own count of open chat sockets, from its /metrics."""
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=5) as response:
        return float(re.search(r"^chat_open_sockets (\S+)$", response.read().decode(), re.MULTILINE)[1])
