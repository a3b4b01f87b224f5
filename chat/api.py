"""The HTTP API for other services: ``POST /api/rooms/<room>/messages`` posts a notification to a public room.

Callers authenticate with ``Authorization: Bearer <CHAT_API_TOKEN>``, or as a
logged-in staff user (with Django's CSRF token, as any form would).
"""

import hmac
import json
import math

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from accounts.identity import DISPLAY_NAME_MAX_LENGTH, InvalidDisplayName, clean_display_name
from chat import limits, protocol, selectors, services
from chat.groups import InvalidRoomName


def max_body_bytes() -> int:
    """The largest body a valid request can need: message and author each escaped to the full (`max_frame_length`)."""
    return protocol.max_frame_length(settings.CHAT_MAX_MESSAGE_LENGTH) + 12 * DISPLAY_NAME_MAX_LENGTH


def error(status: int, code: str, detail: str, **headers: str) -> JsonResponse:
    return JsonResponse(protocol.error(code, detail), status=status, headers=headers)


async def authenticate(request: HttpRequest) -> str | JsonResponse:
    """The caller's name for rate limiting, or the error response that refuses it."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    # Another scheme (the Basic auth of a site in front, say) is not meant for this API: the session decides.
    if scheme.lower() == "bearer":
        token = token.strip()
        expected = settings.CHAT_API_TOKEN
        # Without a token of its own the server takes none, not even an empty one; it says so,
        # where "the token is wrong" would send the caller to check the wrong end.
        if not expected:
            return error(
                401,
                "api_token_not_configured",
                "This server has no API token: set CHAT_API_TOKEN in the server's environment and restart it, "
                "or log in as staff.",
                **{"WWW-Authenticate": "Bearer"},
            )
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            return error(401, "invalid_token", "The bearer token is wrong.", **{"WWW-Authenticate": "Bearer"})
        return "token"
    user = await request.auser()
    if not user.is_authenticated:
        if settings.CHAT_API_TOKEN:
            detail = "Send Authorization: Bearer <token>, or log in as staff."
        else:
            detail = "Log in as staff; bearer tokens are off until CHAT_API_TOKEN is set in the server's environment."
        return error(401, "authentication_required", detail, **{"WWW-Authenticate": "Bearer"})
    if not user.is_staff:
        return error(403, protocol.FORBIDDEN, "Only staff can post notifications.")
    # A session is a browser's: it needs the CSRF token like any form post.
    if CsrfViewMiddleware(lambda request: None).process_view(request, None, (), {}) is not None:
        return error(403, "csrf_failed", "Send the X-CSRFToken header with the csrftoken cookie's value.")
    return f"user:{user.pk}"


def content_length(request: HttpRequest) -> int:
    """The body's announced length (0 when unsaid or unreadable: then the body read is measured)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def refuse_large_body(request: HttpRequest, limit: int) -> JsonResponse | None:
    """The 413 for a body larger than `limit` bytes; Content-Length first, so an announced one is never read."""
    if content_length(request) > limit or len(request.body) > limit:
        return error(413, "body_too_large", f"The body is larger than {limit} bytes.")
    return None


def load_object(body: bytes, example: str) -> dict:
    """The JSON object a request body holds, or raise `ProtocolError` (`example` shows one in the error)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise protocol.ProtocolError(protocol.INVALID_JSON, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise protocol.ProtocolError(protocol.INVALID_FRAME, f"Send a JSON object, such as {example}.")
    return data


def refused_body(exc: protocol.ProtocolError) -> JsonResponse:
    """The answer to a body `ProtocolError`: 413 for text too long, 400 for the rest."""
    return error(413 if exc.code == protocol.MESSAGE_TOO_LONG else 400, exc.code, exc.detail)


def spend_rate(caller: str) -> JsonResponse | None:
    """Take one request from the caller's budget (shared by the API's endpoints); the 429 when it is spent."""
    bucket = limits.api_callers.bucket(caller, settings.CHAT_RATE_LIMIT, settings.CHAT_RATE_BURST)
    if bucket.take():
        return None
    seconds = str(math.ceil(bucket.seconds_until_next()))  # whole seconds, as Retry-After has them
    return error(429, protocol.RATE_LIMITED, f"Too many requests; wait {seconds} s.", **{"Retry-After": seconds})


@csrf_exempt  # a caller with a token and a wrong path is told about the path, not about a CSRF cookie
def no_endpoint(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/: a JSON 404 that names the endpoints, not Django's HTML page."""
    detail = (
        f"No API endpoint at {request.path[:200]!r}. The endpoints are POST /api/rooms/<room>/messages and "
        "POST /api/users/<username>/notifications, without a trailing slash."
    )
    return error(404, protocol.NOT_FOUND, detail)


def parse_body(body: bytes) -> tuple[str, str]:
    """The text and author of a request body, or raise `ProtocolError`."""
    data = load_object(body, '{"message": "hello"}')
    protocol.check_fields(data, {"message", "author"}, "message")
    text = protocol.check_message_text(data["message"], settings.CHAT_MAX_MESSAGE_LENGTH)
    author = data.get("author", services.SYSTEM_AUTHOR)
    try:
        author = clean_display_name(author) if isinstance(author, str) else clean_display_name("")
    except InvalidDisplayName as exc:
        raise protocol.ProtocolError(protocol.INVALID_FIELD, f'"author": {exc}') from None
    return text, author


@csrf_exempt  # token callers have no CSRF token; `authenticate` checks it for sessions
async def post_room_message(request: HttpRequest, room_name: str) -> JsonResponse:
    """Post a notification to a room; answers with the stored message's frame (201)."""
    if request.method != "POST":
        return error(405, "method_not_allowed", "Use POST.", Allow="POST")
    caller = await authenticate(request)
    if isinstance(caller, JsonResponse):
        return caller
    try:
        room_name = (await services.anotification_room(room_name)).name
    except InvalidRoomName as exc:
        return error(404, protocol.INVALID_ROOM, str(exc))
    except protocol.ProtocolError as exc:  # a private room: notifications are for public ones
        return error(403, exc.code, exc.detail)
    refusal = refuse_large_body(request, max_body_bytes())
    if refusal is not None:
        return refusal
    try:
        text, author = parse_body(request.body)
    except protocol.ProtocolError as exc:
        return refused_body(exc)
    refusal = spend_rate(caller)
    if refusal is not None:
        return refusal
    message = await services.apost_notification(room_name, text, author)
    return JsonResponse(selectors.message_frame(message), status=201)
