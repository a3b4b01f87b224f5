"""The look and the lobby: both themes readable everywhere, the favicon, and the lobby as a live conversation list.

Also takes the README's screenshots of a room (desktop, phone, dark) and of the lobby.
"""

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.functional.pages import ChatPage
from tests.functional.test_presence import AXE
from tests.functional.test_private_rooms import PASSWORD, TITLE, make_private_room
from tests.wsclient import ChatClient

Browsers = Callable[[], ChatPage]
DESKTOP, PHONE = (1280, 800), (390, 844)
# The one test that uses this room: it reads well in the README's screenshots.
SCREENSHOT_ROOM = "study-group"

# Each room of the lobby's list, in its order: name, "N online" (or "quiet", "? online"), its unread badge or None.
LOBBY_ROWS = """
return [...document.querySelectorAll('#room-directory li')].map((li) => ({
  room: li.dataset.room,
  online: li.querySelector('.online-count').textContent,
  badge: li.querySelector('.unread-count')?.textContent ?? null,
  badge_title: li.querySelector('.unread-count')?.title ?? null,
}));
"""
# The lobby's own counting (static/js/lobby.js, the module the page already runs), on cases no server sends yet.
LOBBY_COUNTING = """
const done = arguments[arguments.length - 1];
import(document.querySelector("script[src*='lobby']").src).then(({unreadCount, unreadText}) => done({
  texts: [unreadText(1), unreadText(99), unreadText(100), unreadText(5000)],
  counts: [
    unreadCount({last_id: 10}, null),           // never opened: no count
    unreadCount({read: 3}, 1),                  // an older server, without last_id: no count
    unreadCount({last_id: 10, read: 7}, null),  // the account's mark
    unreadCount({last_id: 10}, 4),              // this browser's mark
    unreadCount({last_id: 10, read: 7}, 9),     // this browser read further than the server heard yet
    unreadCount({last_id: 10, read: 12}, null), // never below nothing
  ],
}), (error) => done(String(error)));
"""


def lobby_rows(page: ChatPage, rooms: list[str]) -> list[dict]:
    """The lobby's rows of `rooms`, in the lobby's order (other tests' rooms left out)."""
    return [row for row in page.driver.execute_script(LOBBY_ROWS) if row["room"] in rooms]


def wait_for_rows(page: ChatPage, rooms: list[str], expected: list[tuple], timeout: float = 10) -> None:
    """Until the lobby lists `rooms` as `expected`: (room, online text, badge) in order."""

    def shown() -> list[tuple]:
        return [(row["room"], row["online"], row["badge"]) for row in lobby_rows(page, rooms)]

    page.wait(timeout).until(lambda d: shown() == expected, f"the lobby never listed {expected} (it lists {shown()})")


def wait_for_badges(page: ChatPage, expected: dict[str, str | None], timeout: float = 10) -> None:
    """Until the lobby lists each room of `expected` with that unread badge (None: listed, without one)."""

    def shown() -> dict[str, str | None]:
        return {row["room"]: row["badge"] for row in lobby_rows(page, list(expected))}

    page.wait(timeout).until(lambda d: shown() == expected, f"the lobby never showed {expected} (it shows {shown()})")


def set_theme(page: ChatPage, theme: str) -> None:
    """Make the browser prefer `theme` ("light", "dark"), as a system setting would; "" for no preference."""
    features = [{"name": "prefers-color-scheme", "value": theme}] if theme else []
    page.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


def people_here(page: ChatPage) -> int:
    """The room's count of people here, 0 until it is known."""
    count = page.driver.find_element(By.ID, "presence-count").text
    return int(count) if count.isdigit() else 0


def body_lightness(page: ChatPage) -> float:
    """The body's computed background, 0 (black) to 1 (white)."""
    colour = page.driver.execute_script("return getComputedStyle(document.body).backgroundColor;")
    red, green, blue = (int(part) for part in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3])
    return (red + green + blue) / 765


