"""A guest cannot take a name that would lie: an account's (in any lookalike spelling), or one held online."""

from collections.abc import Callable

from selenium.webdriver.common.by import By

from tests.conftest import DaphneCluster, create_user
from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]
PASSWORD = "a-long-password-for-tests"


def test_a_guest_cannot_take_an_account_s_name_or_one_a_guest_holds_online(
    daphne_cluster: DaphneCluster, server_database: str, browsers: Browsers, room_name: str
) -> None:
    create_user(server_database, "ann", PASSWORD)
    ann, impostor = browsers(), browsers()
    ann.log_in(daphne_cluster[0], "ann", PASSWORD)
    ann.open_room(daphne_cluster[0], room_name)

    for name in ("ann", "\u0430nn"):  # the second with a Cyrillic а
        refusal = impostor.lobby_refusal(daphne_cluster[1], room_name, name)
        assert "registered account" in refusal, refusal
        assert impostor.driver.current_url.endswith("/chat/"), "the refused guest stayed in the lobby"

    zoe = browsers()
    zoe.enter(daphne_cluster[0], room_name, "zoe")
    refusal = impostor.lobby_refusal(daphne_cluster[1], room_name, "Zoe")
    assert "in use by another guest" in refusal, refusal
    assert impostor.driver.find_element(By.CSS_SELECTOR, ".field-error").is_displayed()

    zoe.open_lobby(daphne_cluster[0])  # her socket closes: the name is free again
    impostor.wait().until(lambda d: _enters(impostor, daphne_cluster, room_name), "zoe was not let go")


def _enters(page: ChatPage, cluster: DaphneCluster, room: str) -> bool:
    page.submit_lobby(cluster[1], room, "Zoe")
    page.wait().until(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error") or "/chat/" + room in d.current_url)
    return room in page.driver.current_url
