"""A throwaway PostgreSQL server for tests: Debian's `postgresql`, started with initdb in a temporary folder."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_channels_live.processes import HOST, ServerProcess, free_port, wait_for

if TYPE_CHECKING:
    import psycopg


def postgres_binaries() -> Path:
    """The bin folder of the newest PostgreSQL server installed (Debian keeps them off PATH, one folder a version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
    )
    if not found:
        pytest.fail(
            "PostgreSQL's server is not installed (no /usr/lib/postgresql/<version>/bin/postgres). "
            "Install it with: sudo apt-get install -y postgresql",
            pytrace=False,
        )
    return found[-1].parent


def import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        pytest.fail(
            "postgres_server needs psycopg. Install it with: pip install 'pytest-channels-live[postgres]'",
            pytrace=False,
        )
    return psycopg


class PostgresServer(ServerProcess):
    """A PostgreSQL cluster of its own: its data and socket folder, a free loopback port, no fsync.

    It never touches a server it did not start. `initdb` and `postgres` refuse to
    run as root, so as root they run as Debian's ``postgres`` user in a folder of
    that user's (outside pytest's temporary root, which only root may enter).
    Logins are trusted without a password: the server listens on 127.0.0.1 and a
    private socket only, and lives as long as the tests.
    """

    name = "postgres"
    superuser = "postgres"

    def __init__(self, log_path: Path, max_connections: int = 100, role: str = "app", database: str = "app") -> None:
        """`role` is the one the application connects as, owner of `database`: not a superuser, so the
        slots PostgreSQL keeps for superusers stay free for the tests' own queries when the application
        uses up the rest."""
        self.bin_dir = postgres_binaries()
        self.root = Path(tempfile.mkdtemp(prefix="pytest-postgres-"))
        super().__init__(log_path, cwd=self.root)
        self.max_connections = max_connections
        self.port = 0
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            shutil.chown(self.root, self.run_as, self.run_as)
        self.data_dir = self.root / "data"
        self.app_role = role
        self.database = database

    @property
    def url(self) -> str:
        """A `DATABASE_URL` for the application's own database, as dj-database-url reads it."""
        return self.database_url(self.database)

    def database_url(self, database: str) -> str:
        return f"postgres://{self.app_role}@{HOST}:{self.port}/{database}"

    def django_settings(self, database: str | None = None) -> dict[str, str]:
        """An entry for Django's `DATABASES` that connects to `database` (the application's own by default)."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database or self.database,
            "USER": self.app_role,
            "HOST": HOST,
            "PORT": str(self.port),
        }

    def use_for_django_tests(self, alias: str = "default") -> None:
        """Point Django's `alias` database at this server, for pytest-django to create the test database on.

        Call it from an override of pytest-django's ``django_db_modify_db_settings``
        fixture, before any test database exists.
        """
        from django.conf import settings
        from django.db import connections

        database = settings.DATABASES[alias]
        database.update(self.django_settings())
        # A test database name meant for another engine (an SQLite file) would be taken as a database's name.
        database["TEST"] = {**database.get("TEST", {}), "NAME": None}
        # A connection made for the old engine would keep it: let Django make a new one.
        with contextlib.suppress(AttributeError):
            del connections[alias]

    def popen_options(self) -> dict[str, object]:
        """Drop root for the ``postgres`` user (nothing to do when not root)."""
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
                **self.popen_options(),
            )

    def start(self) -> None:
        """Start on the port used before (the same data), or create the cluster on a free port the first time."""
        first_time = not self.data_dir.exists()
        if first_time:
            self.initdb()
        self.port = self.port or free_port()
        offset = self.log_size()
        self.spawn()
        self.wait_for_log(offset, "database system is ready to accept connections", 30)
        wait_for(lambda: self.fail_if_exited() or self.accepts(), 30, f"PostgreSQL on port {self.port}")
        if first_time:
            with self.connect() as admin:
                # CREATEDB: Django's test runner, connecting as the application, creates the test database.
                admin.execute(f"CREATE ROLE {self.app_role} LOGIN CREATEDB")
            self.create_database(self.database)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:
        """Stop; SIGINT is PostgreSQL's fast shutdown, which ends open sessions rather than waiting for them."""
        super().stop(sig, timeout)

    def remove(self) -> None:
        """Stop and delete the cluster's folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, database: str = "postgres") -> "psycopg.Connection":
        """A superuser connection in autocommit mode, for setting up and for looking inside."""
        return import_psycopg().connect(
            host=HOST, port=self.port, user=self.superuser, dbname=database, autocommit=True, connect_timeout=5
        )

    def accepts(self) -> bool:
        try:
            self.connect().close()
            return True
        except import_psycopg().OperationalError:
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
