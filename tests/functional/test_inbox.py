"""A signed-in person's bell across two Daphne processes: what reaches it, reads shared by their tabs, and visits."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from pytest_channels_live import DaphneCluster, RedisServer
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.conftest import create_user, server_environment
from tests.functional.pages import ChatPage
from tests.functional.test_presence import AXE
from tests.functional.test_private_rooms import make_private_room
from tests.integration.test_notifications import api_post
from tests.servers import PROJECT_ROOT

Browsers = Callable[[], ChatPage]
PASSWORD = "a-long-password-for-tests"
PHONE = (390, 844)


def notify(username: str, text: str, *, link: str = "", database_url: str, redis_url: str) -> str:
    """`manage.py notify`, as server code outside the Daphne processes runs it; what it printed."""
    result = subprocess.run(
        [sys.executable, "manage.py", "notify", username, text, "--link", link],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url, redis_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def api_notify(server: DaphneCluster, username: str, message: str, link: str) -> dict:
    """``POST /api/users/<username>/notifications`` with the servers' token; the notification's frame."""
    status, frame = api_post(
        f"{server.http_url}/api/users/{username}/notifications", {"message": message, "link": link}
    )
    assert status == 201, frame
    return frame


def accounts(server_database: str, *names: str) -> list[str]:
    """Accounts of this test's own (the servers' database outlives it): `names` with a suffix."""
    suffix = uuid.uuid4().hex[:6]
    usernames = [f"{name}-{suffix}" for name in names]
    for username in usernames:
        create_user(server_database, username, PASSWORD)
    return usernames


def unread(page: ChatPage) -> list[bool]:
    """Which of the bell's list are unread, newest first; each offers "Mark read" if and only if it is."""
    listed = page.notifications()
    assert [item["mark_read"] for item in listed] == [item["unread"] for item in listed]
    return [item["unread"] for item in listed]


def test_two_tabs_on_two_processes_count_what_reaches_the_person_and_share_reads(
    daphne_cluster: DaphneCluster,
    server_database: str,
    redis_server: RedisServer,
    browsers: Browsers,
    room_name: str,
    screenshot_dir: Path,
) -> None:
    ann_name, bob_name = accounts(server_database, "ann", "bob")
    ann, bob = browsers(), browsers()
    ann.log_in(daphne_cluster[0], ann_name, PASSWORD)  # to the lobby
    ann.wait_until_bell_connected()
    lobby_tab = ann.driver.current_window_handle
    ann.driver.switch_to.new_window("tab")  # the same person, on the other process, in a room
    ann.open_room(daphne_cluster[1], f"{room_name}-home")
    ann.wait_until_bell_connected()
    room_tab = ann.driver.current_window_handle
    tabs = (lobby_tab, room_tab)

    def each_tab_lists(texts: list[str]) -> None:
        """Both tabs list `texts` (newest first), all unread, and count them; "Mark all read" once there are some."""
        for tab in tabs:
            ann.driver.switch_to.window(tab)
            ann.wait_for_notifications(texts)
            assert all(unread(ann))
            ann.wait_for_bell_count(len(texts))
            assert ann.can_mark_all_read() == bool(texts)

    each_tab_lists([])

    # Server code: the command, from outside both processes.
    essay = "Your essay was marked."
    notify(ann_name, essay, link=f"/chat/{room_name}-essays/", database_url=server_database, redis_url=redis_server.url)
    each_tab_lists([essay])

    # A mention from a public room Ann is not in.
    bob.log_in(daphne_cluster[1], bob_name, PASSWORD)
    bob.open_room(daphne_cluster[0], f"{room_name}-physics")
    bob.say(f"@{ann_name} do you have the notes?")
    mention = f"{bob_name} mentioned you in {room_name}-physics: @{ann_name} do you have the notes?"
    each_tab_lists([mention, essay])
    assert ann.notifications()[0]["link"] == f"/chat/{room_name}-physics/"

    # A mention from a private room Ann is no member of makes nothing: Bob's next message there is
    # handled after that one's mentions, and the notification after it is the only new one.
    make_private_room(bob, daphne_cluster[1], "Physics-7B")
    bob.say(f"@{ann_name} the answers are in here")
    bob.say("that is all")
    bob.wait_for_message("that is all")
    fence = api_notify(daphne_cluster[0], ann_name, "Grades are out.", "https://example.org/grades")
    each_tab_lists(["Grades are out.", mention, essay])
    assert [item["id"] for item in ann.notifications()][0] == fence["id"]
    # The room tab heard the public mention as a guest's page would, and the bell said it: no toast as well.
    assert ann.driver.find_elements(By.CSS_SELECTOR, "#chat-log")
    assert not ann.driver.find_elements(By.CSS_SELECTOR, "#toasts .toast")
    link = ann.notification_item("Grades are out.").find_element(By.CSS_SELECTOR, "a")
    assert (link.get_attribute("target"), link.get_attribute("rel")) == ("_blank", "noopener noreferrer")

    # Reads: marked in one tab, gone from the count in the other.
    ann.driver.switch_to.window(lobby_tab)
    ann.mark_read(mention)
    ann.wait_for_bell_count(2)
    ann.driver.switch_to.window(room_tab)
    ann.wait_for_bell_count(2)
    assert unread(ann) == [True, False, True]
    ann.open_bell()
    ann.driver.execute_script("scrollTo(0, 0);")
    ann.driver.save_screenshot(str(screenshot_dir / "bell.png"))

    ann.follow_notification(essay)  # following one reads it
    ann.wait().until(lambda d: d.current_url.endswith(f"/chat/{room_name}-essays/"), "the link led nowhere")
    ann.driver.switch_to.window(lobby_tab)
    ann.wait_for_bell_count(1)
    assert unread(ann) == [True, False, False]

    ann.mark_all_read()
    ann.wait_for_bell_count(0)
    # Nothing left to mark: the button is disabled, and the focus it had went to the list, not the page.
    assert not ann.can_mark_all_read()
    assert ann.driver.execute_script("return document.activeElement.matches('#notifications-list li');")
    ann.driver.switch_to.window(room_tab)
    ann.wait_for_bell_count(0)
    assert unread(ann) == [False, False, False]
    assert not ann.can_mark_all_read()


