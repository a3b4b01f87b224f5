"""The tutorial's chat in real browsers, on two Daphne processes sharing a Redis channel layer.

The fixtures come from pytest-channels-live: `daphne_cluster` (two Daphne processes serving
mysite.asgi:application, for the whole session), `daphne_cluster_factory` (a cluster of a
test's own), `browsers` (headless Chromium) and `daphne_settings` (what the processes run with).
"""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 10  # seconds; the waits below end as soon as what they wait for is true

SEND_BUTTON = (By.ID, "chat-message-submit")


def enter_room(browser, server, room):
    """Join `room` from the index page of one Daphne process, as a person would."""
    browser.get(f"{server.http_url}/chat/")
    browser.find_element(By.ID, "room-name-input").send_keys(room)
    browser.find_element(By.ID, "room-name-submit").click()
    WebDriverWait(browser, TIMEOUT).until(EC.url_to_be(f"{server.http_url}/chat/{room}/"))
    wait_until_connected(browser)


def wait_until_connected(browser):
    """The room page enables its Send button once its WebSocket is open, that is, in the room."""
    WebDriverWait(browser, TIMEOUT).until(EC.element_to_be_clickable(SEND_BUTTON))


def say(browser, message):
    browser.find_element(By.ID, "chat-message-input").send_keys(message)
    browser.find_element(*SEND_BUTTON).click()


def chat_log(browser):
    return browser.find_element(By.ID, "chat-log").get_property("value").splitlines()


def wait_for_messages(browser, *messages):
    """Wait until the page's chat log shows all of `messages`."""
    WebDriverWait(browser, TIMEOUT).until(
        lambda browser: set(messages) <= set(chat_log(browser)), f"the chat log never showed {messages}"
    )


# --8<-- [start:three-browsers]
@pytest.mark.browsers(3)
def test_everyone_in_a_room_sees_every_message_whichever_process_they_are_on(browsers, daphne_cluster):
    first, second = daphne_cluster[0], daphne_cluster[1]
    for browser, server in zip(browsers, [first, second, first], strict=True):
        enter_room(browser, server, "lobby")

    messages = [f"hello from browser {number}" for number in range(len(browsers))]
    for browser, message in zip(browsers, messages, strict=True):
        say(browser, message)

    for browser in browsers:
        wait_for_messages(browser, *messages)
        assert sorted(chat_log(browser)) == sorted(messages)  # each one exactly once


# --8<-- [end:three-browsers]


def test_code_outside_daphne_reaches_a_room_on_both_processes_through_redis(
    browsers, daphne_cluster, daphne_settings, settings
):
    for browser, server in zip(browsers, daphne_cluster, strict=True):
        enter_room(browser, server, "news")

    # A view or a background task would do just this, with the project's own CHANNEL_LAYERS.
    # Here the test process uses the Redis server the Daphne processes were given.
    settings.CHANNEL_LAYERS = daphne_settings["CHANNEL_LAYERS"]
    async_to_sync(get_channel_layer().group_send)("chat_news", {"type": "chat.message", "message": "extra!"})

    for browser in browsers:
        wait_for_messages(browser, "extra!")


def test_a_room_carries_on_when_a_process_dies_and_comes_back(browsers, daphne_cluster_factory):
    cluster = daphne_cluster_factory(2)  # a cluster of this test's own: the shared one stays up
    alice, bob = browsers
    enter_room(alice, cluster[0], "kitchen")
    enter_room(bob, cluster[1], "kitchen")

    cluster[1].kill()
    # Bob's page sees its socket close and disables sending.
    WebDriverWait(bob, TIMEOUT).until_not(EC.element_to_be_clickable(SEND_BUTTON))
    # Alice is still in the room: her own message comes back to her through the group.
    say(alice, "is anyone there?")
    wait_for_messages(alice, "is anyone there?")

    cluster[1].start()  # on the same port
    bob.refresh()
    wait_until_connected(bob)
    say(bob, "back again")
    say(alice, "welcome back")
    for browser in browsers:
        wait_for_messages(browser, "back again", "welcome back")
