"""Staff remove a message from the room page, and it disappears from every browser."""

from collections.abc import Callable

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.conftest import create_staff_user
from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]


def test_a_moderator_deletes_a_message_live(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    create_staff_user(server_database, "moderator", "a-long-password-for-tests")
    moderator, student = browsers(), browsers()
    moderator.log_in(daphne_cluster[0], "moderator", "a-long-password-for-tests")
    moderator.open_room(daphne_cluster[0], room_name)
    student.open_room(daphne_cluster[1], room_name)

    student.say("something rude")
    student.say("something fine")
    moderator.wait_for_message("something fine")
    moderator.say("please keep it civil")
    student.wait_for_message("please keep it civil")
    civil = student.message_item("please keep it civil")
    assert civil.find_elements(By.CSS_SELECTOR, "button.delete") == [], "students may delete only their own"
    assert len(moderator.driver.find_elements(By.CSS_SELECTOR, "button.delete")) == 3, "a moderator, anyone's"

    moderator.delete_message("something rude")
    expected = ["something fine", "please keep it civil"]
    for page in (moderator, student):
        page.wait().until(lambda d, p=page: p.texts() == expected, "the message stayed on a page")
