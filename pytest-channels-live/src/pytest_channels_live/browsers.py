"""Headless Chromium through chromedriver, each with its own profile, wiped and reused between tests."""

import contextlib
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

DEFAULT_WINDOW_SIZE = (1024, 768)
# Wiping or closing a browser takes well under a second; one that takes longer is stuck, and killed.
RESET_TIMEOUT = 5


class PooledBrowser(webdriver.Chrome):
    """A `webdriver.Chrome` that remembers what a test did to it, so that it can be handed to the next test clean."""

    def __init__(self, *args: object, window_size: tuple[int, int], profile_dir: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.window_size = window_size
        self.profile_dir = profile_dir
        self.origins: set[str] = set()
        self.reusable = True

    def get(self, url: str) -> None:
        self.remember_origin(url)
        super().get(url)

    def execute_cdp_cmd(self, cmd: str, cmd_args: dict) -> dict:
        self.reusable = False  # a script or emulation of the test's own would outlive a reset
        return super().execute_cdp_cmd(cmd, cmd_args)

    def reset(self) -> bool:
        """Forget the test: its windows, pages, history, cookies, stored data and settings.

        False if this browser can't be reused (a CDP command of the test's own, or a
        browser that doesn't answer): it is closed instead.
        """
        if not self.reusable:
            return False
        try:
            # Every window but the first closed, and the first one blank: a page left open would keep
            # its sockets open into the next test. Each window's origin is wiped too, however it got there.
            first, *others = self.window_handles
            for handle in [*others, first]:
                self.switch_to.window(handle)
                with contextlib.suppress(WebDriverException):
                    self.switch_to.alert.dismiss()
                self.remember_origin(self.current_url)
                if handle != first:
                    self.close()
            super().get("about:blank")
            self.set_window_size(*self.window_size)
            self.implicitly_wait(0)
            with contextlib.suppress(WebDriverException):
                self.delete_network_conditions()
            super().execute_cdp_cmd("Page.resetNavigationHistory", {})
            super().execute_cdp_cmd("Network.clearBrowserCookies", {})
            for origin in self.origins:
                super().execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        except Exception:  # whatever went wrong, the browser is closed rather than reused
            return False
        self.origins.clear()
        return True

    def remember_origin(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            self.origins.add(f"{parts.scheme}://{parts.netloc}")


def within(seconds: float, action: Callable[[], object]) -> bool:
    """Whether `action` returned something truthy within `seconds` (it runs in a thread of its own).

    A browser can stop answering a command for good (an alert in another window
    blocks switching to it), and Selenium's commands wait without limit.
    """
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(action()), daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(outcome and outcome[0])


def quit_browser(browser: PooledBrowser) -> None:
    """Close the browser and its chromedriver, and kill what of them is left."""

    def quit_politely() -> bool:
        with contextlib.suppress(Exception):  # the processes are ended below, whatever the browser said
            browser.quit()
            return True
        return False

    # A Chromium that was showing an alert can outlive a quit that chromedriver reported done: whatever
    # the quit said, what is left of the browser is killed.
    if not within(RESET_TIMEOUT, quit_politely):
        with contextlib.suppress(Exception):
            browser.service.process.kill()
    # Its Chromium, found by its profile (ended with the argument, so profile1 doesn't match profile10).
    profile = str(browser.profile_dir).replace(".", "[.]")
    subprocess.run(["pkill", "-KILL", "-f", f"user-data-dir={profile}( |$)"], check=False)


def require_file(path: str, package: str) -> None:
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found. Install it with: sudo apt-get install -y {package}", pytrace=False)


def new_browser(
    chromium: str,
    chromedriver: str,
    profile_dir: Path,
    window_size: tuple[int, int] = DEFAULT_WINDOW_SIZE,
    arguments: tuple[str, ...] = (),
) -> PooledBrowser:
    """A headless Chromium with a profile of its own in `profile_dir`, driven through its own chromedriver."""
    require_file(chromium, "chromium")
    require_file(chromedriver, "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # needed when the tests run as root, as in containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        # No calls home: the machine may have no network beyond loopback.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size={},{}".format(*window_size),
        f"--user-data-dir={profile_dir}",
        *arguments,
    ):
        options.add_argument(argument)
    # An explicit driver path keeps Selenium Manager from trying to download one.
    return PooledBrowser(
        options=options,
        service=Service(executable_path=chromedriver),
        window_size=window_size,
        profile_dir=profile_dir,
    )
