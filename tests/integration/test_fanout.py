"""Real Redis and two real Daphne processes: a room spans processes."""

import pytest
import redis
import websocket
from pytest_channels_live import DaphneCluster, RedisServer, wait_for

from chat.groups import room_group_name
from tests.servers import readiness
from tests.wsclient import ChatClient

# Longer than redis-py 8's default socket timeout (5 s), with margin: that timeout would
# otherwise end the channel layer's blocking read, taken for an outage, within 5 s of the
# room's last message (without the layer's socket_timeout None, this test fails at 8 s).
IDLE_SECONDS = 8


def test_a_message_sent_on_one_process_reaches_the_other(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        ann.send("hello from process 0")
        mine = ann.receive_message("hello from process 0")
        theirs = bob.receive_message("hello from process 0")
        assert mine == theirs
        assert mine["id"] == 1
        bob.send("and back from process 1")
        assert ann.receive_message("and back from process 1")["id"] == 2


def test_other_rooms_hear_nothing(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], f"{room_name}-other") as eve:
        ann.send("for this room only")
        ann.receive_message("for this room only")
        eve.send("eve's own")
        # Eve's own message is the first frame she gets: nothing from Ann's room came first.
        assert eve.receive()["message"] == "eve's own"


@pytest.mark.server_databases("postgres")  # Redis's socket timeout is the point, whatever the database
def test_a_connection_idle_past_the_redis_socket_timeout_still_delivers(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        logged_before = [len(server.log()) for server in cluster]
        for client in (ann, bob):
            # Nothing may arrive while idle, and above all no close frame (1011).
            with pytest.raises(websocket.WebSocketTimeoutException):
                client.receive(timeout=IDLE_SECONDS / 2)
        # With a socket timeout, the layer would take each timed-out blocking read for a
        # Redis outage and recover from it (every socket re-reading history) while sockets
        # stay open: the room still works, so only the log shows it.
        for server, before in zip(cluster, logged_before, strict=True):
            outages = [line for line in server.log()[before:].splitlines() if "Redis is unreachable" in line]
            assert outages == [], f"a quiet room looked like a Redis outage on port {server.port}"
        ann.send("still there?")
        assert bob.receive_message("still there?", timeout=5)["id"] == 1
        bob.send("yes")
        assert ann.receive_message("yes", timeout=5)["id"] == 2


def test_ids_increase_in_a_room_written_from_both_processes(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        for number in range(10):
            (ann if number % 2 else bob).send(f"m{number}")
        received = [ann.receive_until(lambda f: f["type"] == "chat.message") for _ in range(10)]
        assert sorted(frame["id"] for frame in received) == list(range(1, 11))
        assert sorted(frame["message"] for frame in received) == sorted(f"m{n}" for n in range(10))


def test_a_late_joiner_on_another_process_gets_history_oldest_first(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann:
        for number in range(3):
            ann.send(f"m{number}")
            ann.receive_message(f"m{number}")
    with ChatClient(cluster[1], room_name) as late:
        history = [late.receive() for _ in range(3)]
        assert [frame["message"] for frame in history] == ["m0", "m1", "m2"]
        assert [frame["id"] for frame in history] == [1, 2, 3]


def test_each_process_is_one_member_of_a_room_group(
    cluster: DaphneCluster, redis_server: RedisServer, room_name: str
) -> None:
    members = redis.Redis.from_url(redis_server.url)
    group_key = f"asgi:group:{room_group_name(room_name)}"
    clients = [ChatClient(cluster[number % 2], room_name) for number in range(6)]
    try:
        clients[0].send("to all six")
        for client in clients:
            client.receive_message("to all six")
        assert members.zcard(group_key) == 2, "one member per Daphne process, not one per socket"
    finally:
        for client in clients:
            client.close()
    # Each process leaves when its last socket has gone.
    wait_for(lambda: members.zcard(group_key) == 0, 5, "both processes to leave the room's group")


def test_the_readiness_round_trip_works_beside_open_rooms(cluster: DaphneCluster, room_name: str) -> None:
    # /readyz sends itself a message through a channel of its own, which the process's
    # receive loop must pick up while the rooms' hubs are listening too.
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[0], f"{room_name}-b") as bob:
        ann.send("hubs are listening")
        ann.receive_message("hubs are listening")
        bob.send("here too")
        bob.receive_message("here too")
        for _ in range(3):
            assert readiness(cluster[0])[0] == 200
