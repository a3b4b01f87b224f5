"""The room page as people use it: the message box, how the log shows messages, older history,
what is new while away, who is here while disconnected, and the page on a phone."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import create_user, server_environment
from tests.functional.pages import ChatPage
from tests.functional.test_inbox import SET_HIDDEN
from tests.functional.test_presence import AXE
from tests.servers import PROJECT_ROOT

Browsers = Callable[[], ChatPage]
PASSWORD = "a-long-password-for-tests"
PHONE, DESKTOP = (390, 844), (1280, 800)
MAX_LENGTH = 2000  # CHAT_MAX_MESSAGE_LENGTH, as the test servers run

# Messages stored as the servers would store them, with the times given (the page groups by time
# and day), before any page opens the room. From outside the servers, like a management command.
SEED = """
import json, os
from datetime import datetime
from accounts.identity import Person
from chat import services
from chat.models import Message, Room

room = Room(name=os.environ["SEED_ROOM"])
for said in json.loads(os.environ["SEED_MESSAGES"]):
    author = Person(said["author"], "guest", said["sender"]) if said.get("sender") else said["author"]
    message = services.save_message(room, author, said["text"], kind=said.get("kind", "user"))
    room = message.room
    if said.get("created"):
        Message.objects.filter(pk=message.pk).update(created=datetime.fromisoformat(said["created"]))
"""


def seed(database_url: str, room: str, messages: list[dict]) -> None:
    """Store `messages` ({author, text, and optionally sender, kind, created}) in `room`, oldest first."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEED],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url) | {"SEED_ROOM": room, "SEED_MESSAGES": json.dumps(messages)},
        check=True,
        capture_output=True,
        timeout=60,
    )


def box(page: ChatPage, element_id: str) -> dict:
    return page.driver.execute_script(
        "return document.getElementById(arguments[0]).getBoundingClientRect().toJSON();", element_id
    )


def log_items(page: ChatPage) -> list[dict]:
    """Each item of the log as the page marks it, read at once."""
    return page.driver.execute_script(
        """return [...document.querySelectorAll('#chat-log li')].map((li) => ({
            id: Number(li.dataset.id),
            text: li.querySelector('.text').textContent,
            author: li.querySelector('.author').textContent,
            classes: [...li.classList].filter((name) => name !== 'message').sort(),
            day: li.dataset.day ?? null,
            colour: li.querySelector('.author').dataset.colour ?? null,
            author_shown: li.querySelector('.author').getBoundingClientRect().width > 1,
            links: [...li.querySelectorAll('.text a')].map((a) => ({
                text: a.textContent, href: a.href, target: a.target, rel: a.rel, class: a.className,
            })),
        }));"""
    )


