"""A private room from end to end, across two Daphne processes: made, shared by invite, refused, left."""

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.conftest import create_user
from tests.functional.pages import ChatPage
from tests.functional.test_presence import AXE
from tests.wsclient import ChatClient

Browsers = Callable[[], ChatPage]
PASSWORD = "a-long-password-for-tests"
TITLE = "Physics-7B"
# Accounts of this test's own (the servers' database is shared by the session's tests); they read
# well in the README's screenshot.
NAMES = {"ann": "ann.lee", "bob": "bob.king", "carol": "carol.ng"}


def make_private_room(page: ChatPage, server: DaphneCluster, title: str) -> str:
    """Through the lobby, as a person would: a room name, the "Private room" box, Enter. The room's name."""
    page.open_lobby(server)
    page.driver.find_element(By.ID, "room-name-input").send_keys(title)
    page.driver.find_element(By.ID, "room-private-input").click()
    page.driver.find_element(By.ID, "room-name-submit").click()
    page.wait().until(lambda d: re.search(r"/chat/physics-7b-[0-9a-f]{6}/$", d.current_url), "no private room")
    page.wait_until_connected()
    return urlsplit(page.driver.current_url).path.split("/")[2]


def create_invite(page: ChatPage) -> str:
    """From the room's page to its members page, and a new invite link."""
    page.driver.find_element(By.ID, "room-members-link").click()
    page.driver.find_element(By.ID, "invite-create").click()
    link = page.wait().until(lambda d: d.find_element(By.ID, "invite-link").get_attribute("value"), "no link")
    assert page.driver.find_element(By.ID, "invite-link").get_attribute("readonly") is not None
    return link


def wait_for_directory(page: ChatPage, room: str) -> dict[str, str]:
    """The lobby's directory once it lists `room`."""
    return page.wait().until(lambda d: room in page.directory() and page.directory(), f"{room} is not listed")


def test_a_private_room_is_made_shared_refused_and_left(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str, screenshot_dir: Path
) -> None:
    for username in (NAMES["bob"], NAMES["carol"]):
        create_user(server_database, username, PASSWORD)
    ann, bob, carol = browsers(), browsers(), browsers()

    ann.sign_up(daphne_cluster[0], NAMES["ann"], PASSWORD)  # Ann signs up; the others had accounts
    assert ann.signed_in_as() == NAMES["ann"]
    private = make_private_room(ann, daphne_cluster[0], TITLE)
    assert ann.driver.find_element(By.CSS_SELECTOR, "h1 .room-title").text == TITLE
    link = create_invite(ann)
    assert link.startswith(f"{daphne_cluster[0].http_url}/chat/join/")
    assert ann.accessibility_violations(AXE.read_text()) == [], "the members page"

    # Bob, on the other process (as a balancer in front of both would send him), follows the link.
    bob.log_in(daphne_cluster[1], NAMES["bob"], PASSWORD)
    bob.driver.get(daphne_cluster[1].http_url + urlsplit(link).path)
    assert bob.accessibility_violations(AXE.read_text()) == [], "the invite's page"
    bob.driver.find_element(By.ID, "invite-join").click()
    bob.wait().until(lambda d: d.current_url.endswith(f"/chat/{quote(private)}/"), "joining did not lead to the room")
    bob.wait_until_connected()
    ann.set_viewport(900, 720)  # tall enough for the whole page in the README's screenshot
    ann.open_room(daphne_cluster[0], private)
    ann.say("Welcome to the class room, Bob.")
    bob.wait_for_message("Welcome to the class room, Bob.")
    bob.say("Thanks! Is the lab at six?")
    ann.wait_for_message("Thanks! Is the lab at six?")
    ann.driver.save_screenshot(str(screenshot_dir / "private-room.png"))

    # Carol is signed in but no member: refused at the page, at the socket, and not told in the lobby.
    carol.log_in(daphne_cluster[1], NAMES["carol"], PASSWORD)
    carol.driver.get(f"{daphne_cluster[1].http_url}/chat/{quote(private)}/")
    assert carol.driver.find_element(By.ID, "forbidden").is_displayed()
    assert carol.accessibility_violations(AXE.read_text()) == [], "the refusal's page"
    cookie = f"sessionid={carol.driver.get_cookie('sessionid')['value']}"
    with ChatClient(daphne_cluster[0], private, cookie=cookie) as socket:
        assert socket.receive()["code"] == "forbidden"
        with pytest.raises(ConnectionError, match="close code 4403"):
            socket.receive()
    carol.open_room(daphne_cluster[1], room_name)  # a public room, so that her lobby has something to list
    carol.say("Anyone doing the lab?")
    carol.wait_for_message("Anyone doing the lab?")
    carol.open_lobby(daphne_cluster[1])
    assert private not in wait_for_directory(carol, room_name)
    ann.open_lobby(daphne_cluster[0])
    wait_for_directory(ann, private)
    assert TITLE in ann.directory_text(private)
    assert ann.accessibility_violations(AXE.read_text()) == [], "the lobby with its Private room box"

    # Ann removes Bob: his open page says so at once, and stays closed.
    ann.driver.get(f"{daphne_cluster[0].http_url}/chat/{quote(private)}/members/")
    ann.driver.find_element(By.CSS_SELECTOR, f'li.member[data-username="{NAMES["bob"]}"] .member-remove').click()
    ann.wait().until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'li.member[data-username="{NAMES["bob"]}"]'))
    error = bob.driver.find_element(By.ID, "chat-error")
    bob.wait().until(lambda d: error.is_displayed(), "Bob's page showed no error")
    assert error.text == "You are no longer a member of this private room."
    bob.wait_for_state("closed")
    assert bob.status_text() == "Disconnected: this room is for its members only."
    assert bob.driver.find_element(By.ID, "connection-retry").is_displayed() is False