def test_both_themes_favicon_screenshots_and_accessibility(
    daphne_cluster: DaphneCluster, browsers: Browsers, screenshot_dir: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make test` (it runs `npm ci`)", pytrace=False)
    maya, leo = browsers(), browsers()
    maya.set_viewport(*DESKTOP)
    maya.sign_up(daphne_cluster[0], "maya.chen", PASSWORD)  # the servers' database is the session's: a name of its own
    private = make_private_room(maya, daphne_cluster[0], TITLE)
    maya.say("Lab notes go here this week.")
    maya.wait_for_message("Lab notes go here this week.")

    # A conversation to look at: a guest and an account, consecutive messages, a mention, a link.
    maya.open_room(daphne_cluster[0], SCREENSHOT_ROOM)
    leo.enter(daphne_cluster[1], SCREENSHOT_ROOM, "Leo")
    for page, text in (
        (leo, "Has anyone started the reading for Thursday?"),
        (leo, "I'm stuck on the second proof."),
        (maya, "Halfway through. @Leo the diagram on page 41 helps a lot."),
        (maya, "My notes: https://example.org/notes/week-5"),
        (leo, "Thanks, that's the bit I was missing!"),
    ):
        page.say(text)
        maya.wait_for_message(text)
    leo.wait_for_message("Thanks, that's the bit I was missing!")

    # The favicon: linked from every page, served as SVG.
    icon = maya.driver.find_element(By.CSS_SELECTOR, 'head link[rel="icon"]')
    assert icon.get_attribute("type") == "image/svg+xml"
    with urllib.request.urlopen(icon.get_property("href"), timeout=10) as response:
        assert response.headers.get_content_type() == "image/svg+xml"
        assert response.read().lstrip().startswith(b"<svg")

    # Leo goes on while Maya is in her private room: her lobby counts it as new (seen in lobby.png).
    maya.open_room(daphne_cluster[0], private)
    for text in ("See you all on Thursday.", "Bring the problem sheet!"):
        leo.say(text)
    leo.wait().until(lambda d: len(leo.messages()) == 7 and not leo.pending_texts(), "Leo's messages were not stored")

    room_url = f"{daphne_cluster[0].http_url}/chat/{SCREENSHOT_ROOM}/"
    pages = {  # each page, and how many people it shows here (Maya, and Leo in the public room)
        "lobby": (f"{daphne_cluster[0].http_url}/chat/", None),
        "room": (room_url, 2),
        "private room": (f"{daphne_cluster[0].http_url}/chat/{private}/", 1),
        "phone room": (room_url, 2),
    }
    lightness, violations = {}, {}
    for theme in ("light", "dark"):
        set_theme(maya, theme)
        for name, (url, people) in pages.items():
            maya.set_viewport(*(PHONE if name == "phone room" else DESKTOP))
            maya.driver.get(url)
            maya.wait_until_connected()
            if name == "lobby":
                maya.wait().until(lambda d: SCREENSHOT_ROOM in maya.directory(), "the lobby lists no room")
            else:
                maya.wait().until(
                    lambda d, people=people: maya.messages() and people_here(maya) == people, "the room never filled"
                )
            lightness[theme, name] = body_lightness(maya)
            violations[theme, name] = maya.accessibility_violations(AXE.read_text())
            shot = {
                ("light", "lobby"): "lobby.png",
                ("light", "room"): "room-desktop.png",
                ("light", "phone room"): "room-phone.png",
                ("dark", "room"): "room-dark.png",
            }.get((theme, name))
            if shot:
                maya.driver.save_screenshot(str(screenshot_dir / shot))
    set_theme(maya, "")

    assert all(value > 0.85 for (theme, _), value in lightness.items() if theme == "light"), lightness
    assert all(value < 0.15 for (theme, _), value in lightness.items() if theme == "dark"), lightness
    assert {page: found for page, found in violations.items() if found} == {}


def test_the_lobby_counts_what_is_new_for_a_guest_and_across_an_accounts_devices(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    """Unread counts: a guest's from this browser's marks, an account's from the server, live on every device."""
    visited, unvisited = f"{room_name}-visited", f"{room_name}-unvisited"
    guest, phone, laptop = browsers(), browsers(), browsers()
    username = "pat.kim"  # this test's own account (the servers' database is the session's)
    phone.sign_up(daphne_cluster[0], username, PASSWORD)
    laptop.log_in(daphne_cluster[1], username, PASSWORD)  # the same account on a second device

    with ChatClient(daphne_cluster[1], visited) as poster, ChatClient(daphne_cluster[0], unvisited) as other:
        other.post("Nobody read this one.", client_id="unread")
        poster.post("Welcome, everyone.", client_id="welcome")
        # The guest and the account's phone open the room, see its message, and go back to the lobby.
        for page, server in ((guest, daphne_cluster[0]), (phone, daphne_cluster[1])):
            page.open_room(server, visited)
            page.wait_for_message("Welcome, everyone.")
            page.open_lobby(server)
        laptop.open_lobby(daphne_cluster[0])  # the laptop never opened the room: the server knows the mark
        for page in (guest, phone, laptop):
            wait_for_badges(page, {visited: None, unvisited: None})

        for number in range(3):
            poster.post(f"News {number}", client_id=f"news-{number}")
        # Three new in the room each has seen; none counted in a room never opened (in this browser, by this account).
        for page in (guest, phone, laptop):
            wait_for_badges(page, {visited: "3 new", unvisited: None})
        row = lobby_rows(guest, [visited])[0]
        assert row["badge_title"] == "3 unread messages"
        assert "3 new" in guest.directory_text(visited)
        counting = guest.driver.execute_async_script(LOBBY_COUNTING)
        assert counting == {"texts": ["1 new", "99 new", "99+ new", "99+ new"], "counts": [0, 0, 3, 6, 1, 0]}

        # The account reads on its laptop: its phone's lobby hears it at once; the guest is someone else.
        laptop.open_room(daphne_cluster[0], visited)
        laptop.wait_for_message("News 2")
        wait_for_badges(phone, {visited: None, unvisited: None})
        assert lobby_rows(guest, [visited])[0]["badge"] == "3 new"
        # The guest reads: back in the lobby, nothing new.
        guest.open_room(daphne_cluster[1], visited)
        guest.wait_for_message("News 2")
        guest.open_lobby(daphne_cluster[1])
        wait_for_badges(guest, {visited: None, unvisited: None})


def test_the_lobby_orders_rooms_by_people_then_activity_and_tells_quiet_from_unknown(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    first, second, busy = (f"{room_name}-{part}" for part in ("first", "second", "busy"))
    rooms = [first, second, busy]
    lobby, ann = browsers(), browsers()
    lobby.open_lobby(daphne_cluster[1])
    lobby.wait_for_state("open")

    # Ann speaks in one room, then in another, then sits in a third without a word. Live, the lobby
    # lists the rooms with people in them first, then the most recent; rooms she left are quiet, not
    # "0 online". (Each step waits for the lobby: a leave that comes while the server is sending the
    # room's count of a moment before can be lost, see chat.services.apublish_presence.)
    ann.enter(daphne_cluster[0], first, "Ann")
    ann.say("first!")
    wait_for_rows(lobby, rooms, [(first, "1 online", None)])
    ann.open_room(daphne_cluster[0], second)
    ann.say("second")
    wait_for_rows(lobby, rooms, [(second, "1 online", None), (first, "quiet", None)])
    ann.open_room(daphne_cluster[0], busy)
    wait_for_rows(lobby, rooms, [(busy, "1 online", None), (second, "quiet", None), (first, "quiet", None)])
    ann.open_room(daphne_cluster[0], first)
    wait_for_rows(lobby, rooms, [(first, "1 online", None), (second, "quiet", None)])
    assert lobby.driver.find_element(By.ID, "room-directory-unknown").is_displayed() is False

    # The lobby's process dies: who is where is unknown, and the page says so rather than show the old counts.
    daphne_cluster[1].kill()
    try:
        wait_for_rows(lobby, rooms, [(first, "? online", None), (second, "? online", None)])
        assert lobby.connection_state() in {"closed", "connecting"}
        assert lobby.driver.find_element(By.ID, "room-directory-unknown").is_displayed()
    finally:
        daphne_cluster[1].start()
    lobby.driver.execute_script("document.getElementById('connection-retry').click();")  # "Retry now", not the backoff
    wait_for_rows(lobby, rooms, [(first, "1 online", None), (second, "quiet", None)])
    assert lobby.driver.find_element(By.ID, "room-directory-unknown").is_displayed() is False
