"""Markup in names and messages shows as text wherever a page shows a name or a message, and never runs."""

from collections.abc import Callable

from pytest_channels_live import DaphneCluster
from selenium.webdriver.common.by import By

from tests.functional.pages import ChatPage

Browsers = Callable[[], ChatPage]

# Display names may hold anything printable (32 characters at most); these would make elements,
# and the first would run its handler, were a page to set them as HTML.
IMG_NAME = "<img src=x onerror=top.xss=1>"
BOLD_NAME = "<b>bold</b>"
IMG_TEXT = "<img src=x onerror=top.xss=2><b>loud</b> @Ann"
SVG_TEXT = "<svg onload=top.xss=3></svg><script>top.xss=4</script> @Ann"

# Everything markup in those names and texts could have made, in the places that show them.
AREAS = ("#chat-log", "#presence-list", "#typing-indicator", "#toasts", "#room-directory")
INJECTED = ", ".join(f"{area} :is(img, b, svg, script)" for area in AREAS)


def injected(page: ChatPage) -> dict:
    """Elements that markup made in the page's names and texts, and whether any of its handlers ran."""
    return page.driver.execute_script(
        "return {elements: [...document.querySelectorAll(arguments[0])].map((e) => e.outerHTML),"
        " ran: window.xss ?? null};",
        INJECTED,
    )


def assert_shown_as_text(*pages: ChatPage) -> None:
    for page in pages:
        assert injected(page) == {"elements": [], "ran": None}


def type_without_sending(page: ChatPage, text: str) -> None:
    page.driver.find_element(By.ID, "chat-message-input").send_keys(text)


def toast_texts(page: ChatPage) -> list[str]:
    return page.driver.execute_script(
        "return [...document.querySelectorAll('#toasts .toast p')].map((p) => p.textContent);"
    )


def test_markup_in_names_and_messages_is_shown_as_text_everywhere(
    daphne_cluster: DaphneCluster, browsers: Browsers, room_name: str
) -> None:
    img, bold, ann = browsers(), browsers(), browsers()
    img.enter(daphne_cluster[0], room_name, IMG_NAME)
    bold.enter(daphne_cluster[1], room_name, BOLD_NAME)
    ann.enter(daphne_cluster[0], f"{room_name}-elsewhere", "Ann")  # mentioned from another room: a toast

    # The presence list.
    img.wait().until(lambda d: img.presence() == [BOLD_NAME, f"{IMG_NAME} (you)"], "no presence list")
    bold.wait().until(lambda d: bold.presence() == [f"{BOLD_NAME} (you)", IMG_NAME], "no presence list")
    assert_shown_as_text(img, bold)

    # The typing indicator, then the message typed (Enter sends what was typed).
    type_without_sending(img, IMG_TEXT)
    bold.wait().until(lambda d: bold.typing_text() == f"{IMG_NAME} is typing…", "no typing indicator")
    assert_shown_as_text(bold)
    img.say("")
    # The mention toast in the other room, then the same toast counting the second mention from that room.
    ann.wait().until(lambda d: len(toast_texts(ann)) == 1, "the mention made no toast")
    assert toast_texts(ann) == [f"{IMG_NAME} mentioned you in {room_name}: {IMG_TEXT}"]
    assert_shown_as_text(ann)
    type_without_sending(bold, SVG_TEXT)
    img.wait().until(lambda d: img.typing_text() == f"{BOLD_NAME} is typing…", "no typing indicator")
    assert_shown_as_text(img)
    bold.say("")
    second = f"2 mentions in {room_name}, the latest from {BOLD_NAME}: {SVG_TEXT}"
    ann.wait().until(lambda d: toast_texts(ann) == [second], "the second mention was not counted")
    assert_shown_as_text(ann)

    # The room log, on both processes.
    said = [{"id": 1, "author": IMG_NAME, "text": IMG_TEXT}, {"id": 2, "author": BOLD_NAME, "text": SVG_TEXT}]
    for page in (img, bold):
        page.wait().until(lambda d, page=page: page.messages() == said, f"the log does not show {said}")
    assert_shown_as_text(img, bold)

    # The lobby: room names can't hold markup, but its form shows the name back.
    img.open_lobby(daphne_cluster[0])
    img.wait().until(lambda d: img.directory().get(room_name) == "1 online", "the lobby does not list the room")
    assert img.driver.find_element(By.ID, "display-name-input").get_attribute("value") == IMG_NAME
    assert_shown_as_text(img, bold, ann)
