"""Your own messages in a browser: an edit and a deletion on one process, seen live on the other and after a reload."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.functional.pages import ChatPage


def marks_of(page: ChatPage) -> dict[str, dict]:
    return {mark["text"]: mark for mark in page.message_marks()}


def test_an_author_edits_and_deletes_and_the_other_process_sees_it(ann_and_bob: tuple[ChatPage, ChatPage]) -> None:
    ann, bob = ann_and_bob  # guests: Ann on the first Daphne process, Bob on the second
    for text in ("teh answer", "delete me", "stays"):
        ann.say(text)
    bob.wait_for_message("stays")
    ann.wait_for_message("stays")

    # Whose messages they are, on the other's page: a guest's, with no control for Bob.
    guest_s = {"kind": "guest", "badge": "guest", "edited": None, "controls": []}
    assert marks_of(bob)["teh answer"] == {"text": "teh answer", **guest_s}
    assert marks_of(ann)["teh answer"]["controls"] == ["edit", "delete"], "her own message"

    # Escape leaves a message as it was.
    editor = ann.start_editing("stays")
    editor.send_keys(" changed my mind", Keys.ESCAPE)
    ann.wait().until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".edit-input"), "the editor stayed open")
    assert ann.texts() == ["teh answer", "delete me", "stays"]

    ann.edit_message("teh answer", "the answer")
    ann.delete_message("delete me")
    expected = ["the answer", "stays"]
    for page in (ann, bob):
        page.wait().until(lambda d, page=page: page.texts() == expected, f"the log never showed {expected}")
        page.wait().until(lambda d, page=page: marks_of(page)["the answer"]["edited"] == "edited", "no edited mark")
    assert marks_of(bob)["stays"]["edited"] is None

    # Again after a reload, from the history: edited, and the deleted message gone.
    bob.driver.refresh()
    bob.wait_until_connected()
    bob.wait().until(lambda d: bob.texts() == expected, f"after a reload the log was not {expected}")
    assert marks_of(bob)["the answer"] == {"text": "the answer", **guest_s, "edited": "edited"}
