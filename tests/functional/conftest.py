"""Browsers as this project's tests use them: pytest-channels-live's headless Chromium, as a `ChatPage`."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from pytest_channels_live import DaphneCluster, RedisServer

from tests.functional.pages import ChatPage

WINDOW_SIZE = (900, 720)


@pytest.fixture(scope="session")
def chromium_binaries(pytestconfig: pytest.Config) -> tuple[str, str]:
    """The plugin's Chromium and chromedriver, or those CHAT_TEST_CHROMIUM and CHAT_TEST_CHROMEDRIVER name."""
    return (
        os.environ.get("CHAT_TEST_CHROMIUM", pytestconfig.getini("chromium_binary")),
        os.environ.get("CHAT_TEST_CHROMEDRIVER", pytestconfig.getini("chromedriver_binary")),
    )


@pytest.fixture
def browsers(browser_factory: Callable[..., object]) -> Callable[[], ChatPage]:
    """A factory of independent browsers: `ann = browsers()`; each is wiped or closed after the test.

    Independent: each has a profile of its own, so two of them are two people.
    """
    return lambda: ChatPage(browser_factory(window_size=WINDOW_SIZE))


@pytest.fixture
def ann_and_bob(
    browsers: Callable[[], ChatPage], daphne_cluster: DaphneCluster, room_name: str
) -> tuple[ChatPage, ChatPage]:
    """Two people in one room, Ann on the first Daphne process and Bob on the second."""
    ann, bob = browsers(), browsers()
    ann.enter(daphne_cluster[0], room_name, "Ann")
    bob.enter(daphne_cluster[1], room_name, "Bob")
    return ann, bob


@pytest.fixture
def two_guests(
    browsers: Callable[[], ChatPage], daphne_cluster: DaphneCluster, room_name: str
) -> tuple[ChatPage, ChatPage]:
    """Two guests who opened the room's URL directly, one on each Daphne process."""
    ann, bob = browsers(), browsers()
    ann.open_room(daphne_cluster[0], room_name)
    bob.open_room(daphne_cluster[1], room_name)
    return ann, bob


@pytest.fixture(autouse=True)
def guest_names_let_go(redis_server: RedisServer) -> Iterator[None]:
    """After each test, wait until the guests' names its browsers held are free again (at most 10 s).

    Every test's guests hold their names in the one Redis while their pages are open
    (`chat.held_names`); a page closes its sockets when its browser is reset, and the
    servers let go of the names a moment later. Without this wait, the next test's
    "Ann" in a new browser (another guest) could be refused the name. A name still held
    after 10 s belonged to a process the test killed: it is let go here, as its
    expiry would after ``CHAT_PRESENCE_TTL``.
    """
    yield
    client = redis.Redis.from_url(redis_server.url)
    try:
        deadline = time.monotonic() + 10
        while (held := list(client.scan_iter("chat:name:*"))) and time.monotonic() < deadline:
            time.sleep(0.05)
        if held:
            client.delete(*held)
    finally:
        client.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where browser tests leave screenshots (the README's come from here)."""
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
