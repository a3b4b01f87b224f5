"""Who may post through the HTTP API: every pairing of the server's token and the caller's header.

A server without CHAT_API_TOKEN takes no bearer token at all, not even an empty one, and
says that it has none instead of calling the caller's token wrong.
"""

import json

import pytest
from django.test import Client, override_settings

from chat.models import Message

TOKEN = "a-test-token-of-enough-length"

# The Authorization header each caller sends; None sends none.
HEADERS = {
    "absent": None,
    "empty token": "Bearer ",
    "no token": "Bearer",
    "blank token": "Bearer    ",
    "wrong token": "Bearer a-wrong-token-of-enough-length",
    "other scheme": f"Basic {TOKEN}",
    "right token": f"Bearer {TOKEN}",
}

# (the server's token, the header) -> (status, error code or None when the message is posted)
EXPECTED = {
    (TOKEN, "absent"): (401, "authentication_required"),
    (TOKEN, "empty token"): (401, "invalid_token"),
    (TOKEN, "no token"): (401, "invalid_token"),
    (TOKEN, "blank token"): (401, "invalid_token"),
    (TOKEN, "wrong token"): (401, "invalid_token"),
    (TOKEN, "other scheme"): (401, "authentication_required"),
    (TOKEN, "right token"): (201, None),
    ("", "absent"): (401, "authentication_required"),
    ("", "empty token"): (401, "api_token_not_configured"),
    ("", "no token"): (401, "api_token_not_configured"),
    ("", "blank token"): (401, "api_token_not_configured"),
    ("", "wrong token"): (401, "api_token_not_configured"),
    ("", "other scheme"): (401, "authentication_required"),
    ("", "right token"): (401, "api_token_not_configured"),
}


def test_every_pairing_is_listed() -> None:
    assert set(EXPECTED) == {(server, header) for server in (TOKEN, "") for header in HEADERS}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("server_token", "header"),
    list(EXPECTED),
    ids=[f"{'configured' if server else 'unconfigured'}-{header}" for server, header in EXPECTED],
)
def test_the_api_answers_each_caller(client: Client, server_token: str, header: str) -> None:
    status, code = EXPECTED[server_token, header]
    headers = {} if HEADERS[header] is None else {"Authorization": HEADERS[header]}
    with override_settings(CHAT_API_TOKEN=server_token):
        response = client.post(
            "/api/rooms/lobby/messages", json.dumps({"message": "hi"}), content_type="application/json", headers=headers
        )
    body = response.json()
    assert response.status_code == status, body
    if code is None:
        assert (body["type"], body["message"]) == ("chat.message", "hi")
        assert Message.objects.count() == 1
        return
    assert (body["type"], body["code"]) == ("error", code)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert not Message.objects.exists(), "a refused call stores nothing"
    if not server_token:
        assert "CHAT_API_TOKEN" in body["detail"], "the detail says what the server lacks"
        assert "wrong" not in body["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_staff_session_behind_basic_auth_still_posts(client: Client, django_user_model: object) -> None:
    # A site in front may ask for HTTP Basic auth; that header is not a bearer token for this API.
    client.force_login(django_user_model.objects.create_user("teacher", password="pw-for-tests", is_staff=True))
    client.get("/chat/")  # the CSRF cookie, as a page would have it
    response = client.post(
        "/api/rooms/lobby/messages",
        json.dumps({"message": "hi"}),
        content_type="application/json",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert response.status_code == 201, response.json()


@pytest.mark.django_db(transaction=True)
def test_a_body_announced_too_large_is_refused_before_it_is_read(client: Client) -> None:
    # Over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): reading it would raise, a traceback for a client's mistake.
    with override_settings(CHAT_API_TOKEN=TOKEN):
        response = client.post(
            "/api/rooms/lobby/messages",
            b"x" * 3_000_000,
            content_type="application/json",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")
