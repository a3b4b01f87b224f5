import pytest
from channels.layers import channel_layers

from chat import limits


@pytest.fixture(autouse=True)
def fresh_process_state():
    """A new in-memory layer (each async test has an event loop of its own), and no limits spent."""
    channel_layers.backends.clear()
    limits.connections.open.clear()
    limits.api_callers.buckets.clear()
    limits.handshakes.buckets.clear()
    limits.new_rooms.counts.clear()
    limits.log_lines.buckets.clear()
    yield
    channel_layers.backends.clear()
    limits.connections.open.clear()
    limits.api_callers.buckets.clear()
    limits.handshakes.buckets.clear()
    limits.new_rooms.counts.clear()
    limits.log_lines.buckets.clear()
