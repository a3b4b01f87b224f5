"""Two signed-in people message each other: from a room's presence list, and from the lobby, across two processes."""

import re
import uuid
from collections.abc import Callable

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.conftest import create_user
from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]
PASSWORD = "a-long-password-for-tests"
DIRECT_ROOM_URL = re.compile(r"/chat/dm-[0-9a-f]{16}/$")


def message_buttons(page: ChatPage) -> list[tuple[str, str]]:
    """The presence list's "Message <name>" buttons, as (data-username, text); read in one script (it is redrawn)."""
    return [
        tuple(pair)
        for pair in page.driver.execute_script(
            "return [...document.querySelectorAll('#presence-list button.dm-button')]"
            ".map((b) => [b.dataset.username, b.textContent]);"
        )
    ]


def heading(page: ChatPage) -> str:
    return page.driver.find_element(By.CSS_SELECTOR, "h1 .room-title").text


def test_two_accounts_open_their_conversation_and_talk_both_ways(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    suffix = uuid.uuid4().hex[:6]  # the servers' database outlives this test: names of its own
    ann_name, bob_name = f"ann-{suffix}", f"bob-{suffix}"
    for name in (ann_name, bob_name):
        create_user(server_database, name, PASSWORD)
    ann, bob, cid = browsers(), browsers(), browsers()
    ann.log_in(daphne_cluster[0], ann_name, PASSWORD)
    ann.open_room(daphne_cluster[0], room_name)
    bob.log_in(daphne_cluster[1], bob_name, PASSWORD)
    bob.open_room(daphne_cluster[1], room_name)
    cid.enter(daphne_cluster[1], room_name, "cid")  # a guest: nobody can message him

    everyone = [f"{ann_name} (you)", bob_name, "cid"]
    ann.wait().until(lambda d: ann.presence() == everyone, "Ann does not see the others")
    assert message_buttons(ann) == [(bob_name, f"Message {bob_name}")], "a button for each account but her own"
    for page, buttons in ((bob, [ann_name]), (cid, [ann_name, bob_name])):
        expected = [(name, f"Message {name}") for name in buttons]
        page.wait().until(lambda d, p=page, e=expected: message_buttons(p) == e, "not a button for each other account")

    ann.driver.find_element(By.CSS_SELECTOR, "#presence-list button.dm-button").click()
    ann.wait().until(lambda d: DIRECT_ROOM_URL.search(d.current_url), "the button did not lead to a conversation")
    ann.wait_until_connected()
    assert heading(ann) == bob_name

    bob.open_lobby(daphne_cluster[1])
    bob.driver.find_element(By.ID, "dm-username-input").send_keys(ann_name)
    bob.driver.find_element(By.ID, "dm-submit").click()
    bob.wait().until(
        lambda d: (
            d.current_url == ann.driver.current_url.replace(daphne_cluster[0].http_url, daphne_cluster[1].http_url)
        ),
        "the lobby's form led Bob elsewhere than Ann's button led her",
    )
    bob.wait_until_connected()
    assert heading(bob) == ann_name

    ann.say("just between us")
    bob.wait_for_message("just between us", timeout=5)
    bob.say("agreed")
    ann.wait_for_message("agreed", timeout=5)
    assert [m["author"] for m in ann.messages()] == [ann_name, bob_name]
