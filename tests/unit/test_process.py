"""One home per event loop for what a process shares between its sockets."""

import asyncio

from chat.process import process_state


def test_each_event_loop_has_a_state_of_its_own_and_keeps_it():
    async def twice():
        return process_state(), process_state()

    first, again = asyncio.run(twice())
    second, _ = asyncio.run(twice())
    assert first is again, "one loop, one state"
    assert second is not first, "a new loop gets new Redis connections and tasks"
    assert first.histories.fanout is first.fanout, "the room histories follow their own loop's hubs"
