"""Staff remove a message from the room page, and it disappears from every browser."""

import os
import subprocess
import sys
from collections.abc import Callable

from selenium.webdriver.common.by import By

from tests.conftest import DaphneCluster, server_environment
from tests.functional.pages import ChatPage
from tests.servers import PROJECT_ROOT

Browsers = Callable[[], ChatPage]


def create_staff_user(database_url: str, username: str, password: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", username, "--email", ""],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(database_url) | {"DJANGO_SUPERUSER_PASSWORD": password},
        check=True,
        capture_output=True,
    )


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
    student.wait_for_message("something fine")
    assert student.driver.find_elements(By.CSS_SELECTOR, "button.delete") == [], "students get no delete control"

    moderator.delete_message("something rude")
    for page in (moderator, student):
        page.wait().until(lambda d, p=page: p.texts() == ["something fine"], "the message stayed on a page")
