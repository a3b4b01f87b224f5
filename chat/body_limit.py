"""A ceiling on the size of HTTP request bodies, for every path, checked before anything reads them.

Django's own limit (`DATA_UPLOAD_MAX_MEMORY_SIZE`) applies only when a form is
parsed, and only after its ASGI handler has read the whole body; a view that
reads `request.body` itself, as the HTTP API does, has none. So an oversized
body would be read in full, whoever sent it, before anything could refuse it.

`RequestBodyLimit` stands in front of Django. A body announced larger than the
limit (`Content-Length`) is answered 413 before one byte of it is read; a body
without a length (chunked) is counted as it arrives and refused as soon as it
passes the limit, after which Django is told the client went away, so it stops
reading and answers nothing itself.

Under Daphne that alone would not keep the body out of memory: Twisted receives
a request's whole body before Daphne starts the application (in memory up to
100 kB, in a temporary file beyond), and Daphne then puts all of it on the
application's queue at once. With this middleware alone, a 200 MiB upload still
raised Daphne's memory by 206 MiB while it was refused (by 2 MiB with what
follows). Twisted even parses a POSTed form first, reading a multipart body whole
into memory. So
`bound_daphne_request_bodies` makes Daphne keep no more than the limit and one
byte of any body, dropping the rest as it arrives (enough for this middleware to
see that it is too large), and leaves form parsing to Django. The upload still
crosses the network; only a proxy in front stops it at the headers (deploy/).
"""

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chat import limits
from chat.client_errors import one_line

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The HTTP API answers every error as JSON in the socket's shape (docs/protocol.md); pages get plain text.
API_PATH_PREFIX = "/api/"
BODY_TOO_LARGE = "body_too_large"

logger = logging.getLogger(__name__)


def announced_length(scope: Scope) -> int | None:
    """The body's `Content-Length`, or None when the request does not say (or says nothing readable)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


def refusal(path: str, max_bytes: int) -> tuple[bytes, bytes]:
    """The 413 answer's content type and body: JSON for the API, a sentence for anything else."""
    detail = f"The request body is larger than {max_bytes} bytes."
    if path.startswith(API_PATH_PREFIX):
        body = json.dumps({"type": "error", "code": BODY_TOO_LARGE, "detail": detail})
        return b"application/json", body.encode()
    return b"text/plain; charset=utf-8", f"{detail}\n".encode()


class RequestBodyLimit:
    """ASGI middleware: answer 413 to any HTTP request whose body is over `max_bytes` (0: no limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.max_bytes:
            return await self.app(scope, receive, send)
        announced = announced_length(scope)
        if announced is not None and announced > self.max_bytes:
            return await self.refuse(scope, send)

        received = 0
        refused = False

        async def receive_within_limit() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    await self.refuse(scope, send)
                    # Django then stops reading and sends nothing: to it, the client has gone.
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, receive_within_limit, send_unless_refused)

    async def refuse(self, scope: Scope, send: Send) -> None:
        path = scope.get("path", "")
        client = limits.client_address(scope)
        if limits.may_log_about(client):
            logger.warning(
                "Refused a request body over %d bytes: %s %s from %s.",
                self.max_bytes,
                scope["method"],
                one_line(path[:200]),
                client,
            )
        content_type, body = refusal(path, self.max_bytes)
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def bound_daphne_request_bodies(max_bytes: int) -> None:
    """Make Daphne keep at most `max_bytes` + 1 bytes of any request body, and leave form parsing to Django.

    Swaps Daphne's request class (`daphne.http_protocol.WebRequest`, which its
    HTTP factory looks up for each connection) for `BoundedWebRequest`; 0 puts
    Daphne's own back.
    """
    from daphne import http_protocol

    original = getattr(http_protocol.WebRequest, "daphne_request", http_protocol.WebRequest)
    if not max_bytes:
        http_protocol.WebRequest = original
        return

    class BoundedWebRequest(original):
        """Daphne's request, storing no more of a body than the limit and one byte, and parsing no forms.

        Twisted writes each piece of a body to the request's content file as it
        arrives (`handleContentChunk`); past the limit the pieces are dropped.
        Twisted would also parse every POSTed form into `args` before Daphne
        starts the application, reading a multipart body whole into memory and
        answering a malformed one with a bare 400 that nothing logs; Daphne never
        reads `args`, and Django parses the form again anyway.
        """

        daphne_request = original

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
            room = max_bytes + 1 - self.content.tell()
            if room > 0:
                super().handleContentChunk(data[:room])

    http_protocol.WebRequest = BoundedWebRequest
