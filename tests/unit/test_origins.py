"""The WebSocket Origin check: a socket opens only from a page of this site, scheme, host and port."""

import logging

import pytest
from django.test import override_settings

from chat.origins import origin_refusal
from mysite.asgi import application
from tests.unit.communicator import ChatCommunicator

# The page and its socket at http://127.0.0.1:8000, as `make run` serves them.
SITE_HOST = b"127.0.0.1:8000"

# Pages that are not this site, though their host is one of DJANGO_ALLOWED_HOSTS, and whose
# sockets would carry this site's cookies.
FOREIGN_PAGES = [
    "http://127.0.0.1:9999",  # another application on the same host
    "http://127.0.0.1",  # the same host's port 80
    "https://127.0.0.1",  # the same host's port 443
    "https://127.0.0.1:9999",
    "http://localhost:8000",  # another name: Django's CSRF check refuses it as well
    "ws://localhost",
    "ws://127.0.0.1:8000",
    "file://localhost",
    "chrome-extension://localhost",
    "null",  # a sandboxed frame, or a file: page in some browsers
    "http://127.0.0.1.evil.example:8000",
    "http://user@127.0.0.1:8000",
    "http://127.0.0.1:8000/chat/",
]


def scope(origin: str | None, host: bytes | None = SITE_HOST, *extra: tuple[bytes, bytes], **keys: object) -> dict:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    headers += [(b"host", host)] if host is not None else []
    return {"type": "websocket", "path": "/ws/chat/lobby/", "headers": [*headers, *extra], **keys}


async def opens(origin: str, host: bytes = SITE_HOST, *extra: tuple[bytes, bytes]) -> bool:
    headers = [(b"origin", origin.encode()), (b"host", host), *extra]
    socket = ChatCommunicator(application, "/ws/chat/lobby/", headers=headers)
    connected, _ = await socket.connect()
    if connected:
        await socket.disconnect()
    return connected


@pytest.mark.parametrize("origin", FOREIGN_PAGES)
async def test_a_page_of_another_origin_on_an_allowed_host_is_refused_with_one_line(
    caplog: pytest.LogCaptureFixture, origin: str
) -> None:
    with caplog.at_level(logging.WARNING):
        assert not await opens(origin)
    refusals = [record for record in caplog.records if record.name == "chat.origins"]
    assert [record.levelname for record in refusals] == ["WARNING"]
    assert repr(origin) in refusals[0].getMessage()
    assert "'http://127.0.0.1:8000' or 'https://127.0.0.1:8000'" in refusals[0].getMessage()
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.django_db(transaction=True)
async def test_the_site_s_own_page_opens_its_socket() -> None:
    assert await opens("http://127.0.0.1:8000")


def test_a_host_outside_the_allowed_hosts_is_refused_even_when_the_origin_matches_it() -> None:
    # DNS rebinding: evil.example resolves to this server, so the page and the socket agree.
    refusal = origin_refusal(scope("http://evil.example:8000", b"evil.example:8000"))
    assert refusal == (
        "from origin 'http://evil.example:8000': its Host header 'evil.example:8000' is not in DJANGO_ALLOWED_HOSTS."
    )


