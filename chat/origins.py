"""The WebSocket Origin check: only this site's own pages open sockets, and the log says what it refused and why.

A browser sends the site's cookies with a socket whatever page opens it, so a
socket from another page would speak as the person whose browser it is. The
page's origin must therefore be the site the socket came to, scheme, host and
port, as Django's CSRF check compares a form's ``Origin`` with the request's
scheme and ``Host``. Channels' `AllowedHostsOriginValidator` compares host names
only: another application on the same host (another port, or http where this
is https), a ``file://`` page or a browser extension naming itself
``localhost`` all passed it.
"""

import io
import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.utils.http import is_same_domain

from chat import limits

logger = logging.getLogger(__name__)

# The ASGI spec's WebSocket schemes, as the schemes of the pages that open them.
PAGE_SCHEMES = {"ws": "http", "wss": "https"}


class OriginCheck:
    """Refuses (HTTP 403, one log line) a socket whose page is not from this site; passes the rest on."""

    def __init__(self, application: object) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        if scope["type"] == "websocket":
            refusal = origin_refusal(scope)
            if refusal is not None:
                if limits.may_log_about(limits.client_address(scope)):
                    logger.warning("Refused a WebSocket %s", refusal)
                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def origin_refusal(scope: dict) -> str | None:
    """Why a socket may not open (the end of a log sentence), or None when its page is this site's."""
    origin = _header(scope, b"origin")
    if origin is None:
        return "without an Origin header; browsers always send one."
    if not _parses(origin):
        # Checked here because a bad port would raise further on, a traceback for a client's mistake.
        return f"with a malformed Origin header {origin[:200]!r}."
    handshakes = [_Handshake(scope, scheme) for scheme in _possible_schemes(scope)]
    try:
        host = handshakes[0].get_host()
    except DisallowedHost:
        host = _header(scope, b"host")
        return f"from origin {origin[:200]!r}: its Host header {(host or '')[:200]!r} is not in DJANGO_ALLOWED_HOSTS."
    sites = sorted({f"{handshake.scheme}://{host}" for handshake in handshakes})
    if origin in sites or _trusted(origin):
        return None
    this_site = " or ".join(repr(site) for site in sites)
    return f"from origin {origin[:200]!r}: the socket came to {this_site}, and DJANGO_CSRF_TRUSTED_ORIGINS lacks it."


class _Handshake(ASGIRequest):
    """A socket's opening handshake as a Django request, so that Django tells its host and scheme.

    `get_host` then checks the ``Host`` header against ``ALLOWED_HOSTS``, and the
    scheme follows ``SECURE_PROXY_SSL_HEADER`` (a proxy's ``X-Forwarded-Proto``)
    where set, exactly as for the pages.
    """

    def __init__(self, scope: dict, scheme: str) -> None:
        # Without the query string, which Django would decode as UTF-8: only the headers matter here.
        super().__init__({**scope, "method": "GET", "scheme": scheme, "query_string": b""}, io.BytesIO())


def _possible_schemes(scope: dict) -> list[str]:
    """The schemes the page may have been served with, before any proxy header has its say.

    Daphne tells a socket's scope no scheme, even over TLS. With ``DJANGO_HTTPS``
    every page is redirected to https, so that is the one; without it, either,
    for the same host and port: one port serves one of them, and browsers let no
    https page open a plain ws:// socket.
    """
    if scope.get("scheme"):
        return [PAGE_SCHEMES.get(scope["scheme"], scope["scheme"])]
    if settings.SECURE_SSL_REDIRECT:
        return ["https"]
    # A Host without a port names the scheme's default port: on Daphne's own port 80 or 443, that
    # port says the scheme (https://host is port 443, another server, for a socket that came to 80).
    host = _header(scope, b"host") or ""
    listening = (scope.get("server") or [None, None])[1]
    if ":" not in host.rsplit("]", 1)[-1] and listening in DEFAULT_PORT_SCHEMES:
        return [DEFAULT_PORT_SCHEMES[listening]]
    return ["http", "https"]


DEFAULT_PORT_SCHEMES = {80: "http", 443: "https"}


def _trusted(origin: str) -> bool:
    """Whether ``CSRF_TRUSTED_ORIGINS`` names the origin, as Django reads it (``https://*.example.org`` too)."""
    scheme, netloc = urlsplit(origin)[:2]
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in trusted:
            if origin == trusted:
                return True
            continue
        trusted_scheme, trusted_netloc = urlsplit(trusted)[:2]
        if scheme == trusted_scheme and is_same_domain(netloc, trusted_netloc.lstrip("*")):
            return True
    return False


def _header(scope: dict, name: bytes) -> str | None:
    for header, value in scope.get("headers", []):
        if header == name:
            return value.decode("latin1")
    return None


def _parses(origin: str) -> bool:
    try:
        urlsplit(origin).port  # noqa: B018 - reading it is the check: a bad host or port raises
    except ValueError:
        return False
    return True
