"""Smoke: the notification socket's inbox, a live notification, and a read told to the other tab."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from mysite.asgi import application
from notifications import services
from tests.unit.communicator import HOST, ORIGIN, login_data, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def inbox_socket(user: User) -> WebsocketCommunicator:
    cookie = await session_cookie(**login_data(user))
    socket = WebsocketCommunicator(application, "/ws/notifications/", headers=[ORIGIN, HOST, cookie])
    connected, _ = await socket.connect()
    assert connected
    return socket


async def test_smoke() -> None:
    ann = await database_sync_to_async(User.objects.create_user)("ann", password="x" * 12)
    await services.anotify(ann, "before", "/chat/x/")
    one, two = await inbox_socket(ann), await inbox_socket(ann)
    for socket in (one, two):
        inbox = await socket.receive_json_from()
        assert inbox["type"] == "inbox" and inbox["unread"] == [1] and inbox["notifications"][0]["message"] == "before"
    await services.anotify(ann, "live")
    for socket in (one, two):
        frame = await socket.receive_json_from()
        assert frame["type"] == "notification" and frame["message"] == "live" and frame["id"] == 2
    await one.send_json_to({"type": "notification.read", "ids": [1]})
    for socket in (one, two):
        assert await socket.receive_json_from() == {"type": "notification.read", "ids": [1], "up_to": None}
    await two.send_json_to({"type": "notification.read", "all": True})
    for socket in (one, two):
        assert await socket.receive_json_from() == {"type": "notification.read", "ids": [], "up_to": 2}
    await one.disconnect()
    await two.disconnect()
