"""Browsers whose socket drops come back by themselves, with what they missed, exactly once."""

import re
import time
from collections.abc import Callable
from pathlib import Path

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.conftest import start_cluster
from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]


def test_a_browser_whose_server_dies_comes_back_with_what_it_missed_once(
    daphne_cluster: DaphneCluster, two_guests: tuple[ChatPage, ChatPage]
) -> None:
    ann, bob = two_guests
    ann.say("before")
    bob.wait_for_message("before")

    daphne_cluster[1].kill()
    bob.wait_for_state("closed")
    assert "Reconnecting in" in bob.status_text()
    ann.say("missed one")
    ann.say("missed two")
    ann.wait_for_message("missed two")
    bob.say("typed while offline")
    assert bob.pending_texts() == ["typed while offline"]

    daphne_cluster[1].start()
    restarted = time.monotonic()
    bob.wait_for_state("open", timeout=15)
    print(f"\nbrowser reconnected {time.monotonic() - restarted:.2f} s after its Daphne process listened again")
    bob.wait_for_message("typed while offline", timeout=5)
    bob.wait().until(lambda d: not bob.pending_texts(), "the offline message stayed pending")
    ann.wait_for_message("typed while offline")
    expected = ["before", "missed one", "missed two", "typed while offline"]
    bob.wait().until(lambda d: bob.texts() == expected, f"Bob's log is not {expected}")
    assert ann.texts() == expected
    ids = [message["id"] for message in bob.messages()]
    assert ids == sorted(set(ids))


def test_retry_now_reconnects_at_once(tmp_path: Path, server_database: str, browsers: Browsers) -> None:
    solo = start_cluster(tmp_path, 1, server_database, redis_url="")
    try:
        ann = browsers()
        ann.open_room(solo[0], "status")
        assert ann.status_text() == "Connected"
        retry = ann.driver.find_element(By.ID, "connection-retry")
        assert not retry.is_displayed()

        solo[0].stop()
        # Shown while it waits to reconnect; hidden again during each attempt, so waited for, not caught.
        ann.wait().until(lambda d: retry.is_displayed(), "no Retry button while disconnected")

        # Let the backoff grow until the next automatic attempt is at least 6 s away,
        # so that only the button can explain a prompt reconnect.
        def seconds_to_wait() -> int:
            found = re.search(r"Reconnecting in (\d+) s", ann.status_text())
            return int(found.group(1)) if found else 0

        ann.wait(30).until(lambda d: seconds_to_wait() >= 6, "the backoff never reached 6 s")
        solo[0].start()
        retry.click()
        ann.wait_for_state("open", timeout=4)
        assert not retry.is_displayed()
    finally:
        solo.stop()
