"""Abuse and failure at the socket: floods, too many sockets, moderation, a failing database, origins."""

import logging

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings

from chat import selectors, services
from chat.models import Message
from mysite.asgi import application
from tests.unit.communicator import (
    HOST,
    ORIGIN,
    ChatCommunicator,
    connect,
    fence,
    login_data,
    room_listener,
    session_cookie,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def staff_cookie(is_staff: bool) -> tuple[bytes, bytes]:
    create = database_sync_to_async(User.objects.create_user)
    user = await create(f"user-{is_staff}", password="pw-for-tests-only", is_staff=is_staff)
    return await session_cookie(**login_data(user))


@database_sync_to_async
def stored_ids(room: str = "lobby") -> list[int]:
    """The ids of the room's messages that were stored and not deleted."""
    said = Message.objects.filter(room__name=room, deleted__isnull=True)
    return list(said.values_list("room_message_id", flat=True))


@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=3)
async def test_a_flood_is_cut_to_the_burst_and_the_rest_is_refused() -> None:
    flooder = await connect()
    listener = await connect()
    for number in range(8):
        await flooder.send_json_to({"message": f"m{number}"})
    frames = [await flooder.receive_json_from() for _ in range(8)]
    assert [f["type"] for f in frames].count("chat.message") == 3
    limited = [f for f in frames if f["type"] == "error"]
    assert len(limited) == 5
    assert {f["code"] for f in limited} == {"rate_limited"}
    assert "wait" in limited[0]["detail"]
    assert [(await listener.receive_json_from())["message"] for _ in range(3)] == ["m0", "m1", "m2"]
    await fence("lobby", flooder, listener)
    assert await stored_ids() == [1, 2, 3]
    await flooder.disconnect()
    await listener.disconnect()


@override_settings(CHAT_RATE_LIMIT=0)
async def test_a_rate_of_zero_lets_everything_through() -> None:
    sender = await connect()
    for number in range(30):
        await sender.send_json_to({"message": f"m{number}"})
    assert [(await sender.receive_json_from())["type"] for _ in range(30)] == ["chat.message"] * 30
    await sender.disconnect()


@override_settings(CHAT_MAX_CONNECTIONS_PER_IP=2)
async def test_too_many_sockets_from_one_address_are_refused_with_a_reason() -> None:
    first, second = await connect(), await connect("other")
    third = ChatCommunicator(application, "/ws/chat/lobby/", headers=[ORIGIN, HOST])
    assert (await third.connect())[0]
    assert (await third.receive_json_from())["code"] == "too_many_connections"
    assert (await third.receive_output())["code"] == 4429
    await first.disconnect()
    fourth = await connect()  # a closed socket frees its place
    await fourth.send_json_to({"message": "hi"})
    assert (await fourth.receive_json_from())["message"] == "hi"
    await second.disconnect()
    await fourth.disconnect()


async def test_staff_delete_a_message_and_it_leaves_every_page() -> None:
    moderator = await connect("lobby", await staff_cookie(is_staff=True))
    student = await connect()
    await student.send_json_to({"message": "something rude"})
    assert (await moderator.receive_json_from())["id"] == 1
    assert (await student.receive_json_from())["id"] == 1
    await moderator.send_json_to({"type": "delete", "id": 1})
    for page in (moderator, student):
        assert await page.receive_json_from() == {"type": "delete", "id": 1}
    assert await stored_ids() == []
    assert await Message.objects.filter(text="something rude").aexists() is False, "its text is gone"
    await moderator.send_json_to({"type": "delete", "id": 1})
    assert (await moderator.receive_json_from())["code"] == "unknown_message"
    await moderator.disconnect()
    await student.disconnect()


async def test_others_may_not_delete() -> None:
    student = await connect("lobby", await staff_cookie(is_staff=False))
    guest = await connect()
    for page, text in ((student, "mine"), (guest, "theirs")):
        await page.send_json_to({"message": text})
        await student.receive_json_from()
        await guest.receive_json_from()
    # Each may delete their own message only: here, each tries the other's.
    for page, other_s in ((student, 2), (guest, 1)):
        await page.send_json_to({"type": "delete", "id": other_s})
        assert (await page.receive_json_from())["code"] == "forbidden"
    assert await stored_ids() == [1, 2]
    await student.disconnect()
    await guest.disconnect()


@database_sync_to_async
def break_message_inserts(broken: bool) -> None:
    # A real database error, raised by SQLite itself.
    with connection.cursor() as cursor:
        if broken:
            cursor.execute(
                "CREATE TRIGGER refuse_messages BEFORE INSERT ON chat_message "
                "BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
            )
        else:
            cursor.execute("DROP TRIGGER refuse_messages")


async def test_a_message_the_database_refuses_is_reported_and_not_relayed(caplog: pytest.LogCaptureFixture) -> None:
    sender = await connect()
    listener = await connect()
    await break_message_inserts(True)
    try:
        await sender.send_json_to({"message": "lost?", "client_id": "c1"})
        frame = await sender.receive_json_from()
    finally:
        await break_message_inserts(False)
    assert frame["type"] == "error"
    assert frame["code"] == "not_saved"
    await fence("lobby", sender, listener)
    assert await stored_ids() == []
    assert "Could not store a message" in caplog.text
    assert "Traceback" not in caplog.text
    # The socket is still usable, and the resend goes through.
    await sender.send_json_to({"message": "lost?", "client_id": "c1"})
    frames = [await sender.receive_json_from() for _ in range(2)]
    assert sorted(frame["type"] for frame in frames) == ["ack", "chat.message"]
    await sender.disconnect()
    await listener.disconnect()


@pytest.mark.parametrize(
    ("origin", "logged"),
    [
        (b"http://evil.example", "'http://evil.example'"),
        (b"http://[::1", "malformed Origin"),
        (b"http://127.0.0.1:notaport", "malformed Origin"),
        (None, "without an Origin header"),
    ],
)
async def test_refused_origins_are_logged(caplog: pytest.LogCaptureFixture, origin: bytes | None, logged: str) -> None:
    headers = [(b"origin", origin)] if origin is not None else []
    communicator = ChatCommunicator(application, "/ws/chat/lobby/", headers=[*headers, HOST])
    with caplog.at_level(logging.WARNING, logger="chat.origins"):
        connected, _ = await communicator.connect()
    assert not connected
    assert logged in caplog.text


def test_admin_deletion_reaches_open_pages(admin_client: Client) -> None:
    room = selectors.get_or_create_room("lobby")
    message = services.save_message(room, "ann", "rude")
    next_event = room_listener("lobby")
    response = admin_client.post(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert next_event() == {"type": "chat.delete", "id": 1}
    message.refresh_from_db()
    assert (message.text, message.deleted is not None) == ("", True), "its text is gone; the row stays for catch-up"
