"""The split deployment with the real servers: Apache (both forms) or nginx in front,
gunicorn on mysite/wsgi.py for pages, the two Daphne processes for WebSockets.

The proxies run from the project's own configs in deploy/, as `make demo-apache`
and `make demo-nginx` run them, and Daphne runs with --proxy-headers, as deploy/systemd
and deploy/demo.py run it.
"""

import base64
import http.client
import http.cookiejar
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import websocket
from pytest_channels_live import (
    HOST,
    DaphneCluster,
    DaphneServer,
    ListeningServer,
    RedisServer,
    free_port,
    require_executable,
    wait_for,
)

from chat import protocol
from deploy.demo import proxy_command, wsgi_command
from tests.conftest import server_environment
from tests.functional.pages import ChatPage
from tests.servers import PROJECT_ROOT, open_sockets
from tests.wsclient import ChatClient, read_frame

Browsers = Callable[[], ChatPage]

RECIPES = ["apache-rewrite", "apache-proxypass", "nginx"]
# Open sockets per client address, per Daphne process, behind the proxies: small, so that
# filling it on both processes takes a dozen sockets rather than a hundred.
SOCKET_LIMIT = 3
# What a client may claim to be. Only ever sent as header text: nothing connects to it.
FORGED = "10.77.0.{}"
# Wrong passwords a username may get from one address behind the proxies: small, so that
# reaching it costs few password hashes.
LOGIN_FAILURE_LIMIT = 2


class ProxiedDaphne(DaphneServer):
    """Daphne with --proxy-headers: the client address is the proxy's X-Forwarded-For."""

    def command(self) -> list[str]:
        *options, application = super().command()
        return [*options, "--proxy-headers", application]


@pytest.fixture(scope="session")
def proxied_cluster(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, server_database: str
) -> Iterator[DaphneCluster]:
    """The two Daphne processes behind the proxies, run as deploy/systemd runs them."""
    env = server_environment(server_database, redis_server.url, CHAT_MAX_CONNECTIONS_PER_IP=str(SOCKET_LIMIT))
    log_dir = tmp_path_factory.mktemp("daphne-proxied")
    cluster = DaphneCluster([ProxiedDaphne(log_dir / f"daphne-{index}.log", env) for index in range(2)])
    try:
        for server in cluster:
            server.start()
        yield cluster
    finally:
        cluster.stop()


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
    env = server_environment(
        server_database,
        redis_server.url,
        DJANGO_STATIC_ROOT=str(static_root),
        CHAT_LOGIN_FAILURE_LIMIT=str(LOGIN_FAILURE_LIMIT),
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=PROJECT_ROOT, env=os.environ | env, check=True,
    )  # fmt: skip
    port = free_port()
    server = ListeningServer("gunicorn", readable_dir / "gunicorn.log", wsgi_command(port), env, port)
    server.start()
    yield server, static_root
    server.stop()


def start_proxy(recipe: str, parent: Path, daphne: list[str], wsgi: str, static_root: Path) -> ListeningServer:
    """Apache (in either form) or nginx from deploy/, in front of the given host:port servers."""
    kind, _, form = recipe.partition("-")
    require_executable("apache2" if kind == "apache" else "nginx", "apache2" if kind == "apache" else "nginx")
    # A folder of its own each time: the same recipe starts again for each database backend.
    run_dir = Path(tempfile.mkdtemp(prefix=f"{recipe}-", dir=parent))
    run_dir.chmod(0o755)
    port = free_port()
    argv, env = proxy_command(kind, run_dir, port, daphne, wsgi, static_root, form or "rewrite")
    server = ListeningServer(recipe, run_dir / "proxy.log", argv, env, port)
    server.start()
    return server


@pytest.fixture(scope="module", params=RECIPES)
def proxy(
    request: pytest.FixtureRequest,
    readable_dir: Path,
    proxied_cluster: DaphneCluster,
    wsgi_server: tuple[ListeningServer, Path],
) -> Iterator[ListeningServer]:
    wsgi, static_root = wsgi_server
    daphne = [f"{HOST}:{server.port}" for server in proxied_cluster]
    server = start_proxy(request.param, readable_dir, daphne, f"{HOST}:{wsgi.port}", static_root)
    yield server
    server.stop()


