"""The WebSocket Origin check, saying in the log what it refused and why."""

import logging
from urllib.parse import ParseResult, urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings

logger = logging.getLogger(__name__)


class LoggedOriginValidator(OriginValidator):
    """Channels' `OriginValidator`, plus a log line for each socket it refuses.

    Channels refuses with a bare 403 and logs nothing, which leaves people
    behind a misconfigured proxy guessing.
    """

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        for name, value in scope.get("headers", []):
            if name == b"origin" and not _parses(value.decode("latin1")):
                # Channels would raise on it, a traceback for a client's mistake.
                logger.warning("Refused a WebSocket with a malformed Origin header %r.", value[:200])
                return await WebsocketDenier()(scope, receive, send)
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if super().valid_origin(parsed_origin):
            return True
        origin = parsed_origin.geturl() if parsed_origin is not None else None
        if origin:
            logger.warning("Refused a WebSocket from origin %r: its host is not in DJANGO_ALLOWED_HOSTS.", origin[:200])
        else:
            logger.warning("Refused a WebSocket without an Origin header; browsers always send one.")
        return False


def _parses(origin: str) -> bool:
    try:
        urlparse(origin).port  # noqa: B018 - reading it is the check: a bad host or port raises
    except ValueError:
        return False
    return True


def allowed_hosts_origin_validator(application: object) -> LoggedOriginValidator:
    """Only pages served from an allowed host may open sockets (Channels' `AllowedHostsOriginValidator`, logged)."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return LoggedOriginValidator(application, allowed_hosts)
