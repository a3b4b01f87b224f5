"""Several real browsers chatting through two Daphne processes and Redis."""

from collections.abc import Callable
from pathlib import Path

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]


# --8<-- [start:two-browsers]
def test_two_browsers_in_a_room_see_each_other_and_another_room_does_not(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str, screenshot_dir: Path
) -> None:
    ann, bob, eve = browsers(), browsers(), browsers()
    room = "homework"  # the one test that uses this room; it reads well in the README's screenshots
    ann.enter(daphne_cluster[0], room, "Ann")
    bob.enter(daphne_cluster[1], room, "Bob")  # another process: only Redis joins them
    eve.open_room(daphne_cluster[0], room_name)

    ann.say("Hi Bob, can you see this?")
    assert ann.wait_for_message("Hi Bob, can you see this?", timeout=2)
    assert bob.wait_for_message("Hi Bob, can you see this?", timeout=2)
    bob.say("Yes, loud and clear.")
    assert ann.wait_for_message("Yes, loud and clear.", timeout=2)
    assert bob.wait_for_message("Yes, loud and clear.", timeout=2)

    eve.say("Anyone here?")
    # Her own message shows at once, pending, and once more from the room if that copy overtakes
    # the ack: her log is settled once the ack has come.
    eve.wait().until(lambda d: not eve.pending_texts() and eve.texts() == ["Anyone here?"], "Eve's log never settled")
    assert eve.texts() == ["Anyone here?"]

    ann.driver.save_screenshot(str(screenshot_dir / "browser-ann.png"))
    bob.driver.save_screenshot(str(screenshot_dir / "browser-bob.png"))


# --8<-- [end:two-browsers]


def test_a_late_joiner_sees_the_conversation(daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str) -> None:
    ann = browsers()
    ann.open_room(daphne_cluster[0], room_name)
    for text in ("first", "second", "third"):
        ann.say(text)
        ann.wait_for_message(text)

    late = browsers()
    late.open_room(daphne_cluster[1], room_name)
    late.wait_for_message("third")
    assert late.texts() == ["first", "second", "third"]


def test_html_in_a_message_is_shown_as_text_and_never_runs(two_guests: tuple[ChatPage, ChatPage]) -> None:
    ann, bob = two_guests
    attack = '<img src=x onerror="window.pwned=1"><b>bold</b><script>window.pwned=2</script>'
    ann.say(attack)
    for page in (ann, bob):
        assert page.wait_for_message(attack)["text"] == attack
        log = page.driver.find_element(By.ID, "chat-log")
        assert log.find_elements(By.CSS_SELECTOR, "img, b, script") == []
        assert page.driver.execute_script("return window.pwned === undefined")


def test_the_lobby_takes_a_name_and_a_room(daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str) -> None:
    ann = browsers()
    ann.open_lobby(daphne_cluster[0])
    assert ann.driver.switch_to.active_element.get_attribute("id") == "room-name-input"
    ann.enter(daphne_cluster[0], room_name, "Ann")
    assert ann.driver.switch_to.active_element.get_attribute("id") == "chat-message-input"
    ann.say("hello")
    assert ann.wait_for_message("hello")["author"] == "Ann"
