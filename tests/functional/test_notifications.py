"""Notifications and mentions as people see them."""

from collections.abc import Callable

from selenium.webdriver.common.by import By

from tests.conftest import DaphneCluster
from tests.functional.pages import ChatPage
from tests.integration.test_notifications import announce
from tests.servers import RedisServer

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
