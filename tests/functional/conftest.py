"""Headless Chromium browsers, each with its own chromedriver process and profile."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from tests.conftest import DaphneCluster
from tests.functional.pages import ChatPage
from tests.servers import RedisServer

CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHAT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
# Browsers kept between tests; the busiest test opens this many at once.
MAX_IDLE_BROWSERS = 4


WINDOW_SIZE = (900, 720)


class PooledBrowser(webdriver.Chrome):
    """Chromium through chromedriver, remembering what a test did to it, so it can be handed to the next test clean."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.origins: set[str] = set()
        self.reusable = True

    def get(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            self.origins.add(f"{parts.scheme}://{parts.netloc}")
        super().get(url)

    def execute_cdp_cmd(self, cmd: str, cmd_args: dict) -> dict:
        self.reusable = False  # a script or emulation of the test's own would outlive a reset
        return super().execute_cdp_cmd(cmd, cmd_args)

    def reset(self) -> bool:
        """Forget the test: its pages, cookies and stored data. False if this browser can't be reused."""
        if not self.reusable:
            return False
        try:
            # Every window but the first closed, and the first one blank: a page left open in any of
            # them would keep its sockets (and a guest's name) until the next test's first page.
            for handle in self.window_handles[1:]:
                self.switch_to.window(handle)
                self.close()
            self.switch_to.window(self.window_handles[0])
            super().get("about:blank")
            self.set_window_size(*WINDOW_SIZE)
            super().execute_cdp_cmd("Network.clearBrowserCookies", {})
            for origin in self.origins:
                super().execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        except WebDriverException:
            return False
        self.origins.clear()
        return True


def new_driver(profile_dir: Path) -> PooledBrowser:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(
                f"{path} not found. Install it with: sudo apt-get install -y {package} "
                "(or run `make test`, which does it for you)",
                pytrace=False,
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # needed when the tests run as root, as in containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        # No calls home: this machine may have no network beyond loopback.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size={},{}".format(*WINDOW_SIZE),
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(argument)
    # An explicit driver path keeps Selenium Manager from trying to download one.
    return PooledBrowser(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture(scope="session")
def idle_browsers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[PooledBrowser]]:
    """Browsers a test has finished with, wiped, for the next test: starting Chromium takes seconds."""
    idle: list[PooledBrowser] = []
    yield idle
    for driver in idle:
        driver.quit()


@pytest.fixture
def browsers(
    tmp_path_factory: pytest.TempPathFactory, idle_browsers: list[PooledBrowser]
) -> Iterator[Callable[[], ChatPage]]:
    """A factory of independent browsers: `ann = browsers()`; each is wiped or closed after the test.

    Independent: each has a profile of its own, so two of them are two people.
    """
    opened: list[PooledBrowser] = []

    def open_browser() -> ChatPage:
        driver = idle_browsers.pop() if idle_browsers else new_driver(tmp_path_factory.mktemp("profile"))
        opened.append(driver)
        return ChatPage(driver)

    yield open_browser
    for driver in opened:
        if len(idle_browsers) < MAX_IDLE_BROWSERS and driver.reset():
            idle_browsers.append(driver)
        else:
            driver.quit()


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
