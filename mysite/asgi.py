"""ASGI entry point: `daphne mysite.asgi:application` serves HTTP and WebSockets.

HTTP requests pass the body size limit, then reach Django.
WebSockets pass the Origin check (a page of this very site: scheme, host and
port), then get the session and user, then reach the room routes.
Importing it also gives Daphne's request class and WebSocket protocol the
limits of `chat.body_limit` and `chat.daphne_limits`.
"""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
# Set up Django (apps, models) before importing code that uses the ORM.
django_asgi_app = get_asgi_application()


from chat import daphne_limits, limits  # noqa: E402
from chat.body_limit import RequestBodyLimit, bound_daphne_request_bodies  # noqa: E402
from chat.layers import log_layer_mode  # noqa: E402
from chat.origins import OriginCheck  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.sessions import socket_auth_stack  # noqa: E402

log_layer_mode()
bound_daphne_request_bodies(settings.CHAT_MAX_REQUEST_BODY)
# Daphne builds its WebSocket protocol once it serves, after importing this module.
daphne_limits.install(
    max_unsent_bytes=settings.CHAT_MAX_UNSENT_BYTES,
    control_frame_rate=settings.CHAT_CONTROL_FRAME_RATE,
    control_frame_burst=settings.CHAT_CONTROL_FRAME_BURST,
    # Far above a socket's allowance (its rate and pings, and the refusals before the consumer closes
    # it): only a client sending back to back reaches it, and is closed before its frames pile up.
    message_rate=4 * (settings.CHAT_RATE_LIMIT + limits.PING_RATE) if settings.CHAT_RATE_LIMIT > 0 else 0,
    message_burst=2 * (3 * settings.CHAT_RATE_BURST + limits.PING_BURST),
)

# --8<-- [start:application]
application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app, settings.CHAT_MAX_REQUEST_BODY),
        "websocket": OriginCheck(socket_auth_stack(URLRouter(websocket_urlpatterns))),
    }
)
# --8<-- [end:application]
