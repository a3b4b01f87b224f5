"""One warning line for each request Django refuses as the client's mistake, never a traceback.

Django logs a request it answers with a 4xx status because of an exception
(a `Host` not in `DJANGO_ALLOWED_HOSTS`, a form over `DATA_UPLOAD_MAX_MEMORY_SIZE`
or with more than `DATA_UPLOAD_MAX_NUMBER_FIELDS` fields, a multipart body that
does not parse, any other `SuspiciousOperation`) with the exception's whole
traceback, the `Host` one even as an error. Anyone can send those, as often as
they like, and the log then reads as if the server were failing.

`OneLineForClientErrors`, on the handler of `django.request` and
`django.security` (mysite/settings.py), turns each such record into one warning
line naming the request. Records of 5xx answers pass unchanged, with their
tracebacks: those are the server's faults.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict

from chat import limits
from chat.client_address import http_client_address


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped, so that a client's bytes can't start a new line."""
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


class OneLineForClientErrors(logging.Filter):
    """Log a client's mistake (a record about a 4xx answer) as one warning line without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        message = record.getMessage()
        request = getattr(record, "request", None)
        if request is not None:
            address = http_client_address(request) or "an unknown address"
            if not limits.may_log_about(address):
                return False
            message = f"{message} ({status} to {request.method} {request.path[:200]} from {address})"
        record.msg, record.args = one_line(message), ()
        record.exc_info = record.exc_text = record.stack_info = None
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


def refuse_nul_characters(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware: a 400 for a request whose path, query or form holds a NUL character, before any view reads it.

    Django's form fields refuse NUL already; a view reading the path or ``request.POST``
    by itself (an invite token, a username) would pass it to the database, which PostgreSQL
    answers with an error, a 500 and a traceback: a client's mistake would read as the server's.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or _holds_nul(request.GET) or _holds_nul(request.POST):
            raise BadRequest("The request holds a NUL character.")
        return get_response(request)

    return middleware


def _holds_nul(data: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists())
