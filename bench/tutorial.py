"""The baseline: the Channels tutorial's async chat consumer and asgi.py, as the tutorial writes them.

Run as ``DJANGO_SETTINGS_MODULE=bench.tutorial daphne bench.tutorial:application``.
It is this module's own minimal Django project: no pages, and a database only
because the tutorial's AuthMiddlewareStack expects one (the benchmark's clients
carry no session cookie, so it is never queried).
"""

import json
import os

import django
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "channels"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
# The tutorial's Redis layer. Its hosts as dicts only so that redis-py 8's 5 s socket
# timeout doesn't end the benchmark's quiet moments (see PITFALLS in the project's docs).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": None}]},
    }
}


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        text_data_json = json.loads(text_data)
        message = text_data_json["message"]
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        message = event["message"]
        await self.send(text_data=json.dumps({"message": message}))


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.tutorial")
django.setup()
websocket_urlpatterns = [re_path(r"ws/chat/(?P<room_name>\w+)/$", ChatConsumer.as_asgi())]
# Part 2 of the tutorial wraps the router in an origin check and the session and user middleware.
application = ProtocolTypeRouter(
    {"websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))}
)
