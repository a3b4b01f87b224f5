"""A private redis-server, and Redis Sentinels, for tests."""

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_channels_live.processes import HOST, ServerProcess, free_port, require_executable, wait_for

if TYPE_CHECKING:
    import redis


def redis_answers(port: int) -> bool:
    """Whether a redis-server (or a Sentinel) on the loopback `port` answers PING."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ServerProcess):
    """A redis-server that keeps nothing on disk, on a free loopback port; with `replica_of`, a replica of another."""

    name = "redis-server"

    def __init__(self, workdir: Path, replica_of: "RedisServer | None" = None) -> None:
        super().__init__(workdir / "redis.log", cwd=workdir)
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
        """Start on the port used before, or on a free one the first time; return once it answers PING."""
        self.port = self.port or free_port()
        offset = self.log_size()
        self.spawn()
        self.wait_for_log(offset, "Ready to accept connections", 10)

    def ping(self) -> bool:
        return redis_answers(self.port)

    def client(self) -> "redis.Redis":
        """A redis-py client of this server (redis-py must be installed)."""
        import redis

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
        super().__init__(workdir / "sentinel.log", cwd=workdir)
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
        """host:port."""
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

    def client(self) -> "redis.Redis":
        """A redis-py client of this Sentinel, answering in text."""
        import redis

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