@pytest.mark.parametrize(
    ("origin", "host", "why"),
    [
        (None, SITE_HOST, "without an Origin header"),
        ("http://[::1", SITE_HOST, "malformed Origin"),
        ("http://127.0.0.1:notaport", SITE_HOST, "malformed Origin"),
        ("http://127.0.0.1:8000", None, "is not in DJANGO_ALLOWED_HOSTS"),  # no Host: the server's name, unknown
        ("http://127.0.0.1:8000", b"127.0.0.1:8000:8000", "is not in DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_what_no_browser_sends_is_refused(origin: str | None, host: bytes | None, why: str) -> None:
    assert why in origin_refusal(scope(origin, host))


@pytest.mark.parametrize("site", ["http://127.0.0.1:8000", "http://[::1]:8000", "http://localhost"])
def test_daphne_alone_in_plain_http_takes_pages_of_the_same_host_and_port(site: str) -> None:
    assert origin_refusal(scope(site, site.removeprefix("http://").encode())) is None


def test_daphne_alone_with_tls_takes_its_https_pages() -> None:
    # Daphne puts no scheme in a socket's scope: https, on the port the socket came to, is the page's.
    assert origin_refusal(scope("https://127.0.0.1:8443", b"127.0.0.1:8443")) is None
    with override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["chat.example.org"]):
        assert origin_refusal(scope("https://chat.example.org", b"chat.example.org")) is None
        # With DJANGO_HTTPS every page is https: an http page of the same name is another site.
        assert "'https://chat.example.org'" in origin_refusal(scope("http://chat.example.org", b"chat.example.org"))


BEHIND_A_TLS_PROXY = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),  # DJANGO_BEHIND_HTTPS_PROXY=1
    "ALLOWED_HOSTS": ["chat.example.org"],
}


@override_settings(**BEHIND_A_TLS_PROXY)
def test_behind_a_tls_proxy_the_scheme_is_the_one_the_proxy_reports() -> None:
    https, http = (b"x-forwarded-proto", b"https"), (b"x-forwarded-proto", b"http")
    assert origin_refusal(scope("https://chat.example.org", b"chat.example.org", https)) is None
    assert "'https://chat.example.org'" in origin_refusal(scope("http://chat.example.org", b"chat.example.org", https))
    assert "'http://chat.example.org'" in origin_refusal(scope("https://chat.example.org", b"chat.example.org", http))
    assert "lacks it" in origin_refusal(scope("https://chat.example.org:8443", b"chat.example.org", https))


@pytest.mark.django_db(transaction=True)
@override_settings(**BEHIND_A_TLS_PROXY)
async def test_behind_a_tls_proxy_the_https_page_opens_its_socket() -> None:
    assert await opens("https://chat.example.org", b"chat.example.org", (b"x-forwarded-proto", b"https"))
    assert not await opens("http://chat.example.org", b"chat.example.org", (b"x-forwarded-proto", b"https"))


def test_a_server_that_names_the_scheme_is_believed() -> None:
    # The ASGI spec's scope may say ws or wss (uvicorn does; Daphne doesn't).
    assert origin_refusal(scope("https://127.0.0.1:8000", SITE_HOST, scheme="wss")) is None
    assert origin_refusal(scope("http://127.0.0.1:8000", SITE_HOST, scheme="wss")) is not None
    assert origin_refusal(scope("http://127.0.0.1:8000", SITE_HOST, scheme="ws")) is None
    assert origin_refusal(scope("https://127.0.0.1:8000", SITE_HOST, scheme="ws")) is not None


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.org", "https://*.example.net"])
@pytest.mark.parametrize(
    ("origin", "trusted"),
    [
        ("https://app.example.org", True),
        ("https://a.example.net", True),
        ("https://example.net", True),
        ("http://app.example.org", False),
        ("https://app.example.org:8443", False),
        ("http://a.example.net", False),
        ("https://a.example.net.evil.example", False),
    ],
)
def test_extra_pages_come_from_django_s_csrf_trusted_origins(origin: str, trusted: bool) -> None:
    assert (origin_refusal(scope(origin)) is None) == trusted


@pytest.mark.parametrize(("listening", "page", "other"), [(80, "http", "https"), (443, "https", "http")])
def test_a_host_without_a_port_on_a_default_port_takes_only_that_port_s_scheme(
    listening: int, page: str, other: str
) -> None:
    """``Host: 127.0.0.1`` on port 80 is http's page; https://127.0.0.1 is port 443, another server."""
    came_to_port = {"server": ["127.0.0.1", listening]}
    assert origin_refusal(scope(f"{page}://127.0.0.1", b"127.0.0.1", **came_to_port)) is None
    assert origin_refusal(scope(f"{other}://127.0.0.1", b"127.0.0.1", **came_to_port)) is not None
