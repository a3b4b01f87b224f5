"""The chat pages as a test sees them: open a room, say something, read the log."""

from urllib.parse import quote

from pytest_channels_live import DaphneServer, ListeningServer
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait


class ChatPage:
    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def wait(self, timeout: float = 10) -> WebDriverWait:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05)

    def set_viewport(self, width: int, height: int) -> None:
        """Size the window so that the page gets `width` × `height` CSS pixels (the window's frame takes some)."""
        self.driver.set_window_size(width, height)
        inner_width, inner_height = self.driver.execute_script("return [window.innerWidth, window.innerHeight];")
        self.driver.set_window_size(2 * width - inner_width, 2 * height - inner_height)

    def sign_up(self, server: "DaphneServer | ListeningServer", username: str, password: str) -> None:
        """Make an account through the sign-up page, as a person would; it logs them in."""
        self.driver.get(f"{server.http_url}/accounts/signup/")
        self.driver.find_element(By.ID, "id_username").send_keys(username)
        self.driver.find_element(By.ID, "id_password1").send_keys(password)
        self.driver.find_element(By.ID, "id_password2").send_keys(password)
        self.driver.find_element(By.ID, "signup-submit").click()
        self.wait().until(lambda d: "/accounts/signup/" not in d.current_url, "the sign-up page kept them")

    def signed_in_as(self) -> str | None:
        """The username the page's header says is signed in, or None for a guest."""
        found = self.driver.find_elements(By.ID, "signed-in-as")
        return found[0].text if found else None

    def log_in(self, server: "DaphneServer | ListeningServer", username: str, password: str) -> None:
        """Log in through the login page, as a person would."""
        self.driver.get(f"{server.http_url}/accounts/login/")
        self.driver.find_element(By.ID, "id_username").send_keys(username)
        self.driver.find_element(By.ID, "id_password").send_keys(password)
        self.driver.find_element(By.ID, "login-submit").click()
        self.wait().until(lambda d: "/accounts/login/" not in d.current_url, "the login page did not let them in")

    def open_lobby(self, server: DaphneServer) -> None:
        self.driver.get(f"{server.http_url}/chat/")

    def enter(self, server: "DaphneServer | ListeningServer", room: str, display_name: str) -> None:
        """Go through the lobby as a person would: type a name and a room, press Enter."""
        self.submit_lobby(server, room, display_name)
        self.wait().until(
            lambda d: d.current_url.endswith(f"/chat/{quote(room)}/"), "the lobby did not lead to the room"
        )
        self.wait_until_connected()

    def submit_lobby(self, server: "DaphneServer | ListeningServer", room: str, display_name: str) -> None:
        """Type a name and a room in the lobby and press Enter, whatever the lobby answers."""
        self.open_lobby(server)
        name_input = self.driver.find_element(By.ID, "display-name-input")
        name_input.clear()
        name_input.send_keys(display_name)
        self.driver.find_element(By.ID, "room-name-input").send_keys(room, Keys.ENTER)

    def lobby_refusal(self, server: "DaphneServer | ListeningServer", room: str, display_name: str) -> str:
        """Try to enter under `display_name`, and return what the lobby's form says against it."""
        self.submit_lobby(server, room, display_name)
        errors = self.wait().until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"), "the lobby let the name through"
        )
        return " ".join(error.text for error in errors)

    def open_room(self, server: "DaphneServer | ListeningServer", room: str) -> None:
        self.driver.get(f"{server.http_url}/chat/{quote(room)}/")
        self.wait_until_connected()

    def wait_until_connected(self) -> None:
        try:
            self.wait().until(lambda d: self.connection_state() == "open")
        except TimeoutException:
            # Why it did not open (refused, name taken, reconnecting) is on the page: say it.
            raise AssertionError(f"the socket never opened; the page says {self.status_text()!r}") from None

    def connection_state(self) -> str | None:
        return self.driver.find_element(By.ID, "connection-status").get_attribute("data-state")

    def say(self, text: str) -> None:
        self.driver.find_element(By.ID, "chat-message-input").send_keys(text, Keys.ENTER)

    def messages(self) -> list[dict]:
        """What the log shows, in order, as author, text and id."""
        return self.driver.execute_script(
            """return [...document.querySelectorAll('#chat-log li')].map((li) => ({
                id: Number(li.dataset.id),
                author: li.querySelector('.author').textContent,
                text: li.querySelector('.text').textContent,
            }));"""
        )

    def texts(self) -> list[str]:
        return [message["text"] for message in self.messages()]

    def wait_for_message(self, text: str, timeout: float = 2) -> dict:
        return self.wait(timeout).until(
            lambda d: next((m for m in self.messages() if m["text"] == text), None),
            f"{text!r} did not appear within {timeout} s",
        )

    def status_text(self) -> str:
        return self.driver.find_element(By.ID, "connection-status").text

    def wait_for_state(self, state: str, timeout: float = 10) -> None:
        self.wait(timeout).until(lambda d: self.connection_state() == state, f"the status never became {state!r}")

    def pending_texts(self) -> list[str]:
        # Read in one script: an ack redraws the item, so element handles go stale.
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#chat-log li.pending .text')].map((el) => el.textContent);"
        )

    def message_item(self, text: str) -> WebElement:
        for item in self.driver.find_elements(By.CSS_SELECTOR, "#chat-log li"):
            if item.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent") == text:
                return item
        raise AssertionError(f"no message {text!r} in the log")

    def delete_message(self, text: str) -> None:
        self.message_item(text).find_element(By.CSS_SELECTOR, "button.delete").click()

    def start_editing(self, text: str) -> WebElement:
        """Press the message's edit button; the box it opens, holding the text."""
        item = self.message_item(text)
        item.find_element(By.CSS_SELECTOR, "button.edit").click()
        return item.find_element(By.CSS_SELECTOR, ".edit-input")

    def edit_message(self, text: str, new_text: str) -> None:
        """Edit a message as a person would: its edit button, the new text, Enter."""
        editor = self.start_editing(text)
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(new_text, Keys.ENTER)

    def message_marks(self) -> list[dict]:
        """Each message as the page marks it: text, author kind and badge, "edited", and the controls it offers."""
        return self.driver.execute_script(
            """return [...document.querySelectorAll('#chat-log li')].map((li) => ({
                text: li.querySelector('.text').textContent,
                kind: li.querySelector('.author').dataset.kind ?? null,
                badge: li.querySelector('.author-kind')?.textContent ?? null,
                edited: li.querySelector('.edited')?.textContent ?? null,
                controls: [...li.querySelectorAll('button')].map((button) => button.className),
            }));"""
        )

    def presence(self) -> list[str]:
        # Read in one script: the list is redrawn whole, so element handles go stale.
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#presence-list li .presence-name')].map((el) => el.textContent);"
        )

    def typing_text(self) -> str:
        return self.driver.find_element(By.ID, "typing-indicator").text

    def directory(self) -> dict[str, str]:
        """The lobby's rooms: name to its "N online" text."""
        return self.driver.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#room-directory li')].map("
            "(li) => [li.dataset.room, li.querySelector('.online-count').textContent]));"
        )

    def directory_text(self, room: str) -> str:
        return self.driver.execute_script(
            "const rooms = [...document.querySelectorAll('#room-directory li')];"
            "const li = rooms.find((li) => li.dataset.room === arguments[0]);"
            "return li ? li.textContent : '';",
            room,
        )

    # The bell in the header of a signed-in person's pages (static/js/bell.js).

    def has_bell(self) -> bool:
        return bool(self.driver.find_elements(By.ID, "notification-bell"))

    def wait_until_bell_connected(self) -> None:
        self.wait().until(
            lambda d: d.find_element(By.ID, "notifications-status").get_attribute("data-state") == "open",
            "the bell's socket never opened",
        )

    def bell_count(self) -> int:
        """The unread count the bell shows (0 when it shows none)."""
        count = self.driver.find_element(By.ID, "notifications-count")
        shown = count.get_attribute("data-count")
        assert count.get_attribute("hidden") is None or shown == "0", "a count of unread ones, hidden"
        return int(shown)

    def wait_for_bell_count(self, count: int, timeout: float = 5) -> None:
        self.wait(timeout).until(
            lambda d: self.bell_count() == count, f"the bell never counted {count} (it says {self.bell_count()})"
        )

    def notifications(self) -> list[dict]:
        """The bell's list, newest first: id, text, link (None without one), unread, mark_read (its button shows)."""
        # Read in one script: items are redrawn as reads and notifications arrive.
        return self.driver.execute_script(
            """return [...document.querySelectorAll('#notifications-list li.notification')].map((li) => ({
                id: Number(li.dataset.id),
                text: li.querySelector('.notification-text').textContent,
                link: li.querySelector('a.notification-text')?.getAttribute('href') ?? null,
                unread: li.classList.contains('unread'),
                mark_read: !li.querySelector('button.mark-read').hidden,
            }));"""
        )

    def wait_for_notifications(self, texts: list[str], timeout: float = 5) -> list[dict]:
        """The bell's list once it holds exactly `texts`, newest first."""
        self.wait(timeout).until(
            lambda d: [n["text"] for n in self.notifications()] == texts,
            f"the bell never listed {texts} (it lists {[n['text'] for n in self.notifications()]})",
        )
        return self.notifications()

    def bell_open(self) -> bool:
        return self.driver.find_element(By.ID, "notifications-button").get_attribute("aria-expanded") == "true"

    def open_bell(self) -> None:
        if not self.bell_open():
            self.driver.find_element(By.ID, "notifications-button").click()
        assert self.driver.find_element(By.ID, "notifications-panel").is_displayed()

    def notification_item(self, text: str) -> WebElement:
        for item in self.driver.find_elements(By.CSS_SELECTOR, "#notifications-list li.notification"):
            if item.find_element(By.CSS_SELECTOR, ".notification-text").get_attribute("textContent") == text:
                return item
        raise AssertionError(f"no notification {text!r} in the bell's list")

    def mark_read(self, text: str) -> None:
        """Press the notification's "Mark read" button, opening the bell first."""
        self.open_bell()
        self.notification_item(text).find_element(By.CSS_SELECTOR, "button.mark-read").click()

    def follow_notification(self, text: str) -> None:
        """Click the notification's link, opening the bell first."""
        self.open_bell()
        self.notification_item(text).find_element(By.CSS_SELECTOR, "a.notification-text").click()

    def mark_all_read(self) -> None:
        self.open_bell()
        self.driver.find_element(By.ID, "notifications-mark-all").click()

    def can_mark_all_read(self) -> bool:
        """Whether the bell's "Mark all read" button is there to press, the panel open or not."""
        button = self.driver.find_element(By.ID, "notifications-mark-all")
        return button.get_attribute("hidden") is None and button.is_enabled()

    def accessibility_violations(self, axe_source: str) -> list[dict]:
        """axe-core's serious and critical findings on the current page."""
        self.driver.execute_script(axe_source)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations), (e) => done(String(e)));"
        )
        assert isinstance(result, list), f"axe failed: {result}"
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result
            if v["impact"] in {"serious", "critical"}
        ]
