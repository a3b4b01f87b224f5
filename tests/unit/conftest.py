import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new in-memory layer per test: each async test runs in an event loop of its own."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
