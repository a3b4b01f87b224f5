"""Rooms and sessions cost a row only once someone says or chooses something; opening and visiting store nothing."""

import asyncio
import importlib
import uuid
from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async
from django.apps import apps as django_apps
from django.contrib.sessions.models import Session
from django.test import AsyncClient, Client, override_settings

from accounts.identity import GUEST_COOKIE
from chat import protocol, selectors, services
from chat.models import Message, Room
from chat.process import process_state
from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, ChatCommunicator, connect, fence

pytestmark = pytest.mark.django_db(transaction=True)

SOCKETS = 20


@database_sync_to_async
def stored() -> tuple[list[str], int, int]:
    """The names of the stored rooms, and how many messages and sessions are stored."""
    return sorted(Room.objects.values_list("name", flat=True)), Message.objects.count(), Session.objects.count()


async def test_sockets_that_open_and_close_new_rooms_store_nothing() -> None:
    for number in range(SOCKETS):
        query = "?after=7" if number % 2 else ""  # a catch-up in a room with no row: nothing to send
        socket = await connect(f"empty-{number}", query=query)
        await fence(f"empty-{number}", socket)  # its first frame: no history, no error
        await socket.disconnect()
    assert await stored() == ([], 0, 0)


async def test_saying_something_stores_the_room_once() -> None:
    ann, bob = await connect("physics"), await connect("physics")  # bob takes the process's copy of the history
    assert await stored() == ([], 0, 0)
    await ann.send_json_to({"message": "first", "client_id": "a1"})
    answers = [await ann.receive_json_from() for _ in range(2)]
    assert sorted((frame["type"], frame["id"]) for frame in answers) == [("ack", 1), ("chat.message", 1)]
    await bob.send_json_to({"message": "second"})
    assert [(await bob.receive_json_from())["id"] for _ in range(2)] == [1, 2]
    assert (await ann.receive_json_from())["id"] == 2
    assert await stored() == (["physics"], 2, 0)
    late = await connect("physics")
    assert [(await late.receive_json_from())["message"] for _ in range(2)] == ["first", "second"]
    for socket in (ann, bob, late):
        await socket.disconnect()


async def test_a_socket_that_opened_a_room_before_its_row_existed_fills_a_hole_from_it() -> None:
    ann = await connect("physics")
    await fence("physics", ann)
    # Said elsewhere (another process, say): the first message's event is lost on the way.
    room = await selectors.aroom_named("physics")
    await database_sync_to_async(services.save_message)(room, "bob", "lost on the way")
    second = await database_sync_to_async(services.save_message)(room, "bob", "arrives")
    await services.apublish(room.name, selectors.message_frame(second))
    assert [(await ann.receive_json_from())["message"] for _ in range(2)] == ["lost on the way", "arrives"]
    await ann.disconnect()


async def test_the_history_copy_of_a_room_without_a_row_follows_its_first_message() -> None:
    ann = await connect("physics")
    await ann.send_json_to({"message": "hello"})
    assert (await ann.receive_json_from())["id"] == 1
    copy = process_state().histories.rooms["physics"]
    # The hub hands the event to the room's members one loop turn at a time, the copy among them.
    async with asyncio.timeout(5):
        while [frame["message"] for frame in (await copy.recent())[1]] != ["hello"]:
            await asyncio.sleep(0.01)
    bob = await connect("physics")
    assert (await bob.receive_json_from())["message"] == "hello"  # from the copy, which followed the first message
    await ann.disconnect()
    await bob.disconnect()


async def test_a_staff_delete_in_a_room_without_a_row_is_an_unknown_message() -> None:
    room = await selectors.aroom_named("physics")
    assert not await services.apost_deletion(room, 1)
    assert await stored() == ([], 0, 0)


def test_a_room_s_page_works_before_anything_was_said_in_it(client: Client) -> None:
    assert client.get("/chat/physics/").status_code == 200
    assert not Room.objects.exists()


def test_a_notification_stores_its_room_but_a_refused_one_does_not() -> None:
    with pytest.raises(protocol.ProtocolError):
        services.post_notification("physics", "   ")
    assert not Room.objects.exists()
    services.post_notification("physics", "The lab closes at six.")
    assert list(Room.objects.values_list("name", "last_message_id")) == [("physics", 1)]


