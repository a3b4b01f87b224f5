"""Daphne processes serving a Django project's ASGI application, and clusters of them."""

import ast
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any

import pytest

from pytest_channels_live.processes import HOST, ServerProcess, WebEndpoint, free_port, require_executable, wait_for


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
    """A certificate for 127.0.0.1 and its key, made with openssl: (certificate, key)."""
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


def application_from_setting(asgi_application: str) -> str:
    """Daphne's ``module:attribute`` for Django's dotted ``ASGI_APPLICATION`` (``mysite.asgi.application``)."""
    module, _, attribute = asgi_application.rpartition(".")
    return f"{module}:{attribute}"


def default_application() -> str:
    """What Daphne serves when not told: Django's ASGI_APPLICATION, as ``module:attribute``."""
    from django.conf import settings

    if not settings.configured:
        pytest.fail(
            "Django isn't configured: set DJANGO_SETTINGS_MODULE in pytest's configuration "
            "(pytest.ini's [pytest] section, or --ds), as pytest-django reads it.",
            pytrace=False,
        )
    if not getattr(settings, "ASGI_APPLICATION", None):
        pytest.fail("Set ASGI_APPLICATION in Django's settings, or daphne_application in pytest's.", pytrace=False)
    return application_from_setting(settings.ASGI_APPLICATION)


def application_root(application: str) -> Path:
    """The folder from which the application's top-level package imports: Daphne runs there."""
    package = application.split(":")[0].split(".")[0]
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.fail(f"Can't import {package!r}, the package of {application!r}.", pytrace=False)
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).parent
    return Path(spec.origin).parent


class DaphneServer(WebEndpoint, ServerProcess):
    """`daphne <application>` on a loopback port, run from `cwd` with `env` added to the environment.

    `application` is ``module:attribute`` (Django's ASGI_APPLICATION by default); `cwd` is
    the folder it imports from (found from the module by default).

    The first start takes a free port from the kernel; later starts (after `stop` or
    `kill`) reuse it, so browsers and clients can reconnect to the same address. With
    `tls` (a certificate and its key) it also serves TLS on a second port: `tls_endpoint`.
    """

    name = "daphne"

    def __init__(
        self,
        log_path: Path,
        env: Mapping[str, str],
        application: str | None = None,
        cwd: Path | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        application = application or default_application()
        super().__init__(log_path, cwd or application_root(application))
        self.env = dict(env)
        self.application = application
        self.port = 0
        self.tls = tls
        self.tls_endpoint = TlsEndpoint(free_port()) if tls else None

    def command(self) -> list[str]:
        endpoints = ["-e", f"tcp:port={self.port}:interface={HOST}"]
        if self.tls:
            certificate, key = self.tls
            endpoints += [
                "-e",
                f"ssl:port={self.tls_endpoint.port}:privateKey={key}:certKey={certificate}:interface={HOST}",
            ]
        return [sys.executable, "-m", "daphne", *endpoints, self.application]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def start(self) -> None:
        """Start, and return once Daphne says it listens (on every endpoint)."""
        log_before = self.log_size()
        self.spawn()
        tls_port = self.tls_endpoint.port if self.tls_endpoint else None

        def listening() -> int | None:
            self.fail_if_exited()
            logged = self.log_since(log_before)
            found = [int(port) for port in re.findall(r"Listening on TCP address [\d.]+:(\d+)", logged)]
            plain = [port for port in found if port != tls_port]
            return plain[-1] if plain and (tls_port is None or tls_port in found) else None

        self.port = wait_for(listening, 30, f"Daphne to listen (log: {self.log_path})")


class DaphneCluster:
    """Several Daphne processes serving one application: `cluster[0]`, `len(cluster)`, `for server in cluster`."""

    def __init__(self, servers: list[DaphneServer]) -> None:
        self.servers = servers

    @classmethod
    def start(
        cls,
        log_dir: Path,
        size: int,
        env: Mapping[str, str],
        application: str | None = None,
        cwd: Path | None = None,
    ) -> "DaphneCluster":
        """Start `size` processes one after another (each logs to ``daphne-<n>.log`` in `log_dir`)."""
        servers = [DaphneServer(log_dir / f"daphne-{index}.log", env, application, cwd) for index in range(size)]
        cluster = cls(servers)
        try:
            for server in servers:
                server.start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __getitem__(self, index: int) -> DaphneServer:
        return self.servers[index]

    def __iter__(self) -> Iterator[DaphneServer]:
        return iter(self.servers)

    def __len__(self) -> int:
        return len(self.servers)

    def kill(self, index: int) -> None:
        """SIGKILL one process: its sockets drop with no goodbye, as in a crash."""
        self.servers[index].kill()

    def restart(self, index: int) -> None:
        """Start one process again on its port (after `kill` or `stop`, or gracefully stopping it first)."""
        self.servers[index].restart()

    def tracebacks(self) -> list[str]:
        return [line for server in self.servers for line in server.tracebacks()]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def plain(value: Any) -> Any:
    """`value` with paths turned into strings, so that its repr is a Python literal."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    return value


def literal(setting: str, value: Any) -> str:
    """`value` as Python source, or a test failure naming `setting` when it has no literal form."""
    source = repr(plain(value))
    try:
        ast.literal_eval(source)
    except (ValueError, SyntaxError):
        pytest.fail(
            f"The servers' setting {setting} = {source} can't be written into their settings module: give "
            "strings, numbers, booleans, None, paths, lists, tuples and dicts only.",
            pytrace=False,
        )
    return source


def module_name(prefix: str, folder: Path) -> str:
    return prefix + re.sub(r"\W", "_", folder.name)


def write_settings_module(folder: Path, base_module: str, overrides: Mapping[str, Any]) -> str:
    """A settings module in `folder` that imports `base_module` and sets `overrides`; returns its name.

    The processes import it instead of the project's settings (through
    DJANGO_SETTINGS_MODULE), so their database and channel layer are the tests'
    own whatever the project's settings file hardcodes.
    """
    name = module_name("channels_live_settings_", folder)
    lines = [f"from {base_module} import *  # noqa: F403", ""]
    lines += [f"{setting} = {literal(setting, value)}" for setting, value in overrides.items()]
    lines += [
        "# The servers listen on 127.0.0.1, as Channels' live server test case allows localhost.",
        'ALLOWED_HOSTS = [*globals().get("ALLOWED_HOSTS", []), "127.0.0.1", "localhost"]',
    ]
    (folder / f"{name}.py").write_text("\n".join(lines) + "\n")
    return name


def write_static_application(folder: Path, application: str) -> str:
    """An application module in `folder` serving static files in front of `application`; returns ``module:attr``.

    Daphne serves no static files of its own (``runserver`` does, in DEBUG): without
    this a page's stylesheet or script would be a 404 under test. Channels' live
    server test case wraps its application the same way.
    """
    name = module_name("channels_live_asgi_", folder)
    module, attribute = application.split(":")
    (folder / f"{name}.py").write_text(
        f"from {module} import {attribute} as project_application\n"
        "from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler\n\n"
        "application = ASGIStaticFilesHandler(project_application)\n"
    )
    return f"{name}:application"


def settings_environment(folder: Path, base_module: str, overrides: Mapping[str, Any], cwd: Path) -> dict[str, str]:
    """The environment variables that make a process in `cwd` run `base_module` with `overrides`,
    importing modules written in `folder`."""
    path = os.pathsep.join(filter(None, [str(folder), str(cwd), os.environ.get("PYTHONPATH")]))
    module = write_settings_module(folder, base_module, overrides) if overrides else base_module
    return {"DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": path}
