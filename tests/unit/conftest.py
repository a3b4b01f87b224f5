import pytest
from channels.layers import channel_layers

from accounts import names
from chat import held_names, limits


@pytest.fixture(autouse=True)
def fresh_process_state():
    """A new in-memory layer (each async test has an event loop of its own), no limits spent, no names held.

    The accounts' names are read afresh too: each test's database starts anew.
    """
    channel_layers.backends.clear()
    held_names.memory.entries.clear()
    names.account_names.forget()
    limits.connections.open.clear()
    limits.api_callers.buckets.clear()
    limits.signups.buckets.clear()
    limits.handshakes.buckets.clear()
    limits.new_rooms.counts.clear()
    limits.log_lines.buckets.clear()
    limits.notification_senders.buckets.clear()
    yield
    held_names.memory.entries.clear()
    names.account_names.forget()
    channel_layers.backends.clear()
    limits.connections.open.clear()
    limits.api_callers.buckets.clear()
    limits.handshakes.buckets.clear()
    limits.new_rooms.counts.clear()
    limits.log_lines.buckets.clear()
    limits.notification_senders.buckets.clear()
