"""Nothing lost or doubled across a killed Daphne process or a Redis restart.

"Exactly once, in order" is checked on the frames themselves: the ids a client
received must strictly increase, and hold every id that was sent.
"""

import time

from tests.conftest import DaphneCluster
from tests.servers import RedisServer, readiness, wait_for
from tests.wsclient import ChatClient


def assert_exactly_once_in_order(ids: list[int], expected: set[int]) -> None:
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False)), f"doubled or out of order: {ids}"
    assert expected <= set(ids), f"lost: {sorted(expected - set(ids))}"


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


def test_a_redis_restart_keeps_sockets_open_and_loses_nothing(
    cluster: DaphneCluster, redis_server: RedisServer, room_name: str
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

        redis_server.start()
        back = time.monotonic()
        for client in (ann, bob):
            # Live fan-out resumes by itself, and what was said meanwhile arrives once.
            for text in ["ann during 0", "ann during 1", "ann during 2", "bob during"]:
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
        f"\nRedis restart: {len(during)} messages sent while down, all acknowledged, 0 lost, 0 doubled; "
        f"both clients had them {caught_up_seconds:.2f} s after Redis was back"
    )


def test_a_resend_after_a_lost_ack_is_stored_once(cluster: DaphneCluster, room_name: str) -> None:
    with ChatClient(cluster[0], room_name) as ann, ChatClient(cluster[1], room_name) as bob:
        first = ann.post("only once", "same-id")
        # The ack was "lost": the client sends again, on the other process even.
        with ChatClient(cluster[1], room_name, after=0) as ann_again:
            assert ann_again.post("only once", "same-id") == first
        ann.post("next", "next-id")
        bob.receive_message("next")
        assert bob.ids() == [first, first + 1]