# What a test puts in place of the browser's Notification API: it records what the page would
# show, and grants permission when asked (headless Chromium shows nothing and asks nobody).
DESKTOP_SPY = """
window.desktopShown = [];
window.permissionAsked = 0;
window.Notification = class {
  static permission = "default";
  static requestPermission() {
    window.permissionAsked += 1;
    window.Notification.permission = "granted";
    return Promise.resolve("granted");
  }
  constructor(title, options) { window.desktopShown.push({title, body: options.body, tag: options.tag}); }
  addEventListener() {}
  close() {}
};
"""

# Whether the tab is hidden, as the page sees it (document.hidden), and the event that says it changed.
SET_HIDDEN = """
if (arguments[0]) {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
} else {
  delete document.hidden;
  delete document.visibilityState;
}
document.dispatchEvent(new Event("visibilitychange"));
"""

# The count as the server rendered it, before any script: the page fetched again, unrun.
RENDERED_COUNT = """
const done = arguments[arguments.length - 1];
fetch(location.href).then((response) => response.text()).then((html) => {
  const page = new DOMParser().parseFromString(html, "text/html");
  done(page.getElementById("notifications-count")?.dataset.count ?? null);
}, (error) => done(String(error)));
"""


def test_a_person_away_finds_them_on_the_next_visit_and_a_hidden_tab_counts_them(
    daphne_cluster: DaphneCluster,
    server_database: str,
    redis_server: RedisServer,
    browsers: Browsers,
    room_name: str,
) -> None:
    # A name as long as some people's: the header must still fit a phone.
    (carol_name,) = accounts(server_database, "carol.konstantinopoulou")
    api_notify(daphne_cluster[1], carol_name, "Welcome to the physics class.", "/chat/physics/")  # she was away
    carol = browsers()
    carol.driver.get(f"{daphne_cluster[0].http_url}/accounts/login/")
    assert not carol.has_bell(), "a guest has no bell"

    carol.log_in(daphne_cluster[0], carol_name, PASSWORD)
    assert carol.driver.execute_async_script(RENDERED_COUNT) == "1", "the count is in the page as it loads"
    carol.wait_until_bell_connected()
    assert carol.bell_count() == 1
    button = carol.driver.find_element(By.ID, "notifications-button")
    assert button.get_attribute("aria-label") == "Notifications, 1 unread"
    carol.open_bell()
    assert button.get_attribute("aria-expanded") == "true"
    assert carol.notifications() == [
        {
            "id": carol.notifications()[0]["id"],
            "text": "Welcome to the physics class.",
            "link": "/chat/physics/",
            "unread": True,
            "mark_read": True,
        }
    ]
    assert carol.accessibility_violations(AXE.read_text()) == [], "the lobby with the bell open"

    # Escape closes it, back to its button; so does a click outside.
    carol.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not carol.bell_open()
    assert not carol.driver.find_element(By.ID, "notifications-panel").is_displayed()
    assert carol.driver.switch_to.active_element == button
    carol.open_bell()
    carol.driver.find_element(By.TAG_NAME, "h1").click()
    assert not carol.bell_open()

    # On a phone, the open panel fits the window, its buttons in view.
    carol.set_viewport(*PHONE)
    carol.open_bell()
    boxes = carol.driver.execute_script(
        """const box = (id) => document.getElementById(id).getBoundingClientRect().toJSON();
        return {panel: box('notifications-panel'), markAll: box('notifications-mark-all'),
                desktop: box('notifications-desktop'),
                width: document.documentElement.clientWidth, height: innerHeight};"""
    )
    for name in ("panel", "markAll", "desktop"):
        box = boxes[name]
        assert 0 <= box["left"] < box["right"] <= boxes["width"], f"{name} is {box} across"
        assert 0 <= box["top"] < box["bottom"] <= boxes["height"], f"{name} is {box} down"

    # Hidden, the tab's title counts; desktop notifications only once asked for, by a click.
    carol.driver.execute_script(DESKTOP_SPY)
    carol.driver.execute_script(SET_HIDDEN, True)
    assert carol.driver.title == "(1) Chat lobby"
    notify(carol_name, "The lab moved to room 4.", database_url=server_database, redis_url=redis_server.url)
    carol.wait().until(lambda d: d.title == "(2) Chat lobby", "the hidden tab's title did not count")
    assert button.get_attribute("aria-label") == "Notifications, 2 unread"
    assert carol.driver.execute_script("return [window.permissionAsked, window.desktopShown];") == [0, []]

    carol.driver.find_element(By.ID, "notifications-desktop").click()
    carol.wait().until(lambda d: d.execute_script("return window.Notification.permission") == "granted")
    assert carol.driver.find_element(By.ID, "notifications-desktop").is_selected()
    frame = api_notify(daphne_cluster[1], carol_name, "Office hours at five.", "")
    carol.wait().until(lambda d: d.title == "(3) Chat lobby", "the hidden tab's title did not count")
    assert carol.driver.execute_script("return [window.permissionAsked, window.desktopShown];") == [
        1,
        [{"title": "Chat lobby", "body": "Office hours at five.", "tag": str(frame["id"])}],
    ]

    carol.driver.execute_script(SET_HIDDEN, False)
    assert carol.driver.title == "Chat lobby"

    # A page that was away (its sockets closed, as when it goes into the back/forward cache) catches
    # up on coming back: what it missed, nothing twice.
    carol.driver.execute_script("dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}));")
    carol.mark_read("Welcome to the physics class.")  # not connected: nothing is marked
    api_notify(daphne_cluster[0], carol_name, "Missed while away.", "")
    carol.driver.execute_script("dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}));")
    listed = carol.wait_for_notifications(
        ["Missed while away.", "Office hours at five.", "The lab moved to room 4.", "Welcome to the physics class."]
    )
    assert all(item["unread"] for item in listed)
    assert carol.bell_count() == 4
    carol.mark_all_read()
    carol.wait_for_bell_count(0)
    carol.wait().until(lambda d: d.execute_async_script(RENDERED_COUNT) == "0", "the reads were not stored")

    # Reads that arrive before their notification (they come from another process) still apply to it.
    assert carol.driver.execute_async_script(INBOX_ORDERS) == [0, 0, 1, 1, 3]

    # A room's page on the phone: the header stays compact, the long name cut short, the bell in view.
    api_notify(daphne_cluster[1], carol_name, "Bring your lab coat.", "")
    carol.open_room(daphne_cluster[0], room_name)
    carol.wait_until_bell_connected()
    carol.wait_for_bell_count(1)
    header = carol.driver.execute_script(HEADER_LAYOUT)
    assert header["rows"] <= 2, header
    bell = header["bell"]
    assert 0 <= bell["left"] < bell["right"] <= header["width"], f"the bell is {bell} across"
    assert 0 <= bell["top"] < bell["bottom"] <= header["height"], f"the bell is {bell} down"
    assert header["page_width"] <= header["width"], "the page scrolls sideways"
    assert (header["name_cut"], header["text_overflow"]) == (True, "ellipsis")
    assert header["title"] == f"Signed in as {carol_name}"
    assert carol.signed_in_as() == carol_name

    # Logged out in another tab of this browser: this page's bell says so and how to come back, and
    # keeps no count it can no longer keep nor buttons that can no longer work. It reloads only when
    # asked: the message being typed here stays.
    draft = "About the lab coat,"
    carol.driver.find_element(By.ID, "chat-message-input").send_keys(draft)
    room_tab = carol.driver.current_window_handle
    carol.driver.switch_to.new_window("tab")
    carol.open_lobby(daphne_cluster[1])
    carol.driver.find_element(By.ID, "logout-submit").click()
    carol.wait().until(lambda d: d.find_elements(By.ID, "login-link"), "the other tab did not log out")
    carol.driver.close()
    carol.driver.switch_to.window(room_tab)
    carol.wait().until(
        lambda d: d.find_element(By.ID, "notifications-status").get_attribute("textContent").startswith("Signed out"),
        "the bell never said it was signed out",
    )
    carol.open_bell()
    assert carol.bell_count() == 0
    assert not carol.driver.find_element(By.ID, "notifications-count").is_displayed()
    assert carol.driver.find_element(By.ID, "notifications-button").get_attribute("aria-label") == (
        "Notifications, signed out"
    )
    assert not carol.can_mark_all_read()
    assert not carol.driver.find_element(By.ID, "notifications-mark-all").is_displayed()
    assert [item["mark_read"] for item in carol.notifications()] == [False] * 5
    assert carol.driver.find_element(By.ID, "notifications-status").text == (
        "Signed out, so notifications stopped here. Reload the page to log in again."
    )
    assert carol.accessibility_violations(AXE.read_text()) == [], "a room on a phone, the bell signed out"
    # Signed out for good, until reloaded: the network coming back opens no socket for the bell.
    status = carol.driver.execute_script(
        "dispatchEvent(new Event('online')); return document.getElementById('notifications-status').textContent;"
    )
    assert status.startswith("Signed out"), status
    assert carol.driver.find_element(By.ID, "chat-message-input").get_attribute("value") == draft
    carol.driver.find_element(By.ID, "notifications-reload").click()
    carol.wait().until(lambda d: not carol.has_bell(), "the reloaded page still has the bell")
    assert carol.signed_in_as() is None
    # Connected before the test ends: a room socket still connecting as its page was left has been
    # seen to stay open on the server long after, its guest's name held (the next test waits on it).
    carol.wait_until_connected()


