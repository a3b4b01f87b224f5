"""``POST /api/users/<username>/notifications``: notify a signed-in person from another service.

The same callers as the room API (`chat.api`): ``Authorization: Bearer
<CHAT_API_TOKEN>``, or a logged-in staff user with Django's CSRF token; the
same error shapes, and the same rate limit per caller.
"""

import json
import math

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from chat import limits, protocol
from chat.api import authenticate, content_length, error
from notifications import selectors, services
from notifications.models import LINK_MAX_LENGTH, TEXT_MAX_LENGTH

# The largest body a valid request can need: text and link each escaped to the full, and the keys.
MAX_BODY_BYTES = 12 * (TEXT_MAX_LENGTH + LINK_MAX_LENGTH) + 256


def parse_body(body: bytes) -> tuple[str, str]:
    """The text and link of a request body, or raise `protocol.ProtocolError`."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise protocol.ProtocolError(protocol.INVALID_JSON, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        detail = 'Send a JSON object, such as {"message": "Your essay was marked", "link": "/chat/english/"}.'
        raise protocol.ProtocolError(protocol.INVALID_FRAME, detail)
    protocol.check_fields(data, {"message", "link"}, "message")
    return services.check_text(data["message"]), services.check_link(data.get("link"))


@csrf_exempt  # token callers have no CSRF token; `authenticate` checks it for sessions
async def post_user_notification(request: HttpRequest, username: str) -> JsonResponse:
    """Notify an account; answers with the stored notification's frame (201)."""
    if request.method != "POST":
        return error(405, "method_not_allowed", "Use POST.", Allow="POST")
    caller = await authenticate(request)
    if isinstance(caller, JsonResponse):
        return caller
    if content_length(request) > MAX_BODY_BYTES or len(request.body) > MAX_BODY_BYTES:
        return error(413, "body_too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        text, link = parse_body(request.body)
    except protocol.ProtocolError as exc:
        return error(413 if exc.code == protocol.MESSAGE_TOO_LONG else 400, exc.code, exc.detail)
    user = await get_user_model().objects.filter(username=username, is_active=True).afirst()
    if user is None:
        return error(404, "unknown_user", f"No active account is called {username[:150]!r}.")
    bucket = limits.api_callers.bucket(caller, settings.CHAT_RATE_LIMIT, settings.CHAT_RATE_BURST)
    if not bucket.take():
        wait = bucket.seconds_until_next()
        headers = {"Retry-After": str(math.ceil(wait))}
        return error(429, protocol.RATE_LIMITED, f"Too many requests; wait {wait:.1f} s.", **headers)
    notification = await services.anotify(user, text, link)
    return JsonResponse(selectors.notification_frame(notification), status=201)
