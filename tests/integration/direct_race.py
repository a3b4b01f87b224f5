"""Two people open their direct conversation at the same moment, in a process of its own.

Run by tests/integration/test_direct_rooms.py as
``python -m tests.integration.direct_race ANN BOB`` with the environment of a
deployment (``DATABASE_URL``): Django's ORM on a real database, two threads
with a connection each. Prints what happened, as JSON.

The two threads are held together where a race would hurt: both find no room
before taking the locks (`start`), and the first to hold them waits up to a
second after finding none again (`window`), so that without the locks both
would go on to make a room together.
"""

import contextlib
import json
import sys
import threading

import django

WINDOW_SECONDS = 1.0


def race(first: str, second: str) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from chat import direct
    from chat.models import Room

    users = {name: get_user_model().objects.create_user(name) for name in (first, second)}
    start, window = threading.Barrier(2, timeout=10), threading.Barrier(2, timeout=WINDOW_SECONDS)
    find, calls = direct._direct_room_of, threading.local()

    def held_find(first_id: int, second_id: int) -> Room | None:
        calls.count = getattr(calls, "count", 0) + 1
        found = find(first_id, second_id)
        # A broken `window`: the other thread waits for the locks, as it should.
        with contextlib.suppress(threading.BrokenBarrierError):
            (start if calls.count == 1 else window).wait()
        return found

    direct._direct_room_of = held_find
    rooms, errors = [], []

    def open_room(opener: str, other: str) -> None:
        try:
            rooms.append(direct.open_direct_room(users[opener], other).name)
        except Exception as exc:  # a deadlock or a locked database, to be reported
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=open_room, args=(first, second)),
        threading.Thread(target=open_room, args=(second, first)),  # the other way round, at once
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = Room.objects.filter(kind=Room.Kind.DIRECT, memberships__user=users[first]).filter(
        memberships__user=users[second]
    )
    return {"opened": rooms, "errors": errors, "stored": sorted(stored.values_list("name", flat=True))}


if __name__ == "__main__":
    django.setup()
    print(json.dumps(race(sys.argv[1], sys.argv[2])))
