"""The split deployment with the real servers: Apache (both forms) or nginx in front,
gunicorn on mysite/wsgi.py for pages, the two Daphne processes for WebSockets.

The proxies run from the project's own configs in deploy/, as `make demo-apache`
and `make demo-nginx` run them.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import websocket

from deploy.demo import proxy_command, wsgi_command
from tests.conftest import DaphneCluster, server_environment
from tests.functional.pages import ChatPage
from tests.servers import HOST, PROJECT_ROOT, ListeningServer, RedisServer, free_port, require_executable
from tests.wsclient import ChatClient

Browsers = Callable[[], ChatPage]


@pytest.fixture(scope="session")
def readable_dir() -> Iterator[Path]:
    """A folder the proxies' workers (www-data when the tests run as root) can read."""
    path = Path(tempfile.mkdtemp(prefix="chat-proxies-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def wsgi_server(
    readable_dir: Path, server_database: str, redis_server: RedisServer
) -> Iterator[tuple[ListeningServer, Path]]:
    """gunicorn on mysite/wsgi.py, and the static files collected for the proxy to serve."""
    static_root = readable_dir / "static"
    env = server_environment(server_database, redis_server.url, DJANGO_STATIC_ROOT=str(static_root))
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=PROJECT_ROOT, env=os.environ | env, check=True,
    )  # fmt: skip
    port = free_port()
    server = ListeningServer("gunicorn", readable_dir / "gunicorn.log", wsgi_command(port), env, port)
    server.start()
    yield server, static_root
    server.stop()


@pytest.fixture(scope="module", params=["apache-rewrite", "apache-proxypass", "nginx"])
def proxy(
    request: pytest.FixtureRequest,
    readable_dir: Path,
    daphne_cluster: DaphneCluster,
    wsgi_server: tuple[ListeningServer, Path],
) -> Iterator[ListeningServer]:
    kind, _, form = request.param.partition("-")
    require_executable("apache2" if kind == "apache" else "nginx", "apache2" if kind == "apache" else "nginx")
    wsgi, static_root = wsgi_server
    run_dir = readable_dir / request.param
    run_dir.mkdir()
    port = free_port()
    daphne = [f"{HOST}:{server.port}" for server in daphne_cluster]
    argv, env = proxy_command(kind, run_dir, port, daphne, f"{HOST}:{wsgi.port}", static_root, form or "rewrite")
    server = ListeningServer(request.param, run_dir / "proxy.log", argv, env, port)
    server.start()
    yield server
    server.stop()


def test_pages_and_static_files_come_through_the_proxy(proxy: ListeningServer) -> None:
    with urllib.request.urlopen(f"{proxy.http_url}/chat/", timeout=10) as response:
        assert response.status == 200
        assert 'id="room-name-input"' in response.read().decode()
    with urllib.request.urlopen(f"{proxy.http_url}/static/js/chat.js", timeout=10) as response:
        assert response.status == 200
        assert "RoomConnection" in response.read().decode()


def test_two_browsers_chat_through_the_proxy(proxy: ListeningServer, browsers: Browsers, room_name: str) -> None:
    ann, bob = browsers(), browsers()
    ann.enter(proxy, room_name, "Ann")
    bob.enter(proxy, room_name, "Bob")
    ann.say("Through the proxy?")
    assert bob.wait_for_message("Through the proxy?")["author"] == "Ann"
    bob.say("Both ways.")
    assert ann.wait_for_message("Both ways.")["author"] == "Bob"


def test_a_foreign_origin_is_refused_through_the_proxy(proxy: ListeningServer, room_name: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ChatClient(proxy, room_name, origin="http://evil.example")
    assert refused.value.status_code == 403
