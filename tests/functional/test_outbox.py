"""Messages typed faster than the rate limit allows all get through, once each, in order, even across a reload."""

import json
from collections.abc import Callable

from pytest_channels_live import DaphneCluster, DaphneServer
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.functional.pages import ChatPage
from tests.wsclient import ChatClient

Browsers = Callable[[], ChatPage]

TYPED = [f"quick {number}" for number in range(1, 15)]  # 14: more than the burst of 10 the limit allows


def type_fast(page: ChatPage, texts: list[str]) -> None:
    """Every message and its Enter in one WebDriver command: as fast as Selenium can type."""
    page.driver.find_element(By.ID, "chat-message-input").send_keys(*(part for t in texts for part in (t, Keys.ENTER)))


def stored(server: DaphneServer, room: str) -> list[str]:
    """The room's stored messages, oldest first, as a new socket's history shows them."""
    with ChatClient(server, room) as reader:
        # The history goes out before the socket's first frame is read: the pong marks its end.
        reader.send_frame({"type": "ping"})
        reader.receive_until(lambda f: f["type"] == "pong")
        return [frame["message"] for frame in reader.messages]


def wait_until_all_shown(page: ChatPage, texts: list[str], timeout: float = 20) -> None:
    page.wait(timeout).until(
        lambda d: page.texts() == texts and not page.pending_texts(),
        f"the page did not end with {texts} and nothing pending",
    )
    ids = [message["id"] for message in page.messages()]
    assert ids == list(range(1, len(texts) + 1))


def test_fourteen_messages_typed_fast_are_all_stored_once_in_order(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann = browsers()
    ann.open_room(daphne_cluster[0], room_name)
    type_fast(ann, TYPED)
    wait_until_all_shown(ann, TYPED)
    assert stored(daphne_cluster[1], room_name) == TYPED
    assert not ann.driver.find_element(By.ID, "chat-error").is_displayed()


def test_a_reload_with_messages_still_waiting_sends_them_once_in_order(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann = browsers()
    ann.open_room(daphne_cluster[0], room_name)
    type_fast(ann, TYPED)
    waiting = ann.pending_texts()
    ann.driver.refresh()
    assert waiting, "every message was stored before the reload: nothing was left to test"
    ann.wait_until_connected()
    wait_until_all_shown(ann, TYPED)
    assert stored(daphne_cluster[1], room_name) == TYPED
    print(f"\n{len(waiting)} of {len(TYPED)} messages were waiting when the page reloaded")


# Keeps every socket the page opens, and every frame it receives, where the test can reach them.
SPY = """
window.spiedSockets = [];
window.received = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    window.spiedSockets.push(this);
    this.addEventListener("message", (event) => window.received.push(JSON.parse(event.data)));
  }
};
"""


def test_a_message_refused_for_the_rate_goes_again_after_the_wait_in_order(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann = browsers()
    ann.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY})
    ann.open_room(daphne_cluster[0], room_name)
    # Spend the socket's whole burst behind the page's back, so that its own pacing can't know.
    typing = json.dumps({"type": "typing"})
    ann.driver.execute_script(
        "const socket = window.spiedSockets.at(-1); for (let i = 0; i < 10; i++) socket.send(arguments[0]);", typing
    )
    texts = ["one", "two", "three"]
    type_fast(ann, texts)
    wait_until_all_shown(ann, texts)
    received = ann.driver.execute_script("return window.received;")
    # Refusals of messages name them (the page's own "typing" frames may have been refused too).
    refusals = [f for f in received if f.get("code") == "rate_limited" and "client_id" in f]
    assert refusals, "the server never refused a message: the test proved nothing"
    assert all(f["retry_after"] > 0 for f in refusals)
    assert stored(daphne_cluster[1], room_name) == texts
    assert not ann.driver.find_element(By.ID, "chat-error").is_displayed()


def test_a_message_the_server_will_never_store_goes_back_into_the_box(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann = browsers()
    ann.open_room(daphne_cluster[0], room_name)
    bad = "bell \x07 ringing"  # a control character: refused as invalid_characters, whatever the wait
    ann.driver.execute_script(
        "const input = document.getElementById('chat-message-input');"
        "input.value = arguments[0];"
        "input.form.requestSubmit();",
        bad,
    )
    error = ann.wait().until(lambda d: d.find_element(By.ID, "chat-error").text, "no error was shown")
    assert error.startswith("Not sent:")
    assert ann.driver.find_element(By.ID, "chat-message-input").get_attribute("value") == bad
    assert ann.pending_texts() == []  # gone from the log, not left "sending…" below later messages
    ann.driver.find_element(By.ID, "chat-message-input").clear()
    ann.say("bell ringing")
    # Shown at once as "sending…", then stored: wait for its ack rather than race it.
    ann.wait(10).until(
        lambda d: ann.texts() == ["bell ringing"] and ann.pending_texts() == [],
        "the mended message was never stored and acknowledged",
    )
