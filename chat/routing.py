"""WebSocket routes, the counterpart of urls.py."""

from django.urls import re_path

from chat import consumers
from notifications.consumers import NotificationConsumer

websocket_urlpatterns = [
    re_path(r"^ws/chat/(?P<room_name>[^/]+)/$", consumers.ChatConsumer.as_asgi()),
    re_path(r"^ws/lobby/$", consumers.LobbyConsumer.as_asgi()),
    re_path(r"^ws/notifications/$", NotificationConsumer.as_asgi()),
    # Last: every other path gets an error frame, not a routing traceback.
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),
]
