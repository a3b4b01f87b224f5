"""Names on the sockets: a guest holds their name while online, mentions reach the person they name, and a
client id is its sender's own."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient, override_settings

from accounts.identity import GUEST_COOKIE, account_key
from accounts.names import name_key
from chat import held_names, protocol
from chat.models import Membership, Message, Room
from tests.unit.communicator import (
    ChatCommunicator,
    connect,
    fence,
    login_data,
    mention_fence,
    session_cookie,
    socket_as,
)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-password-for-tests"


@database_sync_to_async
def account(username: str) -> User:
    return User.objects.create_user(username, password=PASSWORD)


async def signed_in(user: User, room: str) -> ChatCommunicator:
    """A socket in `room` of `user`, logged in; its ``person_key`` is theirs (for `mention_fence`)."""
    socket = await connect(room, await session_cookie(**login_data(user)))
    socket.person_key = account_key(user.pk)
    return socket


async def refused_for_its_name(socket: ChatCommunicator) -> str:
    """The detail of the `name_taken` error the socket got, after checking it was then closed with 4409."""
    frame = await socket.receive_json_from()
    assert (frame["type"], frame["code"]) == ("error", protocol.NAME_TAKEN)
    assert (await socket.receive_output())["code"] == protocol.CLOSE_NAME_TAKEN == 4409
    return frame["detail"]


# A guest's name on the socket.


@pytest.mark.parametrize("name", ["ann", "ANN", "\u0430nn", "Syst\u0435m", "admin"])
async def test_a_guest_whose_name_became_an_account_s_or_is_reserved_is_refused(name: str) -> None:
    await account("ann")  # signed up after the guest chose the name
    socket = await connect("physics", await session_cookie(display_name=name))
    assert "choose another name in the lobby" in await refused_for_its_name(socket)


async def test_a_guest_may_not_use_a_name_another_guest_holds_online_until_they_go() -> None:
    zoe = await socket_as("zoe", "/ws/chat/physics/")
    await fence("physics", zoe)
    impostor = await socket_as("Z\u03bfe", "/ws/chat/maths/")  # Greek ο, another room, another guest
    assert "in use by another guest" in await refused_for_its_name(impostor)
    other_tab = await socket_as("zoe", "/ws/chat/maths/", tab_of=zoe)  # the same guest: still theirs
    await fence("maths", other_tab)
    await zoe.disconnect()
    await fence("maths", other_tab)
    refused_again = await socket_as("zoe", "/ws/chat/lobby/")
    assert "in use" in await refused_for_its_name(refused_again), "one tab left is enough to keep it"
    await other_tab.disconnect()
    free = await socket_as("zoe", "/ws/chat/lobby/")
    await fence("lobby", free)  # the name was let go with the last socket
    await free.disconnect()
    assert held_names.memory.entries == {}, "nothing is left behind"


@override_settings(CHAT_PRESENCE_TTL=0.3, CHAT_PRESENCE_HEARTBEAT=0.05)
async def test_the_presence_heartbeat_keeps_the_name_held() -> None:
    zoe = await socket_as("zoe", "/ws/chat/physics/")
    opened = time.time()
    async with asyncio.timeout(5):  # until the hold was refreshed after a whole TTL
        while max(held_names.memory.entries[name_key("zoe")].values()) < opened + 0.3:
            await asyncio.sleep(0.01)
    impostor = await socket_as("zoe", "/ws/chat/maths/")
    await refused_for_its_name(impostor)
    await zoe.disconnect()


async def test_an_account_holds_no_name_and_is_never_refused_for_its_own() -> None:
    ann = await signed_in(await account("ann"), "physics")
    await fence("physics", ann)
    assert held_names.memory.entries == {}
    await ann.disconnect()


async def test_a_socket_without_a_cookie_holds_no_name() -> None:
    """A client that is nobody (no page, no cookie) speaks as a fresh guest: nobody can come back as it."""
    socket = await connect("physics")
    await fence("physics", socket)
    assert held_names.memory.entries == {}, "so that thousands of bare clients never collide on a made-up name"
    await socket.disconnect()


# Mentions reach the person they name.


async def test_an_impostor_from_before_the_rule_gets_none_of_the_account_s_mentions() -> None:
    impostor = await socket_as("ann", "/ws/chat/maths/")  # a guest who took "ann" before the account existed
    ann = await signed_in(await account("ann"), "physics")
    bob = await socket_as("bob", "/ws/chat/lobby/")
    await bob.send_json_to({"message": "@ann the homework is cancelled"})
    mention = await ann.receive_json_from()
    assert (mention["type"], mention["message"], mention["room"]) == (
        "mention",
        "@ann the homework is cancelled",
        "lobby",
    )
    await mention_fence(impostor)  # nothing reached the impostor before this marker
    for socket in (impostor, ann, bob):
        await socket.disconnect()


async def test_naming_someone_from_a_private_room_tells_only_its_members() -> None:
    olga, ann, carl = await account("olga"), await account("ann"), await account("carl")
    room = await database_sync_to_async(Room.objects.create)(name="plans-1a2b3c", kind=Room.Kind.PRIVATE, title="Plans")
    for member in (olga, ann):
        await database_sync_to_async(Membership.objects.create)(room=room, user=member)
    speaker = await signed_in(olga, room.name)
    ann_socket, carl_socket = await signed_in(ann, "lobby"), await signed_in(carl, "lobby")
    dan = await socket_as("dan", "/ws/chat/lobby/")  # a guest online
    await speaker.send_json_to({"message": "@ann @carl @dan the plan"})
    assert (await ann_socket.receive_json_from())["room"] == room.name
    await mention_fence(dan)  # a guest is never named from a private room
    await mention_fence(carl_socket)  # an account that is not a member is told nothing
    for socket in (speaker, ann_socket, carl_socket, dan):
        await socket.disconnect()


# A client id is its sender's own.


async def guest_page(room: str) -> ChatCommunicator:
    """A guest as a browser makes one: a page load gives the cookie, which the page's socket then sends."""
    page = await AsyncClient().get(f"/chat/{room}/")
    return await connect(room, (b"cookie", f"{GUEST_COOKIE}={page.cookies[GUEST_COOKIE].value}".encode()))


async def ack_of(socket: ChatCommunicator, client_id: str) -> int:
    while (frame := await socket.receive_json_from())["type"] != "ack":
        pass
    assert frame["client_id"] == client_id
    return frame["id"]


async def test_two_people_sending_one_client_id_get_a_message_and_an_ack_each() -> None:
    ann, bob = await guest_page("physics"), await guest_page("physics")
    await ann.send_json_to({"message": "from ann", "client_id": "same-id"})
    assert await ack_of(ann, "same-id") == 1
    await bob.send_json_to({"message": "from bob", "client_id": "same-id"})
    assert await ack_of(bob, "same-id") == 2, "bob's own message, not ann's ack"
    stored = await database_sync_to_async(list)(
        Message.objects.order_by("room_message_id").values_list("text", "sender")
    )
    assert [text for text, _ in stored] == ["from ann", "from bob"]
    assert stored[0][1] != stored[1][1]
    await ann.send_json_to({"message": "from ann", "client_id": "same-id"})  # ann's resend: still hers, stored once
    assert await ack_of(ann, "same-id") == 1
    for socket in (ann, bob):
        await socket.disconnect()
