"""Notifications and mentions as people see them."""

from collections.abc import Callable
from contextlib import ExitStack

from pytest_channels_live import DaphneCluster, RedisServer
from selenium.webdriver.common.by import By

from tests.functional.pages import ChatPage
from tests.integration.test_notifications import announce
from tests.wsclient import ChatClient

Browsers = Callable[[], ChatPage]


def test_an_announcement_shows_as_a_system_message_on_both_processes(
    redis_server: RedisServer, server_database: str, room_name: str, two_guests: tuple[ChatPage, ChatPage]
) -> None:
    ann, bob = two_guests
    bob.say("a person's message")
    result = announce(room_name, "Homework is due Friday.", database_url=server_database, redis_url=redis_server.url)
    assert result.returncode == 0, result.stderr
    for page in (ann, bob):
        page.wait_for_message("Homework is due Friday.")
        classes = [item.get_attribute("class") for item in page.driver.find_elements(By.CSS_SELECTOR, "#chat-log li")]
        assert classes[-1] == "message system"
        assert "system" not in classes[0]


def test_a_mention_reaches_a_browser_in_another_room(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann, bob = browsers(), browsers()
    ann.enter(daphne_cluster[0], f"{room_name}-maths", "Ann")
    bob.enter(daphne_cluster[1], f"{room_name}-physics", "Bob")
    bob.say("@Ann do you have the notes?")
    toast = ann.wait().until(lambda d: d.find_elements(By.CSS_SELECTOR, "#toasts .toast"), "no mention toast appeared")[
        0
    ]
    assert toast.find_element(By.TAG_NAME, "p").text == (
        f"Bob mentioned you in {room_name}-physics: @Ann do you have the notes?"
    )
    toast.find_element(By.TAG_NAME, "a").click()
    ann.wait().until(lambda d: d.current_url.endswith(f"/chat/{room_name}-physics/"))
    ann.wait_until_connected()
    ann.wait_for_message("@Ann do you have the notes?")


# What the page may show of a flood of mentions (static/js/toasts.js): this many toasts, each
# at most this tall in CSS pixels (a preview of a few lines; a whole 2,000-character message
# makes a toast over 1,000 pixels tall).
MAX_TOASTS = 3
TOAST_HEIGHT_BOUND = 160
MENTION_ROOMS = 10
MENTIONS_PER_ROOM = 3
DESKTOP, PHONE = (1280, 800), (390, 844)


def toast_layout(page: ChatPage) -> dict:
    """The toasts (room, text, box) and the boxes of the message input and the Send button, read at once.

    As someone about to type sees them: with the message box scrolled into view (on a phone
    the room's list of people comes first, and the page is taller than the window).
    """
    return page.driver.execute_script(
        """document.getElementById('chat-form').scrollIntoView({block: 'nearest'});
        const box = (element) => {
            const r = element.getBoundingClientRect();
            return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height};
        };
        return {
            toasts: [...document.querySelectorAll('#toasts .toast')].map((toast) => ({
                room: toast.dataset.room ?? null, text: toast.querySelector('p').textContent, ...box(toast),
            })),
            form: ['chat-message-input', 'chat-message-submit'].map((id) => box(document.getElementById(id))),
            viewport: {width: window.innerWidth, height: window.innerHeight},
        };"""
    )


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def mention_flood(senders: list[ChatClient], first: int) -> str:
    """Long mentions of Ann, a few from each sender's room in turn; returns the last one's words."""
    number = first
    for sender in senders:
        for _ in range(MENTIONS_PER_ROOM):
            sender.post((f"@Ann note {number}: " + "and so on " * 200)[:2000], client_id=f"note-{number}")
            number += 1
    return f"@Ann note {number - 1}:"


def test_a_flood_of_mentions_shows_a_few_short_toasts_clear_of_the_message_box(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    ann = browsers()
    ann.enter(daphne_cluster[0], f"{room_name}-home", "Ann")
    rooms = [f"{room_name}-{number}" for number in range(MENTION_ROOMS)]
    with ExitStack() as stack:
        senders = [stack.enter_context(ChatClient(daphne_cluster[1], room)) for room in rooms]
        for flood, size in enumerate((DESKTOP, PHONE)):
            ann.set_viewport(*size)
            last = mention_flood(senders, first=flood * MENTION_ROOMS * MENTIONS_PER_ROOM)
            ann.wait().until(
                lambda d, last=last: any(last in toast["text"] for toast in toast_layout(ann)["toasts"]),
                f"the mention {last!r} made no toast",
            )
            layout = toast_layout(ann)
            toasts = layout["toasts"]
            # The rooms heard from last, one toast each, their mentions counted.
            assert [toast["room"] for toast in toasts] == rooms[-MAX_TOASTS:], f"at {size}: {len(toasts)} toasts"
            for toast in toasts:
                assert toast["text"].startswith(f"{MENTIONS_PER_ROOM} mentions in {toast['room']}, the latest from ")
                assert toast["text"].endswith("…"), "a preview, not the whole message"
                assert toast["height"] <= TOAST_HEIGHT_BOUND, f"at {size}: a toast {toast['height']} px tall"
                assert toast["top"] >= 0, "in the window"
                assert toast["bottom"] <= layout["viewport"]["height"], "in the window"
                for control in layout["form"]:
                    assert not overlap(toast, control), f"at {size}: a toast covers {control}"

    # A click puts one away; the others go by themselves.
    ann.driver.find_elements(By.CSS_SELECTOR, "#toasts .toast p")[-1].click()
    assert [toast["room"] for toast in toast_layout(ann)["toasts"]] == rooms[-MAX_TOASTS:-1]
    ann.wait(15).until(lambda d: toast_layout(ann)["toasts"] == [], "the toasts did not go by themselves")
