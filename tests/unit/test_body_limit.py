"""Request bodies over CHAT_MAX_REQUEST_BODY are refused with 413 before anything reads them, on every HTTP path."""

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import override_settings

from mysite.asgi import application

TOKEN = "a-test-token-of-enough-length"
LIMIT = settings.CHAT_MAX_REQUEST_BODY


def http_scope(path: str, content_length: int | None = None, **headers: str) -> dict:
    raw = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    if content_length is not None:
        raw.append((b"content-length", str(content_length).encode()))
    raw += [(name.lower().replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": raw,
        "client": ("203.0.113.7", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def answer(communicator: ApplicationCommunicator) -> tuple[int, dict[bytes, bytes], bytes]:
    start = await communicator.receive_output(5)
    assert start["type"] == "http.response.start"
    body = b""
    while True:
        message = await communicator.receive_output(5)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(5)  # the application has finished
    return start["status"], dict(start["headers"]), body


async def send_pieces(communicator: ApplicationCommunicator, sizes: list[int]) -> None:
    for number, size in enumerate(sizes, 1):
        await communicator.send_input({"type": "http.request", "body": b"x" * size, "more_body": number < len(sizes)})


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/api/rooms/x/messages", b"application/json"), ("/chat/", b"text/plain; charset=utf-8")],
)
async def test_an_announced_oversized_body_is_refused_unread(path: str, content_type: bytes) -> None:
    """Not even authentication (the API) or the CSRF check (a page) is asked first: nothing reads the body."""
    communicator = ApplicationCommunicator(application, http_scope(path, content_length=600 << 20))
    await send_pieces(communicator, [1 << 20] * 3)
    status, headers, body = await answer(communicator)
    assert status == 413
    assert headers[b"content-type"] == content_type
    assert str(LIMIT).encode() in body
    if path.startswith("/api/"):
        assert json.loads(body)["code"] == "body_too_large"
    assert communicator.input_queue.qsize() == 3, "the body was read"


async def test_a_body_without_a_length_is_refused_once_it_passes_the_limit() -> None:
    communicator = ApplicationCommunicator(application, http_scope("/api/rooms/x/messages"))
    half = LIMIT // 2
    await send_pieces(communicator, [half, half, 1, 1 << 20, 1 << 20])
    status, _, body = await answer(communicator)
    assert (status, json.loads(body)["code"]) == (413, "body_too_large")
    assert communicator.input_queue.qsize() == 2, "pieces after the limit were read"


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_API_TOKEN=TOKEN)
async def test_a_body_within_the_limit_arrives_whole_in_pieces() -> None:
    communicator = ApplicationCommunicator(
        application, http_scope("/api/rooms/x/messages", Authorization=f"Bearer {TOKEN}")
    )
    body = json.dumps({"message": "Build 512 is green.", "author": "CI"}).encode()
    for number, piece in enumerate((body[:10], body[10:20], body[20:]), 1):
        await communicator.send_input({"type": "http.request", "body": piece, "more_body": number < 3})
    status, _, answered = await answer(communicator)
    assert status == 201
    assert json.loads(answered)["message"] == "Build 512 is green."
