"""The whole split stack on this machine, in the foreground: ``make demo-apache`` or ``make demo-nginx``.

Apache or nginx on PORT serves the pages through a WSGI server (gunicorn on
mysite/wsgi.py) and static files itself, and hands WebSockets to two Daphne
processes joined by a private redis-server. Everything lives in a temporary
folder and is stopped and removed on Ctrl+C or SIGTERM.
"""

import argparse
import errno
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
PROJECT = DEPLOY.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def check_port_free(port: int, kind: str) -> None:
    """Stop at once, naming the port, if something already listens where the proxy must."""
    with socket.socket() as sock:
        # As Apache and nginx bind: a connection of an earlier run still closing does not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SystemExit(
                    f"Port {port} on {HOST} is already in use: stop what listens there, "
                    f"or choose another port (make demo-{kind} PORT=...)."
                ) from None
            raise SystemExit(f"{kind} could not listen on {HOST}:{port}: {exc.strerror}.") from None


def log_tail(paths: list[Path], lines: int = 10) -> str:
    """The last lines of each of the given logs that exists, for a message on the terminal."""
    parts = []
    for path in paths:
        if path.is_file():
            tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
            if tail:
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
    return "\n".join(parts) or "(its log is empty)"


def require(executable: str, package: str) -> str:
    found = shutil.which(executable) or shutil.which(executable, path="/usr/sbin:/sbin")
    if not found:
        raise SystemExit(f"{executable} is not installed. Install it with: sudo apt-get install -y {package}")
    return found


def proxy_command(
    kind: str, run_dir: Path, port: int, daphne: list[str], wsgi: str, static_root: Path, apache_form: str = "rewrite"
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start Apache or nginx in front of the given servers."""
    values = {
        "PORT": str(port),
        "RUN_DIR": str(run_dir),
        "DAPHNE_1": daphne[0],
        "DAPHNE_2": daphne[-1],
        "WSGI": wsgi,
        "STATIC_ROOT": str(static_root),
    }
    if kind == "apache":
        # Apache reads ${CHAT_...} from its environment.
        env = {f"CHAT_{name}": value for name, value in values.items()}
        env["CHAT_VHOST"] = str(DEPLOY / "apache" / f"chat-{apache_form}.conf")
        return [require("apache2", "apache2"), "-f", str(DEPLOY / "apache" / "standalone.conf"), "-DFOREGROUND"], env
    config = (DEPLOY / "nginx" / "chat.conf.in").read_text()
    for name, value in values.items():
        config = config.replace("{{" + name + "}}", value)
    config_path = run_dir / "nginx.conf"
    config_path.write_text(config)
    return [require("nginx", "nginx"), "-c", str(config_path), "-p", str(run_dir)], {}


def wsgi_command(port: int) -> list[str]:
    """gunicorn on mysite/wsgi.py: the pages, the admin and the API, apart from Daphne."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--workers", "2", "mysite.wsgi:application"]


class Demo:
    def __init__(self, kind: str, port: int, apache_form: str) -> None:
        self.kind, self.port, self.apache_form = kind, port, apache_form
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.logs: dict[str, list[Path]] = {}
        self.dir = Path(tempfile.mkdtemp(prefix="chat-demo-"))
        self.dir.chmod(0o755)  # the proxy's workers (www-data when run as root) read static files here

    def spawn(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        """Start a server and wait until it listens on its port."""
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        # What it prints, and for the proxies the error log their configs name (deploy/apache, deploy/nginx).
        self.logs[name] = [self.dir / f"{name}.log", self.dir / f"{name}-error.log"]
        # A session of its own: Ctrl+C reaches only the demo, which stops everything in order.
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT, start_new_session=True
        )
        self.processes.append((name, process))
        self.wait_for_port(port, process, name)

    def failed(self, name: str, message: str) -> SystemExit:
        """Show the end of a server's log (its folder goes with the demo) and say what failed."""
        print(f"{message} The end of its log:\n{log_tail(self.logs.get(name, []))}", file=sys.stderr, flush=True)
        return SystemExit(1)

    def wait_for_port(self, port: int, process: subprocess.Popen, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise self.failed(name, f"{name} exited with {process.returncode} at start.")
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise self.failed(name, f"{name} did not listen on port {port} within {timeout} s.")

    def watch(self) -> None:
        """Until Ctrl+C or SIGTERM; a server that exits stops the demo, with its log."""
        while True:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise self.failed(name, f"{name} exited with {process.returncode}; stopping the demo.")
            time.sleep(0.5)

    def start(self) -> None:
        check_port_free(self.port, self.kind)
        redis_port = free_port()
        self.spawn(
            "redis",
            [require("redis-server", "redis-server"), "--bind", HOST, "--port", str(redis_port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            dict(os.environ),
            redis_port,
        )  # fmt: skip
        static_root = self.dir / "static"
        env = os.environ | {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{self.dir / 'db.sqlite3'}",
            "REDIS_URL": f"redis://{HOST}:{redis_port}/0",
            "DJANGO_STATIC_ROOT": str(static_root),
        }
        for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=PROJECT, env=env, check=True)

        daphne = []
        for index in (1, 2):
            port = free_port()
            self.spawn(
                f"daphne-{index}",
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "--proxy-headers",
                    "-b",
                    HOST,
                    "-p",
                    str(port),
                    "mysite.asgi:application",
                ],
                env,
                port,
            )
            daphne.append(f"{HOST}:{port}")
        wsgi_port = free_port()
        self.spawn("gunicorn", wsgi_command(wsgi_port), env, wsgi_port)

        check_port_free(self.port, self.kind)  # again: starting the rest took a while
        argv, proxy_env = proxy_command(
            self.kind, self.dir, self.port, daphne, f"{HOST}:{wsgi_port}", static_root, self.apache_form
        )
        self.spawn(self.kind, argv, os.environ | proxy_env, self.port)

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process in reversed(self.processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proxy", choices=["apache", "nginx"])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--apache-form", choices=["rewrite", "proxypass"], default="rewrite")
    args = parser.parse_args()

    demo = Demo(args.proxy, args.port, args.apache_form)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        demo.start()
        print(f"The chat is on http://{HOST}:{args.port}/chat/ behind {args.proxy}. Ctrl+C stops it.", flush=True)
        print(f"Logs: {demo.dir} (removed on exit)", flush=True)
        demo.watch()
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()


if __name__ == "__main__":
    main()
