"""A request refused as the client's mistake is one warning line in the log, never a traceback.

Server faults keep their tracebacks.
"""

import io
import logging
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

CSRF_TOKEN = "a" * 32


@pytest.fixture
def request_log() -> Iterator[io.StringIO]:
    """What a server prints of Django's request logging: through the handlers LOGGING gives it
    (mysite/settings.py), and through a root handler such as Daphne installs (logging.basicConfig)."""
    stream = io.StringIO()
    root_handler = logging.StreamHandler(stream)
    root_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(root_handler)
    own = {
        handler
        for name in ("django.request", "django.security")
        for handler in logging.getLogger(name).handlers
        if handler.get_name() == "requests"  # LOGGING's, not the ones pytest adds
    }
    previous = {handler: handler.setStream(stream) for handler in own}
    yield stream
    for handler, old in previous.items():
        handler.setStream(old)
    logging.getLogger().removeHandler(root_handler)


def form(fields: int) -> str:
    return "&".join(f"field{number}=x" for number in range(fields))


def client_with_csrf_cookie() -> Client:
    """A client whose form posts carry a CSRF cookie, so that Django's CSRF check reads the form as a browser's."""
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7")
    client.cookies["csrftoken"] = CSRF_TOKEN
    return client


MISTAKES = {
    "a Host not in DJANGO_ALLOWED_HOSTS": lambda: Client().get("/chat/", HTTP_HOST="evil.example"),
    "the same on the API": lambda: Client().post(
        "/api/rooms/x/messages", "{}", "application/json", HTTP_HOST="evil.example"
    ),
    "a form over DATA_UPLOAD_MAX_MEMORY_SIZE": lambda: client_with_csrf_cookie().post(
        "/chat/", "a=" + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "application/x-www-form-urlencoded"
    ),
    "a form over DATA_UPLOAD_MAX_NUMBER_FIELDS": lambda: client_with_csrf_cookie().post(
        "/chat/", form(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1), "application/x-www-form-urlencoded"
    ),
    "a query over DATA_UPLOAD_MAX_NUMBER_FIELDS": lambda: Client().get(
        "/admin/login/?" + form(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)
    ),
    "a multipart body that does not parse": lambda: client_with_csrf_cookie().post(
        "/chat/", "no boundary here", "multipart/form-data"
    ),
    "a multipart body with more than DATA_UPLOAD_MAX_NUMBER_FILES files": lambda: client_with_csrf_cookie().post(
        "/chat/", {f"file{number}": io.BytesIO(b"x") for number in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)}
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_clients_mistake_is_one_warning_line(mistake: str, request_log: io.StringIO) -> None:
    response = MISTAKES[mistake]()
    assert response.status_code == 400
    lines = request_log.getvalue().splitlines()
    assert len(lines) == 1, request_log.getvalue()
    assert " WARNING django." in lines[0]
    assert "Traceback" not in request_log.getvalue()


def test_the_line_names_the_request_and_a_client_cannot_break_it(request_log: io.StringIO) -> None:
    Client(REMOTE_ADDR="203.0.113.7").get("/chat/%0AFAKE ENTRY", HTTP_HOST="evil.example\nFAKE")
    (line,) = request_log.getvalue().splitlines()
    assert "Invalid HTTP_HOST header" in line
    assert "(400 to GET /chat/\\nFAKE ENTRY from 203.0.113.7)" in line


def test_a_server_fault_keeps_its_traceback(request_log: io.StringIO) -> None:
    logging.getLogger("django.request").error("Internal Server Error: /x", exc_info=ZeroDivisionError("boom"))
    assert "ZeroDivisionError: boom" in request_log.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/chat/join/a%00b/", None),
        ("post", "/chat/dm/a%00b/", {}),
        ("post", "/chat/dm/", {"username": "a\x00b"}),
        ("post", "/chat/dm/", {"user\x00name": "ann"}),
        ("get", "/chat/?next=a%00b", None),
        ("post", "/accounts/login/", {"username": "a\x00b", "password": "x"}),
    ],
)
def test_a_nul_character_anywhere_in_a_request_is_a_400_before_any_view(
    client: Client, method: str, path: str, data: dict | None, caplog: pytest.LogCaptureFixture
) -> None:
    # PostgreSQL refuses NUL in text: passed on to a query by a view, it would be a 500 and a traceback.
    client.force_login(User.objects.create_user("carol"))
    response = getattr(client, method)(path, data) if data is not None else getattr(client, method)(path)
    assert response.status_code == 400
    assert not any(record.exc_info for record in caplog.records), "no traceback for a client's mistake"