# The header's layout: how many rows its parts take, where the bell is, and whether the name is cut short.
HEADER_LAYOUT = """
const header = document.getElementById("account-header");
const parts = [".brand", "#notifications-button", ".who", "#logout-submit"].map((part) => header.querySelector(part));
let rows = 0;
let rowBottom = -Infinity;
for (const box of parts.map((part) => part.getBoundingClientRect()).sort((a, b) => a.top - b.top)) {
  if (box.top >= rowBottom) rows += 1;
  rowBottom = box.top >= rowBottom ? box.bottom : Math.max(rowBottom, box.bottom);
}
const name = document.getElementById("signed-in-as");
return {
  rows,
  bell: document.getElementById("notifications-button").getBoundingClientRect().toJSON(),
  width: document.documentElement.clientWidth,
  height: innerHeight,
  page_width: document.documentElement.scrollWidth,
  name_cut: name.scrollWidth > name.clientWidth,
  text_overflow: getComputedStyle(name).textOverflow,
  title: name.closest("[title]")?.title ?? null,
};
"""


# The page's own Inbox (static/js/bell.js, the module the page already runs) fed frames out of order.
INBOX_ORDERS = """
const done = arguments[arguments.length - 1];
import(document.querySelector("script[src*='bell']").src).then(({Inbox}) => {
  const inbox = new Inbox();
  const notification = (id) => ({type: "notification", id, message: `n${id}`, read: null});
  const counts = [];
  inbox.replace({type: "inbox", notifications: [], unread: [], kept: 3});
  inbox.markRead([5]);  // read in another tab before this one heard of it
  inbox.add(notification(5));
  counts.push(inbox.count);
  inbox.markRead([], 8);  // "mark all read" up to 8, before 7 arrives
  inbox.add(notification(7));
  counts.push(inbox.count);
  inbox.add(notification(9));
  counts.push(inbox.count);
  inbox.add(notification(9));  // heard twice
  counts.push(inbox.count);
  [10, 11, 12].forEach((id) => inbox.add(notification(id)));  // never more than the account keeps
  counts.push(inbox.count);
  done(counts);
}, (error) => done(String(error)));
"""
