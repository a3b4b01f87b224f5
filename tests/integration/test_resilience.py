"""Nothing lost or doubled across a killed Daphne process or a Redis restart.

"Exactly once, in order" is checked on the frames themselves: the ids a client
received must strictly increase, and hold every id that was sent.
"""

import os
import subprocess
import sys
import time

import pytest
from pytest_channels_live import DaphneCluster, RedisServer, wait_for

from tests.conftest import server_environment
from tests.servers import PROJECT_ROOT, open_sockets, readiness
from tests.wsclient import ChatClient, guest_cookie


def assert_exactly_once_in_order(ids: list[int], expected: set[int]) -> None:
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False)), f"doubled or out of order: {ids}"
    assert expected <= set(ids), f"lost: {sorted(expected - set(ids))}"


def save_without_publishing(room: str, text: str, database_url: str) -> int:
    """Store a message from a process of its own whose channel layer reaches no server; returns its id."""
    code = f"from chat import services; print(services.post_notification({room!r}, {text!r}).room_message_id)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url, redis_url=""),  # the in-memory layer: its own
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1])


@pytest.mark.server_databases("postgres")  # a killed Daphne process is the point, whatever the database
def test_a_killed_daphne_process_loses_nothing_for_its_clients(cluster: DaphneCluster, room_name: str) -> None:
    ann = ChatClient(cluster[0], room_name)
    bob = ChatClient(cluster[1], room_name)
    ann.post("before", "before")
    bob.receive_message("before")

    cluster[1].kill()
    bob.close()
    during = [ann.post(f"during {n}", f"during-{n}") for n in range(5)]
    for number in range(5):
        ann.receive_message(f"during {number}")  # Ann, on the other process, notices nothing.

    restarted = time.monotonic()
    cluster[1].start()
    with ChatClient(cluster[1], room_name, after=bob.ids()[-1]) as bob_again:
        reconnect_seconds = time.monotonic() - restarted
        for number in range(5):
            bob_again.receive_message(f"during {number}")
        ann.post("after", "after")
        bob_again.receive_message("after")
        assert_exactly_once_in_order(bob.ids() + bob_again.ids(), {*during, 1})
    ann.close()
    print(
        f"\nkill -9: {len(during)} messages sent while down, 0 lost, 0 doubled; "
        f"client reconnected {reconnect_seconds:.2f} s after the restart began"
    )


@pytest.mark.server_databases("postgres")  # a Redis restart is the point, whatever the database
def test_a_redis_restart_keeps_sockets_open_and_loses_nothing(
    cluster: DaphneCluster, redis_server: RedisServer, server_database: str, room_name: str
) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        ann.post("before", "before")
        bob.receive_message("before")

        redis_server.stop()
        # Messages are still stored and acknowledged while Redis is away.
        during = [ann.post(f"ann during {n}", f"ann-{n}") for n in range(3)]
        during.append(bob.post("bob during", "bob-0"))
        for server in cluster:
            status, body = wait_for(lambda s=server: (r := readiness(s))[0] == 503 and r, 10, "readyz to say 503")
            assert body["checks"]["channel_layer"].startswith("down")
            assert body["checks"]["database"] == "ok"
        # The servers replay the sends they could not make; this one no server made, so only the
        # sockets' catch-up from the database (on `layer.recovered`) can bring it.
        during.append(save_without_publishing(room_name, "stored elsewhere", server_database))

        redis_server.start()
        back = time.monotonic()
        for client in (ann, bob):
            # Live fan-out resumes by itself, and what was said meanwhile arrives once, before anything
            # newer could show the sockets a gap to fill.
            for text in ["ann during 0", "ann during 1", "ann during 2", "bob during", "stored elsewhere"]:
                client.receive_message(text, timeout=15)
        caught_up_seconds = time.monotonic() - back
        for server in cluster:
            wait_for(lambda s=server: readiness(s)[0] == 200, 10, "readyz to say 200 again")

        ann.post("after", "after-ann")
        bob.receive_message("after")
        bob.post("reply", "after-bob")
        ann.receive_message("reply")
        for client in (ann, bob):
            assert_exactly_once_in_order(client.ids(), set(during))
    print(
        f"\nRedis restart: {len(during)} messages stored while down, all delivered, 0 lost, 0 doubled; "
        f"both clients had them {caught_up_seconds:.2f} s after Redis was back"
    )


def test_a_resend_after_a_lost_ack_is_stored_once(cluster: DaphneCluster, room_name: str) -> None:
    cookie = guest_cookie(cluster[0])  # a client id is its sender's own: the resend must come from Ann
    with ChatClient(cluster[0], room_name, cookie=cookie) as ann, ChatClient(cluster[1], room_name) as bob:
        first = ann.post("only once", "same-id")
        # The ack was "lost": the client sends again, on the other process even.
        with ChatClient(cluster[1], room_name, after=0, cookie=cookie) as ann_again:
            assert ann_again.post("only once", "same-id") == first
        ann.post("next", "next-id")
        bob.receive_message("next")
        assert bob.ids() == [first, first + 1]


@pytest.mark.server_databases("postgres")  # a hung Redis is the point, whatever the database
def test_a_hung_redis_does_not_hold_up_a_socket_s_clean_up(
    cluster: DaphneCluster, redis_server: RedisServer, room_name: str
) -> None:
    server = cluster[0]
    # The earlier tests' sockets finish closing first (a guest's lets go of their name on the way),
    # so that the count below moves for this test's socket only.
    wait_for(lambda: open_sockets(server) == 0, 10, "the earlier tests' sockets to close")
    before = 0
    ann = ChatClient(server, room_name)
    ann.post("hello", "hello")
    assert open_sockets(server) == before + 1
    redis_server.pause()
    try:
        ann.close()
        # The gauge falls last in the clean-up. Daphne gives up on a consumer 10 s after its
        # socket closed (and its clean-up never finishes then): every step must be bounded below that.
        wait_for(lambda: open_sockets(server) == before, 9, "the closed socket's clean-up to finish")
    finally:
        redis_server.resume()
    wait_for(lambda: readiness(server)[0] == 200, 15, "readyz to say 200 once Redis runs again")
    assert "took too long to shut down" not in server.log()
    with ChatClient(server, room_name) as bob, ChatClient(cluster[1], room_name) as cy:
        bob.post("still here", "still")
        cy.receive_message("still here")