async def socket_from(address: str, room: str) -> ChatCommunicator:
    socket = ChatCommunicator(application, f"/ws/chat/{quote(room)}/", headers=[ORIGIN, HOST])
    socket.scope["client"] = [address, 50000]  # read when the consumer starts, on the first await
    connected, _ = await socket.connect()
    assert connected
    return socket


async def say_in(address: str, room: str, text: str) -> dict:
    """The first frame about a message sent with a client id (its ack, itself or an error), on a socket of its own."""
    socket, client_id = await socket_from(address, room), uuid.uuid4().hex
    await socket.send_json_to({"message": text, "client_id": client_id})
    while True:
        frame = await socket.receive_json_from()
        if frame.get("client_id") == client_id or frame.get("message") == text:
            break
    await socket.disconnect()
    return frame


@override_settings(CHAT_NEW_ROOMS_PER_IP=2)
async def test_an_address_may_start_only_so_many_rooms_an_hour() -> None:
    for number in range(5):  # opening rooms is free
        await (await socket_from("10.0.0.1", f"only-opened-{number}")).disconnect()
    assert (await say_in("10.0.0.1", "one", "hi"))["type"] != "error"
    assert (await say_in("10.0.0.1", "two", "hi"))["type"] != "error"
    refused = await say_in("10.0.0.1", "three", "hi")
    assert (refused["type"], refused["code"]) == ("error", "too_many_rooms")
    assert "2 new rooms" in refused["detail"]
    assert (await say_in("10.0.0.1", "one", "again"))["type"] != "error", "rooms in use stay open to it"
    assert (await say_in("10.0.0.2", "three", "hi"))["type"] != "error", "other addresses are not held back"
    assert (await stored())[:2] == (["one", "three", "two"], 4)


async def test_visitors_who_choose_no_name_store_no_session() -> None:
    for path in ["/chat/", "/chat/physics/"] * (SOCKETS // 2):
        response = await AsyncClient().get(path)  # a new client each time: no cookies
        assert response.status_code == 200
    assert await stored() == ([], 0, 0)


async def test_a_guest_s_page_and_sockets_share_the_name_made_for_them() -> None:
    page = await AsyncClient().get("/chat/physics/")
    cookie = page.cookies[GUEST_COOKIE].value
    name = cookie.split(":")[0]
    assert name.startswith("guest-")
    assert f'"{name}"' in page.content.decode()  # the page's own idea of who it is (json_script)
    ann = await connect("physics", (b"cookie", f"{GUEST_COOKIE}={cookie}".encode()))
    await ann.send_json_to({"message": "hi"})
    assert (await ann.receive_json_from())["author"] == name
    await ann.disconnect()
    assert (await stored())[2] == 0


@pytest.mark.parametrize("cookie", ["teacher", "guest-abc123", "guest-abc123:forgedtokenforgedtoken"])
async def test_a_guest_cookie_names_only_a_guest_this_server_made(cookie: str) -> None:
    # Unsigned, a cookie could name anyone, or take another guest's name and key.
    ann = await connect("physics", (b"cookie", f"{GUEST_COOKIE}={cookie}".encode()))
    await ann.send_json_to({"message": "hi"})
    author = (await ann.receive_json_from())["author"]
    assert author not in ("teacher", "guest-abc123")
    assert author.startswith("guest-")
    await ann.disconnect()


def test_choosing_a_name_stores_the_session_and_keeping_the_made_up_one_does_not(client: Client) -> None:
    made_up = client.get("/chat/").context["form"].initial["display_name"]
    assert client.post("/chat/", {"room_name": "physics", "display_name": made_up}).status_code == 302
    assert not Session.objects.exists()
    assert client.get("/chat/physics/").context["display_name"] == made_up
    assert client.post("/chat/", {"room_name": "physics", "display_name": "Ann"}).status_code == 302
    assert Session.objects.count() == 1
    assert client.get("/chat/physics/").context["display_name"] == "Ann"


def test_the_migration_forgets_only_rooms_in_which_nothing_was_ever_said() -> None:
    migration = importlib.import_module("chat.migrations.0004_forget_rooms_never_used")
    Room.objects.create(name="opened-once")  # what opening a room left behind before
    services.post_notification("used", "hello")
    services.post_deletions(list(Message.objects.filter(room__name="used")))  # emptied, but its ids stay given out
    services.post_notification("busy", "hello")
    migration.forget_rooms_never_used(django_apps, None)
    assert sorted(Room.objects.values_list("name", flat=True)) == ["busy", "used"]
