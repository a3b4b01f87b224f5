"""A `WebsocketCommunicator` for tests about messages: it passes over presence and typing frames."""

import secrets
from collections.abc import Callable
from urllib.parse import quote

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from accounts.identity import guest_key
from chat.groups import MENTIONS_GROUP, room_group_name
from mysite.asgi import application

# What a browser on a page of http://127.0.0.1 (port 80) sends with its socket: the Origin check compares the two.
ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")

# Frames about people rather than messages; the tests of presence read them with the plain communicator.
AMBIENT = {"presence", "typing"}


class ChatCommunicator(WebsocketCommunicator):
    async def receive_json_from(self, timeout: float = 1) -> dict:
        while True:
            frame = await super().receive_json_from(timeout)
            if frame.get("type") not in AMBIENT:
                return frame


# The marker's id: no message has it (ids start at 1), so a page would delete nothing for it.
MARKER_ID = 0


async def fence(room: str, *sockets: ChatCommunicator) -> None:
    """Send a last event through `room`'s Group and check that it is each socket's next frame.

    A Group's events reach each socket in the order they were sent, so a socket
    whose next frame is the marker was sent nothing else before it, by the Group
    or by its consumer for the frames it had answered by then: "nothing more
    arrived" as a fact, not a guess after a wait.
    """
    await get_channel_layer().group_send(room_group_name(room), {"type": "chat.delete", "id": MARKER_ID})
    for socket in sockets:
        assert await socket.receive_json_from() == {"type": "delete", "id": MARKER_ID}


async def mention_fence(socket: WebsocketCommunicator) -> None:
    """`fence` for mentions: a last mention of the socket's person (`socket_as`), through the mentions' Group."""
    marker = {"room": "", "id": MARKER_ID, "message": "", "author": "", "created": "", "kind": "system"}
    await get_channel_layer().group_send(MENTIONS_GROUP, {**marker, "type": "chat.mention", "to": [socket.person_key]})
    assert await socket.receive_json_from() == {**marker, "type": "mention"}


@database_sync_to_async
def session_cookie(**data: str) -> tuple[bytes, bytes]:
    """A Cookie header for a new session holding `data` (``display_name``, or a logged-in user's keys)."""
    session = SessionStore()
    session.update(data)
    session.create()
    return (b"cookie", f"sessionid={session.session_key}".encode())


async def logged_in_client(user: User) -> Client:
    """A test client logged in as `user`, as a browser is: its session is the one its sockets show."""
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    return client


def cookie_header(client: Client) -> tuple[bytes, bytes]:
    """The Cookie header of a socket opened by the browser `client` stands for."""
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def login_data(user: User) -> dict[str, str]:
    """The session keys of a logged-in `user`, for `session_cookie`."""
    return {
        "_auth_user_id": str(user.pk),
        "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
        "_auth_user_hash": user.get_session_auth_hash(),
    }


async def socket_as(
    name: str,
    path: str,
    communicator: type[WebsocketCommunicator] = ChatCommunicator,
    *,
    tab_of: WebsocketCommunicator | None = None,
) -> WebsocketCommunicator:
    """A connected socket at `path` of a guest who chose the name `name` in the lobby, or another tab of `tab_of`.

    As the lobby keeps a guest's choice, the session holds the name and the
    guest's key; the socket's ``person_key`` is that key, its ``cookie`` the session's.
    """
    if tab_of is not None:
        cookie, key = tab_of.cookie, tab_of.person_key
    else:
        key = guest_key(secrets.token_urlsafe(18))
        cookie = await session_cookie(display_name=name, guest_key=key)
    socket = communicator(application, path, headers=[ORIGIN, HOST, cookie])
    socket.cookie, socket.person_key = cookie, key
    connected, _ = await socket.connect()
    assert connected
    return socket


async def connect(room: str = "lobby", *headers: tuple[bytes, bytes], query: str = "") -> ChatCommunicator:
    """A connected socket in `room` (a guest, unless `headers` carry a session cookie)."""
    socket = ChatCommunicator(application, f"/ws/chat/{quote(room)}/{query}", headers=[ORIGIN, HOST, *headers])
    connected, _ = await socket.connect()
    assert connected
    return socket


def room_listener(room: str) -> Callable[[], dict]:
    """For sync tests: join a channel of its own to `room`'s Group; call the result for the next event."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(room_group_name(room), channel)
    return lambda: async_to_sync(layer.receive)(channel)
