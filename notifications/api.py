"""``POST /api/users/<username>/notifications``: notify a signed-in person from another service.

The same callers as the room API (`chat.api`): ``Authorization: Bearer
<CHAT_API_TOKEN>``, or a logged-in staff user with Django's CSRF token; the
same error shapes, and the same rate limit per caller.
"""

from channels.db import database_sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.selectors import active_account_named, shown_username
from chat import protocol
from chat.api import authenticate, error, load_object, refuse_large_body, refused_body, spend_rate
from notifications import selectors, services
from notifications.links import LINK_MAX_LENGTH
from notifications.models import TEXT_MAX_LENGTH

# The largest body a valid request can need: text and link each escaped to the full, and the keys.
MAX_BODY_BYTES = 12 * (TEXT_MAX_LENGTH + LINK_MAX_LENGTH) + 256


def parse_body(body: bytes) -> tuple[str, str]:
    """The text and link of a request body, or raise `protocol.ProtocolError`."""
    data = load_object(body, '{"message": "Your essay was marked", "link": "/chat/english/"}')
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
    refusal = refuse_large_body(request, MAX_BODY_BYTES)
    if refusal is not None:
        return refusal
    try:
        text, link = parse_body(request.body)
    except protocol.ProtocolError as exc:
        return refused_body(exc)
    user = await database_sync_to_async(active_account_named)(username)
    if user is None:
        return error(404, "unknown_user", f"No active account is called {shown_username(username)!r}.")
    refusal = spend_rate(caller)
    if refusal is not None:
        return refusal
    notification = await services.anotify(user, text, link)
    return JsonResponse(selectors.notification_frame(notification), status=201)
