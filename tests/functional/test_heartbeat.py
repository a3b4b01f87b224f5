"""A browser whose network silently stops passing packets notices by itself, and catches up once it is back."""

import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import start_cluster
from tests.forwarder import SilentDropForwarder
from tests.functional.pages import ChatPage
from tests.wsclient import ChatClient

# Seconds between the page's pings, short so that the test takes seconds (the default is 20). Not
# shorter: a page also gives up on a socket not open within two, and a busy machine's handshake can take one.
HEARTBEAT = 2


def test_a_silently_dead_connection_is_noticed_and_what_was_missed_arrives_without_a_click(
    tmp_path: Path, server_database: str, browsers: Callable[[], ChatPage], room_name: str
) -> None:
    cluster = start_cluster(tmp_path, 1, server_database, redis_url="", CHAT_CLIENT_HEARTBEAT=str(HEARTBEAT))
    network = SilentDropForwarder(cluster[0].port)  # Ann's network; Bob talks to Daphne directly
    try:
        ann = browsers()
        ann.open_room(network, room_name)
        with ChatClient(cluster[0], room_name) as bob:
            bob.post("before the drop", "bob-1")
            ann.wait_for_message("before the drop")

            network.stall()
            stalled = time.monotonic()
            bob.post("said while Ann's network was down", "bob-2")
            ann.wait_for_state("closed", timeout=2 * HEARTBEAT + 5)
            noticed = time.monotonic() - stalled
            assert "Reconnecting in" in ann.status_text()
            # It tries again, and gives up on a connection that the network does not carry either.
            ann.wait_for_state("connecting", timeout=15)
            ann.wait_for_state("closed", timeout=2 * HEARTBEAT + 5)
            assert "said while Ann's network was down" not in ann.texts()

            network.resume()
            resumed = time.monotonic()
            ann.wait_for_message("said while Ann's network was down", timeout=60)
            caught_up = time.monotonic() - resumed
            print(f"\nsilence noticed after {noticed:.1f} s; missed message shown {caught_up:.1f} s after the network")
            ann.wait_for_state("open")
            assert ann.texts() == ["before the drop", "said while Ann's network was down"]
            ann.say("back")
            bob.receive_message("back")
        assert cluster.tracebacks() == []
    finally:
        network.close()
        cluster.stop()
