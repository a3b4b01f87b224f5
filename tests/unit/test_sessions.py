"""Sockets get their session and user as Channels' AuthMiddlewareStack gives them, and the server's own send."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat.sessions import socket_auth_stack
from tests.unit.communicator import login_data, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def call_through_the_stack(*headers: tuple[bytes, bytes]) -> tuple[dict, object, object]:
    """Run a socket's scope through the stack; return the scope and send the application saw, and the server's send."""
    seen: dict = {}

    async def application(scope: dict, receive: object, send: object) -> None:
        seen.update(scope=scope, send=send)

    async def server_send(message: dict) -> None:
        raise AssertionError("the stack itself sends nothing")

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/ws/chat/physics/", "headers": list(headers)}
    await socket_auth_stack(application)(scope, receive, server_send)
    return seen["scope"], seen["send"], server_send


async def test_a_logged_in_socket_gets_its_user_and_session() -> None:
    ada = await database_sync_to_async(User.objects.create_user)("ada", password="pw-for-tests-only")
    scope, _, _ = await call_through_the_stack(await session_cookie(display_name="Ada L.", **login_data(ada)))
    assert scope["user"].is_authenticated
    assert scope["user"].get_username() == "ada"
    assert scope["session"]["display_name"] == "Ada L."


async def test_a_guest_socket_gets_an_anonymous_user_and_an_empty_session() -> None:
    scope, _, _ = await call_through_the_stack()
    assert not scope["user"].is_authenticated
    assert await database_sync_to_async(scope["session"].is_empty)()


async def test_frames_go_to_the_servers_own_send_without_a_wrapper() -> None:
    # Channels' SessionMiddleware wraps send to save sessions on HTTP responses, a
    # check a socket would pay on every frame for a message type it never sends.
    _, send, server_send = await call_through_the_stack()
    assert send is server_send