def test_the_message_box_takes_lines_counts_near_the_limit_and_refuses_rather_than_cuts(
    two_guests: tuple[ChatPage, ChatPage],
) -> None:
    ann, bob = two_guests
    box_input = ann.driver.find_element(By.ID, "chat-message-input")
    one_line = box(ann, "chat-message-input")["height"]

    # Shift+Enter starts a new line; Enter sends the whole as one message.
    # (Keys.SHIFT holds Shift down until it is sent again.)
    box_input.send_keys("first line", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "second line")
    box_input.send_keys(Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "third line")
    assert box(ann, "chat-message-input")["height"] > 2 * one_line, "the box did not grow with its lines"
    box_input.send_keys(Keys.ENTER)
    said = "first line\nsecond line\nthird line"
    bob.wait_for_message(said)
    ann.wait().until(lambda d: ann.texts() == [said] and not ann.pending_texts(), "Ann's log never settled")
    assert box_input.get_attribute("value") == ""
    assert box(ann, "chat-message-input")["height"] == one_line, "the emptied box stayed tall"

    # Up to about six lines, then it scrolls inside rather than push the log away.
    box_input.send_keys(*[part for n in range(12) for part in (f"line {n}", Keys.SHIFT, Keys.ENTER, Keys.SHIFT)])
    tall = ann.driver.execute_script(
        "const input = document.getElementById('chat-message-input');"
        "const line = parseFloat(getComputedStyle(input).lineHeight);"
        "return {lines: (input.getBoundingClientRect().height - arguments[0]) / line + 1,"
        " scrolls: input.scrollHeight > input.clientHeight};",
        one_line,
    )
    assert 5 <= tall["lines"] <= 7, tall
    assert tall["scrolls"], tall
    box_input.clear()

    # Near the limit, the count of characters left; past it, too many, and Send refuses the whole
    # text (typed past the limit, not cut at it) with a word on why, and keeps it.
    counter = ann.driver.find_element(By.ID, "chat-message-counter")
    ann.driver.execute_script(
        "const input = document.getElementById('chat-message-input');"
        "input.value = arguments[0]; input.dispatchEvent(new Event('input'));",
        "x" * (MAX_LENGTH - 300),
    )
    assert not counter.is_displayed(), "a count far from the limit"
    box_input.send_keys("y" * 295)
    assert counter.text == "5 characters left"
    box_input.send_keys("y" * 10)
    assert counter.text == "5 characters too many"
    too_long = "x" * (MAX_LENGTH - 300) + "y" * 305
    box_input.send_keys(Keys.ENTER)
    error = ann.driver.find_element(By.ID, "chat-error")
    assert error.is_displayed()
    assert "5 over the limit of 2000" in error.text, error.text
    assert box_input.get_attribute("value") == too_long, "the text was cut, or sent"
    assert ann.pending_texts() == []
    assert ann.texts() == [said]
    # Mended to fit, the text is no longer refused: the word on why goes with it.
    box_input.send_keys(Keys.BACKSPACE * 5)
    assert counter.text == "0 characters left"
    assert not error.is_displayed(), "the refusal stayed once the text fitted"

    # Characters count as the server counts them: an emoji is one (two UTF-16 units in JavaScript).
    emoji = "\U0001f600" * MAX_LENGTH
    ann.driver.execute_script(
        "const input = document.getElementById('chat-message-input');"
        "input.value = arguments[0]; input.dispatchEvent(new Event('input'));",
        emoji,
    )
    assert counter.text == "0 characters left"
    box_input.send_keys(Keys.ENTER)
    assert len(bob.wait_for_message(emoji)["text"]) == MAX_LENGTH
    assert not error.is_displayed()


