"""What this process keeps for its sockets, on one object per event loop.

Redis connections, tasks and futures belong to the event loop that made them.
Daphne runs one loop, but tests and management commands may run several in
turn. So, as channels-redis keeps its per-loop state on one object, what a
process shares between its sockets that belongs to a loop hangs off one
`ProcessState` per loop: made on first use, gone with its loop. (The counts
per client address in `chat.limits` hold no loop's objects and stay plain.)
"""

import asyncio
import weakref
from collections.abc import Coroutine

from channels.layers import get_channel_layer

from chat import held_names, presence
from chat.fanout import LocalFanout
from chat.history import Histories


class ProcessState:
    """The hubs, the room histories, the presence and held-names stores and the timers of one event loop."""

    def __init__(self) -> None:
        self.fanout = LocalFanout(get_channel_layer())
        self.histories = Histories(self.fanout)
        self.presence = presence.new_store()
        self.held_names = held_names.new_store()
        # Rooms whose presence list goes out soon (`services.apublish_presence`).
        self.presence_due: dict[str, asyncio.Task] = {}
        # How many changes each room with a pending presence update has had: one that comes while the
        # update reads or sends is published by a further round, not lost.
        self.presence_changes: dict[str, int] = {}
        # Rooms inside a lobby-activity interval, with the newest time and message id to send when it ends
        # (`services.apublish_activity`).
        self.activity_waiting: dict[str, tuple[str, int] | None] = {}
        # Public rooms with a row, name to id, seen by this process's sockets (`membership.aroom_to_open`).
        self.public_rooms: dict[str, int] = {}
        self.timers: set[asyncio.Task] = set()

    def start_timer(self, coroutine: Coroutine) -> asyncio.Task:
        """Run `coroutine` beside the sockets; held here, as the loop itself keeps only a weak reference."""
        task = asyncio.create_task(coroutine)
        self.timers.add(task)
        task.add_done_callback(self.timers.discard)
        return task


_states: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProcessState]" = weakref.WeakKeyDictionary()


def process_state() -> ProcessState:
    """This event loop's state, made on first use."""
    loop = asyncio.get_running_loop()
    state = _states.get(loop)
    if state is None:
        state = _states[loop] = ProcessState()
    return state
