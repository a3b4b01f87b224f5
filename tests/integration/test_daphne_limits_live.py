"""Daphne's own limits (chat/daphne_limits.py) in a live process serving plain and TLS sockets.

A socket that does not read, and one that floods frames no consumer sees (pings, pongs,
a message in 1-byte pieces), is dropped and lets go of what it held; the process goes on
answering others. One Daphne of this module's own, on SQLite: the limits don't depend on
the database, and small limits keep the test short.
"""

import ssl
from collections.abc import Iterator

import pytest
import websocket
from pytest_channels_live import DaphneServer, self_signed_certificate, wait_for

from tests.conftest import migrate, server_environment
from tests.servers import open_sockets
from tests.wsclient import FIRST_PIECE, NEXT_PIECE, PING_FRAME, PONG_FRAME, ChatClient, frames_until_closed

MAX_UNSENT_BYTES = 16 * 1024
CONTROL_FRAME_BURST = 5
# Messages this long (60 KB on the wire) fill a socket's buffers in a few dozen messages.
LONG_MESSAGE = "x" * 60_000


@pytest.fixture(scope="module")
def limited_daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    folder = tmp_path_factory.mktemp("daphne-limits")
    env = server_environment(
        migrate(f"sqlite:///{folder / 'chat.sqlite3'}"),
        CHAT_RATE_LIMIT="0",
        CHAT_MAX_MESSAGE_LENGTH=str(len(LONG_MESSAGE)),
        CHAT_MAX_UNSENT_BYTES=str(MAX_UNSENT_BYTES),
        CHAT_CONTROL_FRAME_RATE="1",
        CHAT_CONTROL_FRAME_BURST=str(CONTROL_FRAME_BURST),
    )
    server = DaphneServer(folder / "daphne.log", env, tls=self_signed_certificate(folder))
    server.start()
    yield server
    assert server.tracebacks() == [], "Daphne logged a traceback"
    server.stop()


def reset_or_ended(client: ChatClient, most: int) -> bool:
    """Read the raw socket to its end; True if the server ended it, after at most `most` bytes."""
    received = 0
    while received <= most:
        try:
            chunk = client.ws.sock.recv(65536)
        except (ConnectionError, ssl.SSLError):
            return True
        if not chunk:
            return True
        received += len(chunk)
    return False


@pytest.mark.parametrize("secure", [False, True], ids=["tcp", "tls"])
def test_a_socket_that_does_not_read_is_dropped_and_the_process_goes_on(
    limited_daphne: DaphneServer, room_name: str, secure: bool
) -> None:
    endpoint = limited_daphne.tls_endpoint if secure else limited_daphne
    already_open, log_before = open_sockets(limited_daphne), len(limited_daphne.log())
    with (
        ChatClient(endpoint, room_name, receive_buffer=4096) as stalled,
        ChatClient(limited_daphne, room_name) as talker,
        ChatClient(limited_daphne, f"{room_name}-other") as other,
    ):
        wait_for(lambda: open_sockets(limited_daphne) == already_open + 3, 10, "the three sockets to open")
        said = 0

        def stalled_socket_dropped() -> bool:
            # The room goes on talking; the socket that never reads falls behind until the server drops it.
            nonlocal said
            said += 1
            talker.post(LONG_MESSAGE, client_id=f"long-{said}", timeout=10)
            return open_sockets(limited_daphne) == already_open + 2

        wait_for(stalled_socket_dropped, 60, "the server to drop the socket that does not read", interval=0)
        # Its connection is gone (it had at most the kernel's buffers on their way), and the
        # process answers the others.
        stalled.ws.settimeout(10)
        assert reset_or_ended(stalled, most=16 * 1024 * 1024)
        assert other.post("still answering", client_id="other-1") == 1
        assert talker.post("and here", client_id="after") == said + 1
    assert "Dropped a WebSocket from 127.0.0.1: it left more than" in limited_daphne.log()[log_before:]


def test_a_socket_that_takes_none_of_a_long_catch_up_in_a_quiet_room_is_dropped(
    limited_daphne: DaphneServer, room_name: str
) -> None:
    """Sent a long catch-up at once and then nothing: no later frame shows it is behind; its stalling does."""
    with ChatClient(limited_daphne, room_name) as talker:
        for number in range(1, 101):  # 6 MB: more than the kernel's buffers on both ends take
            talker.post(LONG_MESSAGE, client_id=f"long-{number}", timeout=10)
    already_open, log_before = open_sockets(limited_daphne), len(limited_daphne.log())
    with ChatClient(limited_daphne, room_name, after=0, receive_buffer=4096):
        wait_for(lambda: open_sockets(limited_daphne) == already_open + 1, 10, "the socket to open")
        wait_for(
            lambda: open_sockets(limited_daphne) == already_open, 30, "the server to drop the socket that takes nothing"
        )
    assert "took none of the" in limited_daphne.log()[log_before:]


@pytest.mark.parametrize(
    "flood",
    [PING_FRAME * 1000, PONG_FRAME * 1000, FIRST_PIECE + NEXT_PIECE * 1000],
    ids=["pings", "pongs", "a message in pieces"],
)
def test_a_socket_flooding_frames_no_consumer_sees_is_dropped(
    limited_daphne: DaphneServer, room_name: str, flood: bytes
) -> None:
    already_open, log_before = open_sockets(limited_daphne), len(limited_daphne.log())
    with (
        ChatClient(limited_daphne, room_name) as flooder,
        ChatClient(limited_daphne, f"{room_name}-other") as other,
    ):
        flooder.ws.sock.sendall(flood)
        # Dropped without a close frame, which discards what the client had not read yet: the
        # pongs to the pings within the allowance, say.
        assert websocket.ABNF.OPCODE_CLOSE not in frames_until_closed(flooder.ws)
        wait_for(lambda: open_sockets(limited_daphne) == already_open + 1, 10, "the flooder's socket to be released")
        assert other.post("still answering", client_id="other-1") == 1
    assert "Dropped a WebSocket from 127.0.0.1: it sent" in limited_daphne.log()[log_before:]
