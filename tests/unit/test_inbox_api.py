"""``POST /api/users/<username>/notifications``: the room API's callers, errors and limit, for a person's inbox."""

import json
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client, override_settings

from notifications import api, selectors
from notifications.models import LINK_MAX_LENGTH, TEXT_MAX_LENGTH, Notification
from tests.unit.listeners import listen

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "a-test-token-of-enough-length"
# A rate this slow gives nothing back while a test runs: the counts below are exact.
NEVER_REFILLS = 0.0001


@pytest.fixture(autouse=True)
def api_token() -> object:
    with override_settings(CHAT_API_TOKEN=TOKEN):
        yield TOKEN


@pytest.fixture
def ann() -> User:
    return User.objects.create_user("ann")


def notify(client: Client, username: str = "ann", body: object = None, token: str | None = TOKEN, **headers: str):
    """Post to the user's notifications; `body` is sent as it is if text or bytes, else as JSON."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {"message": "hi"})
    path = f"/api/users/{quote(username)}/notifications"
    return client.post(path, data, content_type="application/json", headers=headers)


def test_a_token_caller_notifies_and_gets_the_frame_the_pages_get(client: Client, ann: User) -> None:
    listener = listen(ann)
    response = notify(client, body={"message": "Your essay was marked.", "link": "/chat/english/"})
    assert response.status_code == 201, response.json()
    frame = response.json()
    stored = Notification.objects.get()
    assert frame == selectors.notification_frame(stored)
    assert (frame["kind"], frame["message"], frame["link"], frame["room"]) == (
        "server", "Your essay was marked.", "/chat/english/", ""
    )  # fmt: skip
    assert async_to_sync(listener.next)() == frame
    assert stored.user == ann


def test_the_link_may_be_left_out(client: Client, ann: User) -> None:
    response = notify(client, body={"message": "hi"})
    assert (response.status_code, response.json()["link"]) == (201, "")


def staff_browser(*, enforce_csrf: bool = True, staff: bool = True) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(User.objects.create_user("teacher", is_staff=staff))
    return client


def test_a_staff_session_notifies_with_the_csrf_token_and_is_refused_without(ann: User) -> None:
    browser = staff_browser()
    refused = notify(browser, token=None)
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
    browser.get("/chat/")  # sets the csrftoken cookie, as any page does
    response = notify(browser, token=None, **{"X-CSRFToken": browser.cookies["csrftoken"].value})
    assert response.status_code == 201, response.json()
    assert Notification.objects.get().user == ann


def test_a_session_that_is_not_staff_is_refused(ann: User) -> None:
    browser = staff_browser(staff=False)
    browser.get("/chat/")
    response = notify(browser, token=None, **{"X-CSRFToken": browser.cookies["csrftoken"].value})
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("username", "body", "token", "status", "code"),
    [
        ("ann", None, None, 401, "authentication_required"),
        ("ann", None, "a-wrong-token-of-enough-length", 401, "invalid_token"),
        ("nobody", None, TOKEN, 404, "unknown_user"),
        ("gone", None, TOKEN, 404, "unknown_user"),
        ("ann", "{not json", TOKEN, 400, "invalid_json"),
        ("ann", b"\xff\xfe", TOKEN, 400, "invalid_json"),
        ("ann", "[1]", TOKEN, 400, "invalid_frame"),
        ("ann", '"hi"', TOKEN, 400, "invalid_frame"),
        ("ann", {"message": "hi", "colour": "red"}, TOKEN, 400, "unknown_field"),
        ("ann", {"text": "hi"}, TOKEN, 400, "unknown_field"),
        ("ann", {"link": "/chat/"}, TOKEN, 400, "missing_field"),
        ("ann", {"message": "  "}, TOKEN, 400, "empty_message"),
        ("ann", {"message": 5}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "\u0007"}, TOKEN, 400, "invalid_characters"),
        ("ann", {"message": "half a pair \ud800"}, TOKEN, 400, "invalid_characters"),
        ("ann", {"message": "hi", "link": "javascript:alert(1)"}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "hi", "link": "//evil.com/"}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "hi", "link": "/\\evil.com"}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "hi", "link": "/a b"}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "hi", "link": 5}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "hi", "link": "/" + "a" * LINK_MAX_LENGTH}, TOKEN, 400, "invalid_field"),
        ("ann", {"message": "x" * (TEXT_MAX_LENGTH + 1)}, TOKEN, 413, "message_too_long"),
        ("ann", "x" * (api.MAX_BODY_BYTES + 1), TOKEN, 413, "body_too_large"),
    ],
)
def test_the_api_refuses_with_the_right_status(
    client: Client, ann: User, username: str, body: object, token: str | None, status: int, code: str
) -> None:
    User.objects.create_user("gone", is_active=False)
    response = notify(client, username, body, token)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Notification.objects.exists(), "a refused call stores nothing"


def test_a_body_announced_too_large_is_refused_before_it_is_read(client: Client, ann: User) -> None:
    # Over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): reading it would raise, a traceback for a client's mistake.
    response = notify(client, body=b"x" * 3_000_000)
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")


def test_the_longest_text_and_link_are_taken_in_any_json_escaping(client: Client, ann: User) -> None:
    # Every character escaped, each of them outside the BMP (two \\uXXXX escapes): the most bytes a valid body takes.
    text, link = "\N{GRINNING FACE}" * TEXT_MAX_LENGTH, "/" + "\N{GRINNING FACE}" * (LINK_MAX_LENGTH - 1)
    body = json.dumps({"message": text, "link": link}).replace("/", "\\u002f")
    assert len(body) > 12 * (TEXT_MAX_LENGTH + LINK_MAX_LENGTH) - 12
    response = notify(client, body=body)
    assert response.status_code == 201, response.json()
    assert (Notification.objects.get().text, Notification.objects.get().link) == (text, link)


def test_only_post_is_taken(client: Client, ann: User) -> None:
    response = client.get("/api/users/ann/notifications", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


@override_settings(CHAT_RATE_LIMIT=NEVER_REFILLS, CHAT_RATE_BURST=3)
def test_a_caller_is_rate_limited_across_both_apis(client: Client, ann: User) -> None:
    room = client.post(
        "/api/rooms/lobby/messages", json.dumps({"message": "hi"}), content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert room.status_code == 201
    assert [notify(client).status_code for _ in range(3)] == [201, 201, 429]
    limited = notify(client)
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["detail"] == f"Too many requests; wait {limited.headers['Retry-After']} s."
    assert Notification.objects.count() == 2
    staff = staff_browser(enforce_csrf=False)
    assert notify(staff, token=None).status_code == 201, "a caller of its own, with a budget of its own"


@pytest.mark.parametrize(
    "path", ["/api/users/ann/notifications/", "/api/rooms/lobby/messages/", "/api/users/ann", "/api/nothing", "/api/"]
)
def test_a_path_under_api_that_is_no_endpoint_is_a_json_404_naming_them(path: str) -> None:
    client = Client(enforce_csrf_checks=True)  # as a service's client is: no CSRF cookie, a bearer token
    response = client.post(path, "{}", content_type="application/json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json()["code"] == "not_found"
    assert "POST /api/users/<username>/notifications, without a trailing slash" in response.json()["detail"]