def test_the_log_links_groups_dates_colours_and_highlights_mentions(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    server = daphne_cluster[0]
    lobby = f"{server.http_url}/chat/"
    link_text = (
        f"notes at {lobby} and HTTPS://example.org/a_(b)?c=1. Not settings.py or example.com, "
        "nor javascript:alert(1) or <b>bold</b>; nor what reads as another site than it opens: "
        "https://\u0430pple.com/ (a Cyrillic a), https://good.com\u2044evil.com (no slash), "
        "https://google.com@evil.com/?//evil.com (someone's name before the host)"
    )
    bob = {"author": "Bob", "sender": "guest:" + "b" * 32}
    other_bob = {"author": "Bob", "sender": "guest:" + "d" * 32}  # another person of the same name
    cid = {"author": "Cid", "sender": "guest:" + "c" * 32}
    seed(
        server_database,
        room_name,
        [
            {**bob, "text": "morning", "created": "2025-03-03T12:00:00+00:00"},
            {**bob, "text": "still me", "created": "2025-03-03T12:04:00+00:00"},
            {**bob, "text": "later on", "created": "2025-03-03T12:10:00+00:00"},
            {**other_bob, "text": "another Bob", "created": "2025-03-03T12:11:00+00:00"},
            {**cid, "text": "@ann look", "created": "2025-03-03T12:11:30+00:00"},
            {"author": "System", "kind": "system", "text": "Homework is due.", "created": "2025-03-03T12:12:00+00:00"},
            {**cid, "text": "@annie and x@Ann are not you", "created": "2025-03-03T12:12:30+00:00"},
            {**cid, "text": "next day, @Ann.", "created": "2025-03-04T12:00:00+00:00"},
            {**cid, "text": link_text, "created": "2025-03-04T12:01:00+00:00"},
        ],
    )
    ann, dan = browsers(), browsers()
    ann.enter(server, room_name, "Ann")
    ann.wait().until(lambda d: len(ann.messages()) == 9, "the seeded history did not show")
    # A room with fewer messages than a page of history: the first request for more, as the log
    # is scrolled to its top, says it's all.
    ann.driver.execute_script("document.getElementById('chat-scroll').scrollTop = 0;")
    ann.wait().until(lambda d: d.find_element(By.ID, "chat-history-start").is_displayed(), "no beginning shown")
    assert not ann.driver.find_element(By.ID, "chat-history-more").is_displayed()

    items = log_items(ann)
    assert (
        [(item["text"][:12], item["classes"], item["author_shown"]) for item in items]
        == [
            ("morning", ["new-day"], True),
            ("still me", ["continued"], False),  # 4 minutes later: under the same name
            ("later on", [], True),  # 6 minutes after the one before
            ("another Bob", [], True),  # the same name, someone else
            ("@ann look", ["mentions-me"], True),
            ("Homework is ", ["system"], True),
            ("@annie and x", [], True),  # after the server's message, the name again
            ("next day, @A", ["mentions-me", "new-day"], True),  # a new day, whoever says it
            (link_text[:12], ["continued"], False),
        ]
    )
    assert "Monday" in items[0]["day"], items[0]["day"]
    assert "3" in items[0]["day"], items[0]["day"]
    assert "Tuesday" in items[7]["day"], items[7]["day"]
    assert "4" in items[7]["day"], items[7]["day"]
    colours = [item["colour"] for item in items]
    assert all(colour in [str(n) for n in range(8)] for colour in colours), colours
    assert colours[0] == colours[1] == colours[2], "one person, one colour"
    assert colours[4] == colours[6] == colours[7] == colours[8]
    assert len({colours[0], colours[3], colours[4]}) == 3, "these three people have colours of their own"

    # Links: only what was written as a web address, opening in a new tab that can't reach back.
    link_item = items[8]
    assert link_item["text"] == link_text, "the text is shown whole, as written"
    safe = {"target": "_blank", "rel": "noopener noreferrer nofollow", "class": "link"}
    assert link_item["links"] == [
        {"text": lobby, "href": lobby, **safe},
        {"text": "HTTPS://example.org/a_(b)?c=1", "href": "https://example.org/a_(b)?c=1", **safe},
    ]
    assert ann.driver.find_elements(By.CSS_SELECTOR, "#chat-log b, #chat-log a:not(.link)") == []
    ann.driver.find_element(By.CSS_SELECTOR, "#chat-log a.link").click()
    ann.wait().until(lambda d: len(d.window_handles) == 2, "the link opened no new tab")
    room_tab = ann.driver.current_window_handle
    ann.driver.switch_to.window(ann.driver.window_handles[1])
    ann.wait().until(lambda d: d.find_elements(By.ID, "room-name-input"), "the new tab is not the lobby")
    assert ann.driver.execute_script("return [window.opener, document.referrer];") == [None, ""]
    ann.driver.close()
    ann.driver.switch_to.window(room_tab)
    # Text that would read as another address than it opens links nothing: turned around by a
    # direction control (inside the address or before it), or naming its host only further on.
    fooling = [
        "https://evil.com/\u202egnp.doog//:sptth",
        "look \u202ehttps://evil.com/moc.elgoog//:sptth",
        "https://\u0430pple.com/login//xn--pple-43d.com",
        "https://paypal.com:443@evil.com/x//evil.com",
    ]
    hrefs = ann.driver.execute_async_script(
        "const [texts, done] = arguments;"
        "const page = document.querySelector('script[src*=\"chat\"]').src;"
        "import(new URL('messages.js', page)).then((messages) => done(texts.map((text) => {"
        "  const element = document.createElement('span'); messages.showText(element, text);"
        "  return [...element.querySelectorAll('a')].map((a) => a.href); })), (e) => done(String(e)));",
        fooling,
    )
    assert hrefs == [[], [], [], []], hrefs

    # Live, in another browser: the same colours; grouping kept as messages come and go.
    dan.open_room(daphne_cluster[1], room_name)
    dan.wait().until(lambda d: len(dan.messages()) == 9, "the seeded history did not show")
    assert [item["colour"] for item in log_items(dan)] == colours
    dan.say("@Ann first")
    dan.say("second")
    dan.say("third")
    ann.wait_for_message("third")
    live = log_items(ann)[9:]
    assert [(item["text"], item["classes"]) for item in live] == [
        ("@Ann first", ["mentions-me", "new-day"]),
        ("second", ["continued"]),
        ("third", ["continued"]),
    ]
    assert [item["classes"] for item in log_items(dan)[9:]] == [["new-day", "own"], ["continued", "own"]] + [
        ["continued", "own"]
    ], "one's own mention of a name is no mention of oneself"
    dan.delete_message("@Ann first")
    ann.wait().until(lambda d: "@Ann first" not in ann.texts(), "the deletion did not reach Ann")
    assert [(item["text"], item["classes"]) for item in log_items(ann)[9:]] == [
        ("second", ["new-day"]),
        ("third", ["continued"]),
    ], "the next message heads the group, and the day, in its place"
    dan.edit_message("second", "second, for @ann")
    ann.wait().until(
        lambda d: [item["classes"] for item in log_items(ann)[9:]] == [["mentions-me", "new-day"], ["continued"]],
        "an edit naming Ann did not mark it",
    )


def test_older_history_loads_to_the_beginning_without_a_jump_on_a_phone_the_log_alone_scrolls(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    count = 120
    seed(
        server_database,
        room_name,
        [
            {"author": f"Pupil {n % 3}", "sender": f"guest:{n % 3:032x}", "text": f"message {n}"}
            for n in range(1, count + 1)
        ],
    )
    ann, bob = browsers(), browsers()
    ann.set_viewport(*PHONE)
    ann.enter(daphne_cluster[0], room_name, "Ann")
    bob.enter(daphne_cluster[1], room_name, "Bob")
    ann.wait().until(lambda d: len(ann.messages()) >= 50, "the history did not show")
    ann.wait().until(lambda d: ann.presence() == ["Ann (you)", "Bob"], "no one is here")

    # The page is the window: header, room, log, and the message box in view without scrolling the
    # page; only the log scrolls. Who is here is folded to a line, the list still in the page.
    layout = ann.driver.execute_script(
        """const page = document.scrollingElement;
        const scroller = document.getElementById('chat-scroll');
        scrollTo(0, 500);
        return {
            page: [page.scrollHeight, page.clientHeight, window.scrollY],
            log: [scroller.scrollHeight, scroller.clientHeight],
            presence_open: document.getElementById('presence-details').open,
            height: window.innerHeight,
            width: document.documentElement.clientWidth,
            page_width: page.scrollWidth,
        };"""
    )
    assert layout["page"][0] <= layout["page"][1], layout
    assert layout["page"][2] == 0, layout
    assert layout["page_width"] <= layout["width"], "the page scrolls sideways"
    assert layout["log"][0] > layout["log"][1], "the log holds more than it shows"
    assert layout["presence_open"] is False
    for element_id in ("chat-message-input", "chat-message-submit"):
        control = box(ann, element_id)
        assert 0 <= control["top"] < control["bottom"] <= layout["height"], f"{element_id} is at {control}"
        assert 0 <= control["left"] < control["right"] <= layout["width"], f"{element_id} is at {control}"
    header, log = box(ann, "account-header"), box(ann, "chat-scroll")
    assert header["bottom"] <= log["top"]
    assert log["bottom"] <= box(ann, "chat-message-input")["top"]
    assert ann.accessibility_violations(AXE.read_text()) == [], "the room on a phone"

    # Scrolled to the top, the log takes the 50 before, and what was at the top stays where it was.
    def scroll_to_top_and_mark() -> tuple[int, float]:
        """Scroll the log to its top; the id of the second message then shown, and its place on screen."""
        return ann.driver.execute_script(
            """document.getElementById('chat-scroll').scrollTop = 0;
            const second = document.querySelectorAll('#chat-log li')[1];
            return [Number(second.dataset.id), second.getBoundingClientRect().top];"""
        )

    def place_of(message_id: int) -> float:
        return ann.driver.execute_script(
            "return document.querySelector(`#chat-log li[data-id='${arguments[0]}']`).getBoundingClientRect().top;",
            message_id,
        )

    assert len(ann.messages()) == 50, "the log at its end asked for older messages"
    marked, top = scroll_to_top_and_mark()
    assert marked == 72
    ann.wait().until(lambda d: len(ann.messages()) == 100, "scrolling to the top loaded no older messages")
    assert abs(place_of(marked) - top) <= 1, "the log jumped as older messages came in"
    assert not ann.driver.find_element(By.ID, "chat-history-start").is_displayed()

    marked, top = scroll_to_top_and_mark()
    assert marked == 22
    ann.wait().until(
        lambda d: d.find_element(By.ID, "chat-history-start").is_displayed(), "the beginning was never reached"
    )
    assert abs(place_of(marked) - top) <= 1, "the log jumped as older messages came in"
    assert [message["id"] for message in ann.messages()] == list(range(1, count + 1))
    assert not ann.driver.find_element(By.ID, "chat-history-more").is_displayed()

    # On a desktop the width is used: who is here beside the log, open.
    ann.set_viewport(*DESKTOP)
    ann.wait().until(lambda d: d.find_element(By.ID, "presence-details").get_attribute("open") is not None)
    assert box(ann, "presence")["left"] >= box(ann, "chat-scroll")["right"]
    assert box(ann, "chat-scroll")["width"] > DESKTOP[0] / 2


def test_a_hidden_tab_counts_what_arrives_and_read_marks_follow_what_was_seen(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    carol_name = f"carol-{uuid.uuid4().hex[:6]}"
    create_user(server_database, carol_name, PASSWORD)
    carol, bob = browsers(), browsers()
    carol.log_in(daphne_cluster[0], carol_name, PASSWORD)
    carol.open_room(daphne_cluster[0], room_name)
    bob.enter(daphne_cluster[1], room_name, "Bob")
    carol.wait().until(lambda d: "Bob" in carol.presence(), "Carol does not see Bob")
    title = f"{room_name} · Chat"
    # What the page sends from now on.
    carol.driver.execute_script(
        """window.sent = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
            if (this.url.includes('/ws/chat/')) window.sent.push(JSON.parse(data));
            return send.call(this, data);
        };"""
    )

    def read_mark() -> int | None:
        value = carol.driver.execute_script("return localStorage.getItem(arguments[0]);", f"chat-read:{room_name}")
        return None if value is None else int(value)

    def reads_sent() -> list[int]:
        sent = carol.driver.execute_script("return window.sent;")
        return [frame["id"] for frame in sent if frame.get("type") == "read"]

    bob.say("one")
    first = carol.wait_for_message("one")["id"]
    carol.wait().until(lambda d: read_mark() == first, "what was shown was not marked read")
    carol.wait().until(lambda d: reads_sent() == [first], "the server was not told")

    carol.driver.execute_script(SET_HIDDEN, True)
    bob.say("two")
    bob.say("three")
    carol.wait().until(lambda d: d.title == f"(2) {title}", "the hidden tab's title did not count")
    carol.say("mine")  # her own, from another tab say: no news to her
    carol.wait().until(lambda d: "mine" in carol.texts() and not carol.pending_texts(), "hers was never stored")
    newest = carol.messages()[-1]["id"]
    assert carol.driver.title == f"(2) {title}"
    assert read_mark() == first, "nothing was seen while hidden"
    assert reads_sent() == [first]

    carol.driver.execute_script(SET_HIDDEN, False)
    assert carol.driver.title == title
    assert read_mark() == newest
    carol.wait().until(lambda d: reads_sent() == [first, newest], "becoming visible told the server at once")


def test_who_is_here_is_unknown_while_disconnected(
    daphne_cluster: DaphneCluster, ann_and_bob: tuple[ChatPage, ChatPage]
) -> None:
    ann, bob = ann_and_bob
    bob.wait().until(lambda d: bob.presence() == ["Ann", "Bob (you)"], "Bob does not see Ann")
    state = "return document.getElementById('presence').dataset.state;"
    assert bob.driver.execute_script(state) == "known"
    assert not bob.driver.find_element(By.ID, "presence-unknown").is_displayed()
    ann.driver.find_element(By.ID, "chat-message-input").send_keys("I was about to")
    bob.wait().until(lambda d: bob.typing_text() == "Ann is typing…", "Bob did not see Ann typing")

    daphne_cluster[1].kill()
    try:
        bob.wait_for_state("closed")
        assert bob.driver.execute_script(state) == "unknown"
        assert bob.driver.find_element(By.ID, "presence-count").text == "?"
        assert bob.presence() == []
        assert bob.driver.find_element(By.ID, "presence-unknown").text == "Not connected: who is here is unknown."
        assert bob.typing_text() == "", "a typist heard before the drop"
    finally:
        daphne_cluster[1].start()
    bob.wait_for_state("open", timeout=15)
    bob.wait().until(lambda d: bob.presence() == ["Ann", "Bob (you)"], "Bob's list did not come back")
    assert bob.driver.execute_script(state) == "known"
    assert bob.driver.find_element(By.ID, "presence-count").text == "2"
    assert not bob.driver.find_element(By.ID, "presence-unknown").is_displayed()
