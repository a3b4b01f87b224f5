"""Who's here, who's typing, the live lobby, and an accessibility check, in several browsers."""

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_channels_live import DaphneCluster

from tests.conftest import server_environment
from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def test_people_see_each_other_and_who_leaves(
    daphne_cluster: DaphneCluster, ann_and_bob: tuple[ChatPage, ChatPage], room_name: str
) -> None:
    ann, bob = ann_and_bob
    ann.wait().until(lambda d: ann.presence() == ["Ann (you)", "Bob"], "Ann does not see Bob")
    bob.wait().until(lambda d: bob.presence() == ["Ann", "Bob (you)"], "Bob does not see Ann")
    assert ann.driver.find_element("id", "presence-count").text == "2"

    bob.open_lobby(daphne_cluster[1])  # Bob leaves the room
    ann.wait(5).until(lambda d: ann.presence() == ["Ann (you)"], "Bob stayed in Ann's list")


def test_two_tabs_of_one_person_count_once(daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str) -> None:
    ann = browsers()
    ann.enter(daphne_cluster[0], room_name, "Ann")
    ann.driver.switch_to.new_window("tab")
    ann.open_room(daphne_cluster[1], room_name)  # same browser, same session: same person
    ann.wait().until(lambda d: ann.presence() == ["Ann (you)"], "two tabs counted twice")


def test_people_on_a_killed_process_vanish_within_the_expiry(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann, cid = browsers(), browsers()
    ann.enter(daphne_cluster[0], room_name, "Ann")
    cid.enter(daphne_cluster[1], room_name, "Cid")
    ann.wait().until(lambda d: "Cid" in ann.presence(), "Ann does not see Cid")
    environment = server_environment("")
    ttl, heartbeat = float(environment["CHAT_PRESENCE_TTL"]), float(environment["CHAT_PRESENCE_HEARTBEAT"])
    daphne_cluster[1].kill()
    try:
        # Cid's entry was last refreshed no earlier than a heartbeat before the kill: Ann's process
        # drops it at its first heartbeat past the expiry, and her page hears of it. 2 s of slack.
        ann.wait(ttl + heartbeat + 2).until(
            lambda d: ann.presence() == ["Ann (you)"], "Cid stayed past the expiry after his process died"
        )
    finally:
        daphne_cluster[1].start()


def test_typing_shows_on_the_other_browser_and_clears(
    daphne_cluster: DaphneCluster, ann_and_bob: tuple[ChatPage, ChatPage], room_name: str
) -> None:
    ann, bob = ann_and_bob
    bob.driver.find_element("id", "chat-message-input").send_keys("I think")
    ann.wait().until(lambda d: ann.typing_text() == "Bob is typing…", "Ann did not see Bob typing")
    assert bob.typing_text() == "", "one's own typing is not shown"
    ann.wait(6).until(lambda d: ann.typing_text() == "", "the indicator stayed after Bob stopped")

    bob.driver.find_element("id", "chat-message-input").send_keys(" so")
    ann.wait().until(lambda d: ann.typing_text() == "Bob is typing…")
    bob.say("")  # Enter sends what was typed: the message clears the indicator at once
    ann.wait_for_message("I think so")
    assert ann.typing_text() == ""


def test_the_lobby_shows_rooms_and_counts_live(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    lobby, ann, bob = browsers(), browsers(), browsers()
    lobby.open_lobby(daphne_cluster[0])
    lobby.wait().until(lambda d: lobby.connection_state() == "open")
    ann.enter(daphne_cluster[0], room_name, "Ann")
    lobby.wait().until(lambda d: lobby.directory().get(room_name) == "1 online", "the lobby missed Ann")
    bob.enter(daphne_cluster[1], room_name, "Bob")
    lobby.wait().until(lambda d: lobby.directory().get(room_name) == "2 online", "the lobby missed Bob")
    bob.open_lobby(daphne_cluster[1])
    lobby.wait(5).until(lambda d: lobby.directory().get(room_name) == "1 online", "the lobby missed Bob leaving")
    ann.say("anyone?")
    lobby.wait().until(lambda d: "last message" in lobby.directory_text(room_name), "no last activity shown")


@pytest.mark.parametrize("page", ["lobby", "room"])
def test_no_serious_accessibility_violations(
    daphne_cluster: DaphneCluster, ann_and_bob: tuple[ChatPage, ChatPage], room_name: str, page: str
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make test` (it runs `npm ci`)", pytrace=False)
    ann, bob = ann_and_bob
    bob.say("Hello Ann")
    ann.say("@Bob hello")  # some messages, own and others', in the log
    ann.wait_for_message("@Bob hello")
    if page == "lobby":
        ann.open_lobby(daphne_cluster[0])
        ann.wait().until(lambda d: room_name in ann.directory())
    assert ann.accessibility_violations(AXE.read_text()) == []
