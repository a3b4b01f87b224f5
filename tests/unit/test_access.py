"""Logging out or losing powers takes effect on sockets that are already open."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from chat import access
from chat.models import Message
from tests.unit.communicator import ChatCommunicator, connect

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-for-tests-only"


@database_sync_to_async
def logged_in_client(username: str, **flags: bool) -> tuple[Client, User]:
    user = User.objects.create_user(username, password=PASSWORD, **flags)
    client = Client()
    client.force_login(user)
    return client, user


async def socket_of(client: Client, room: str = "lobby") -> ChatCommunicator:
    return await connect(room, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))


async def assert_closed_for_account_change(socket: ChatCommunicator) -> None:
    assert (await socket.receive_json_from())["code"] == "account_changed"
    assert (await socket.receive_output())["code"] == 4001


async def assert_still_open(socket: ChatCommunicator, text: str) -> None:
    await socket.send_json_to({"message": text})
    assert (await socket.receive_json_from())["message"] == text


async def save(user: User, **fields: object) -> None:
    for name, value in fields.items():
        setattr(user, name, value)
    await database_sync_to_async(user.save)()


async def test_logging_out_closes_that_session_s_sockets_and_they_come_back_as_a_guest() -> None:
    teacher, _ = await logged_in_client("teacher", is_staff=True)
    other_browser = Client()
    await database_sync_to_async(other_browser.force_login)(await User.objects.aget(username="teacher"))
    here, there = await socket_of(teacher), await socket_of(other_browser)
    await assert_still_open(here, "before")
    await there.receive_json_from()

    await database_sync_to_async(teacher.post)("/admin/logout/")
    await assert_closed_for_account_change(here)
    await assert_still_open(there, "the other browser is still logged in")  # logout ends one session only

    again = await socket_of(teacher, "physics")
    await again.send_json_to({"message": "after"})
    frame = await again.receive_json_from()
    assert (frame["message"], frame["author"][:6]) == ("after", "guest-")
    await there.disconnect()
    await again.disconnect()


@pytest.mark.parametrize(
    ("flags", "change"),
    [
        ({"is_staff": True}, {"is_staff": False}),
        ({}, {"is_active": False}),
        ({"is_superuser": True}, {"is_superuser": False}),
    ],
)
async def test_losing_a_power_closes_every_socket_of_the_person(flags: dict, change: dict) -> None:
    teacher, user = await logged_in_client("teacher", **flags)
    student, _ = await logged_in_client("student")
    sockets = [await socket_of(teacher), await socket_of(teacher, "physics")]
    bystander = await socket_of(student)
    await save(user, **change)
    for socket in sockets:
        await assert_closed_for_account_change(socket)
    await assert_still_open(bystander, "nothing happened to me")
    await bystander.disconnect()


async def test_a_new_password_closes_the_sockets_of_the_old_sessions() -> None:
    teacher, user = await logged_in_client("teacher")
    socket = await socket_of(teacher)
    user.set_password("another-password-for-tests")
    await save(user)
    await assert_closed_for_account_change(socket)


async def test_a_change_that_takes_no_power_away_leaves_sockets_open() -> None:
    teacher, user = await logged_in_client("teacher", is_staff=True)
    socket = await socket_of(teacher)
    await save(user, first_name="Ada", email="ada@example.com")
    await assert_still_open(socket, "still here")
    await socket.disconnect()


async def test_a_delete_asks_the_database_even_when_the_logout_was_not_heard() -> None:
    teacher, _ = await logged_in_client("teacher", is_staff=True)
    socket = await socket_of(teacher)
    await assert_still_open(socket, "keep me")
    # The session ends without any signal (expired, or its event lost): the socket is not told.
    await Session.objects.aupdate(expire_date=timezone.now() - timedelta(seconds=1))
    await socket.send_json_to({"type": "delete", "id": 1})
    assert (await socket.receive_json_from())["code"] == "forbidden"
    assert await Message.objects.filter(room_message_id=1).aexists()
    await socket.disconnect()


async def test_staff_still_logged_in_may_delete() -> None:
    teacher, _ = await logged_in_client("teacher", is_staff=True)
    socket = await socket_of(teacher)
    await assert_still_open(socket, "remove me")
    await socket.send_json_to({"type": "delete", "id": 1})
    assert await socket.receive_json_from() == {"type": "delete", "id": 1}
    await socket.disconnect()


async def test_logging_in_as_someone_else_over_a_session_closes_its_sockets() -> None:
    # Django flushes the session without a logout signal: the session row going is what tells.
    teacher, _ = await logged_in_client("teacher", is_staff=True)
    socket = await socket_of(teacher)
    student = await database_sync_to_async(User.objects.create_user)("student", password=PASSWORD)
    await database_sync_to_async(teacher.force_login)(student)
    await assert_closed_for_account_change(socket)


async def test_no_client_input_names_a_session_in_an_event() -> None:
    # Events carry a digest of the session key, never the key that would log a browser in.
    event = access.account_changed_event("7", "the-secret-session-key")
    assert "the-secret-session-key" not in str(event)
    assert access.concerns(event, await User.objects.acreate(pk=7, username="seven"), "the-secret-session-key")
