"""Headless Chromium browsers, each with its own chromedriver process and profile."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import DaphneCluster
from tests.functional.pages import ChatPage

CHROMIUM = os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHAT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def new_driver(profile_dir: Path) -> webdriver.Chrome:
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
        "--window-size=900,720",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(argument)
    # An explicit driver path keeps Selenium Manager from trying to download one.
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Callable[[], ChatPage]]:
    """A factory of independent browsers: `ann = browsers()`; all are closed after the test."""
    opened: list[webdriver.Chrome] = []

    def open_browser() -> ChatPage:
        driver = new_driver(tmp_path / f"profile-{len(opened)}")
        opened.append(driver)
        return ChatPage(driver)

    yield open_browser
    for driver in opened:
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


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where browser tests leave screenshots (the README's come from here)."""
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