def test_pages_and_static_files_come_through_the_proxy(proxy: ListeningServer) -> None:
    with urllib.request.urlopen(f"{proxy.http_url}/chat/", timeout=10) as response:
        assert response.status == 200
        assert 'id="room-name-input"' in response.read().decode()
    with urllib.request.urlopen(f"{proxy.http_url}/static/js/chat.js", timeout=10) as response:
        assert response.status == 200
        assert "RoomConnection" in response.read().decode()
    # Browsers ask for /favicon.ico whatever the page says: the application sends them on to the collected icon.
    with urllib.request.urlopen(f"{proxy.http_url}/favicon.ico", timeout=10) as response:
        assert (response.status, response.url) == (200, f"{proxy.http_url}/static/favicon.svg")
        assert "<svg" in response.read().decode()


def status_through(proxy: ListeningServer, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> int:
    """The status the proxy answers; the body, if any, is sent in one chunk when no Content-Length is given."""
    connection = http.client.HTTPConnection(HOST, proxy.port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    if body:
        connection.send(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    try:
        return connection.getresponse().status
    finally:
        connection.close()


def test_metrics_are_refused_through_the_proxy_and_health_still_answers(proxy: ListeningServer) -> None:
    """Prometheus asks each process on its own port; through the proxy the public gets nothing but a 403."""
    for path in ("/metrics", "/metrics?format=text", "//metrics", "/%6Detrics"):
        assert status_through(proxy, "GET", path, {}) == 403, path
    assert status_through(proxy, "GET", "/healthz", {}) == 200


def test_an_oversized_body_is_refused_by_the_proxy(proxy: ListeningServer) -> None:
    """Before it is sent, when Content-Length says so. Sent in chunks, nginx refuses it as it passes
    the limit; Apache, which can't cap a chunked body it proxies, refuses any body without a length."""
    announced = {"Content-Type": "application/json", "Content-Length": str(600 << 20)}
    assert status_through(proxy, "POST", "/api/rooms/x/messages", announced) == 413
    chunked = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    body = b"x" * (2_621_440 + 1)  # CHAT_MAX_REQUEST_BODY's default, and one byte
    expected = 411 if proxy.name.startswith("apache") else 413
    assert status_through(proxy, "POST", "/api/rooms/x/messages", chunked, body) == expected


def test_failed_logins_through_the_proxy_count_for_the_real_address(proxy: ListeningServer) -> None:
    """Each guess claims a new address of its own; the proxy replaces the claim, so the guesses add up."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    opener.open(f"{proxy.http_url}/admin/login/", timeout=10).read()  # the CSRF cookie
    token = next(cookie.value for cookie in cookies if cookie.name == "csrftoken")
    statuses = []
    for number in range(1, LOGIN_FAILURE_LIMIT + 1):
        form = {"username": f"nobody-{proxy.name}", "password": "a-guess", "csrfmiddlewaretoken": token}
        request = urllib.request.Request(
            f"{proxy.http_url}/admin/login/",
            urllib.parse.urlencode(form).encode(),
            headers={"X-Forwarded-For": FORGED.format(number)},
        )
        try:
            with opener.open(request, timeout=10) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as refused:
            statuses.append(refused.code)
    assert statuses == [200] * (LOGIN_FAILURE_LIMIT - 1) + [429]


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


def wait_until_no_sockets(cluster: DaphneCluster, whose: str) -> None:
    """Until every socket has left both processes: one still open counts against the next test's limit."""
    wait_for(lambda: not any(open_sockets(server) for server in cluster), 10, f"{whose} sockets to close")


def accepted(ws: websocket.WebSocket) -> bool:
    """Whether the server kept this socket: refused ones get the too_many_connections error, then 4429."""
    while True:
        opcode, payload = read_frame(ws)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            break
    frame = json.loads(payload)
    if frame["type"] != protocol.ERROR:
        return True  # the room's presence, history and so on
    assert frame["code"] == protocol.TOO_MANY_CONNECTIONS
    opcode, payload = read_frame(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == protocol.CLOSE_TOO_MANY_CONNECTIONS
    return False


def sockets_kept(proxy: ListeningServer, cluster: DaphneCluster, room: str, attempts: int, forge: bool) -> int:
    """Open `attempts` sockets one after another through the proxy, each forging an address of its
    own if `forge`; count those the servers kept, and close them all again."""
    wait_until_no_sockets(cluster, "earlier tests'")
    kept = []
    try:
        for number in range(1, attempts + 1):
            header = [f"X-Forwarded-For: {FORGED.format(number)}"] if forge else []
            ws = websocket.create_connection(
                proxy.ws_url(f"/ws/chat/{room}/"), origin=proxy.origin, header=header, timeout=10
            )
            if accepted(ws):
                kept.append(ws)
            else:
                ws.close()
        return len(kept)
    finally:
        for ws in kept:
            ws.close()
        wait_until_no_sockets(cluster, "this test's")


def test_daphne_behind_the_proxies_takes_the_address_from_x_forwarded_for(
    proxied_cluster: DaphneCluster, room_name: str
) -> None:
    """So the proxies' configs alone stand between a client and the address it claims, as in production."""
    server, claimed = proxied_cluster[0], FORGED.format(200)
    wait_until_no_sockets(proxied_cluster, "earlier tests'")
    log_start = len(server.log())
    sockets, kept = [], []
    try:
        for _ in range(SOCKET_LIMIT + 1):
            sockets.append(
                websocket.create_connection(
                    server.ws_url(f"/ws/chat/{room_name}/"),
                    origin=server.origin,
                    header=[f"X-Forwarded-For: {claimed}"],
                    timeout=10,
                )
            )
            # Read at once: Daphne drops a refused socket soon after its close frame if nobody answers it.
            kept.append(accepted(sockets[-1]))
        assert kept == [True] * SOCKET_LIMIT + [False]
        wait_for(lambda: f"Refused a socket from {claimed}:" in server.log()[log_start:], 10, "the refusal's warning")
    finally:
        for ws in sockets:
            ws.close()


def test_a_forged_x_forwarded_for_changes_neither_the_socket_limit_nor_its_log(
    proxy: ListeningServer, proxied_cluster: DaphneCluster, room_name: str
) -> None:
    # The proxy balances over both processes, each with its own limit: this many fills both.
    attempts = 4 * SOCKET_LIMIT
    plain = sockets_kept(proxy, proxied_cluster, room_name, attempts, forge=False)
    log_start = [len(server.log()) for server in proxied_cluster]
    forged = sockets_kept(proxy, proxied_cluster, room_name, attempts, forge=True)
    assert (plain, forged) == (2 * SOCKET_LIMIT, 2 * SOCKET_LIMIT), (
        f"of {attempts} sockets from one client, {plain} kept as they came and {forged} with forged addresses"
    )

    def refusals() -> list[str]:
        new = "".join(server.log()[start:] for server, start in zip(proxied_cluster, log_start, strict=True))
        return re.findall(r"Refused a socket from (.*?): it has", new)

    wait_for(lambda: len(refusals()) == attempts - forged, 10, "a warning for each refused socket")
    assert set(refusals()) == {HOST}
    assert not any(
        FORGED.format("") in server.log()[start:] for server, start in zip(proxied_cluster, log_start, strict=True)
    )


FORWARDING_HEADERS = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port")


class HeaderRecorder(http.server.ThreadingHTTPServer):
    """Stands in for Daphne and gunicorn behind a proxy: keeps the forwarding headers of each request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, list[str]]]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                forwarded = {name: self.headers.get_all(name) or [] for name in FORWARDING_HEADERS}
                recorder.seen.append((self.path, forwarded))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, 0), Handler)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.server_address[1]}"


@pytest.fixture
def header_recorder() -> Iterator[HeaderRecorder]:
    recorder = HeaderRecorder()
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    yield recorder
    recorder.shutdown()
    recorder.server_close()


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_servers_behind_the_proxy_get_only_the_address_it_saw(
    recipe: str, readable_dir: Path, header_recorder: HeaderRecorder
) -> None:
    """Pages go to gunicorn and sockets to Daphne: neither may see what the client claimed."""
    address = header_recorder.address
    proxy = start_proxy(recipe, readable_dir, [address, address], address, readable_dir)
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    # What the proxy itself knows, whatever the client claimed.
    truth = {"X-Forwarded-For": [HOST], "X-Forwarded-Proto": ["http"], "X-Forwarded-Port": [str(proxy.port)]}
    forgeries = (
        [],
        [("X-Forwarded-For", FORGED.format(1))],
        [("X-Forwarded-For", FORGED.format(1)), ("X-Forwarded-For", FORGED.format(2))],
        # Daphne reads the port too, and bytes that are no text failed its handshake with a traceback.
        [("X-Forwarded-Port", b"\xff"), ("X-Forwarded-Port", "99999999999999999999")],
        [("X-Forwarded-Proto", "https")],
    )
    try:
        for path, headers in (("/chat/", {}), ("/ws/chat/lobby/", upgrade)):
            for claims in forgeries:
                connection = http.client.HTTPConnection(HOST, proxy.port, timeout=10)
                connection.putrequest("GET", path, skip_accept_encoding=True)
                for name, value in [*headers.items(), *claims]:
                    connection.putheader(name, value)
                connection.endheaders()
                connection.getresponse().read()
                connection.close()
                assert header_recorder.seen == [(path, truth)], f"{path} claiming {claims}"
                header_recorder.seen.clear()
    finally:
        proxy.stop()
