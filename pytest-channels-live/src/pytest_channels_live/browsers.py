"""Headless Chromium through chromedriver, each with its own profile, wiped and reused between tests."""

import contextlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

DEFAULT_WINDOW_SIZE = (1024, 768)


class PooledBrowser(webdriver.Chrome):
    """A `webdriver.Chrome` that remembers what a test did to it, so that it can be handed to the next test clean."""

    def __init__(self, *args: object, window_size: tuple[int, int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.window_size = window_size
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
            for handle in self.window_handles:
                self.switch_to.window(handle)
                with contextlib.suppress(WebDriverException):
                    self.switch_to.alert.dismiss()
                self.remember_origin(self.current_url)
            for handle in self.window_handles[1:]:
                self.switch_to.window(handle)
                self.close()
            self.switch_to.window(self.window_handles[0])
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


def quit_browser(browser: PooledBrowser) -> None:
    """Close the browser and its chromedriver, even when it no longer answers."""
    try:
        browser.quit()
    except Exception:  # the driver's process is ended below, whatever the browser said
        with contextlib.suppress(Exception):
            browser.service.stop()


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
    return PooledBrowser(options=options, service=Service(executable_path=chromedriver), window_size=window_size)
