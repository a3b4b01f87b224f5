"""A guest cannot take a name that would lie: an account's (in any lookalike spelling), or one held online."""

import uuid
from collections.abc import Callable

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.conftest import create_user
from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]
PASSWORD = "a-long-password-for-tests"


def test_a_guest_cannot_take_an_account_s_name_or_one_a_guest_holds_online(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    # Names of this test's own: the servers' database outlives the test, and other tests' guests are Ann and Bob.
    suffix = uuid.uuid4().hex[:6]
    ann_name, zoe_name = f"ann-{suffix}", f"zoe-{suffix}"
    create_user(server_database, ann_name, PASSWORD)
    ann, impostor = browsers(), browsers()
    ann.log_in(daphne_cluster[0], ann_name, PASSWORD)
    ann.open_room(daphne_cluster[0], room_name)

    for name in (ann_name, "\u0430" + ann_name[1:]):  # the second with a Cyrillic а
        refusal = impostor.lobby_refusal(daphne_cluster[1], room_name, name)
        assert "registered account" in refusal, refusal
        assert impostor.driver.current_url.endswith("/chat/"), "the refused guest stayed in the lobby"

    zoe = browsers()
    zoe.enter(daphne_cluster[0], room_name, zoe_name)
    refusal = impostor.lobby_refusal(daphne_cluster[1], room_name, zoe_name.upper())
    assert "in use by another guest" in refusal, refusal
    assert impostor.driver.find_element(By.CSS_SELECTOR, ".field-error").is_displayed()

    zoe.open_lobby(daphne_cluster[0])  # her socket closes: the name is free again
    impostor.wait().until(lambda d: _enters(impostor, daphne_cluster, room_name, zoe_name), "zoe was not let go")


def _enters(page: ChatPage, cluster: DaphneCluster, room: str, name: str) -> bool:
    """Whether the lobby lets `page` into `room` under `name` now."""
    page.submit_lobby(cluster[1], room, name)
    page.wait().until(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error") or f"/chat/{room}/" in d.current_url)
    return f"/chat/{room}/" in page.driver.current_url
