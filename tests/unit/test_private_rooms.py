"""A private room's sockets: who is let in, what a non-member never gets, and changes that close sockets at once.

Through the consumers on the in-memory layer, with real sessions: each socket
carries the session cookie of a logged-in account, as a browser's does.
"""

from urllib.parse import quote

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from chat import consumers, membership, selectors, services
from chat.fanout import LocalFanout
from chat.groups import LOBBY_GROUP, room_group_name
from chat.models import Room
from chat.process import process_state
from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, cookie_header, fence, logged_in_client, login_data, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


class People:
    """Ann owns a private room, Bob is a member of it, Cat is signed in but not a member."""

    def __init__(self) -> None:
        self.ann, self.bob, self.cat = (User.objects.create_user(name) for name in ("ann", "bob", "cat"))
        self.room = membership.create_private_room(self.ann, "Homework")
        membership.join_by_invite(self.bob, membership.create_invite(self.room, self.ann).token)


@pytest.fixture
async def people() -> People:
    return await database_sync_to_async(People)()


async def cookie_of(user: User) -> tuple[bytes, bytes]:
    return await session_cookie(**login_data(user))


async def open_socket(path: str, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    """A socket at `path` the server accepted (to answer it, or to refuse it with a reason)."""
    socket = WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, *headers])
    connected, _ = await socket.connect()
    assert connected
    return socket


def room_path(room: Room | str, query: str = "") -> str:
    return f"/ws/chat/{quote(getattr(room, 'name', room))}/{query}"


async def assert_refused(socket: WebsocketCommunicator) -> None:
    """The socket's first frame is `forbidden` and the next thing is the close, 4403: nothing in between."""
    frame = await socket.receive_json_from()
    assert (frame["type"], frame["code"]) == ("error", "forbidden"), frame
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4403}


async def next_frame(socket: WebsocketCommunicator, frame_type: str) -> dict:
    while (frame := await socket.receive_json_from())["type"] != frame_type:
        pass
    return frame


async def say(socket: WebsocketCommunicator, text: str) -> dict:
    """Send a message and wait for it to come back stored."""
    await socket.send_json_to({"message": text})
    while (frame := await next_frame(socket, "chat.message"))["message"] != text:
        pass
    return frame


async def test_a_member_opens_the_room_and_gets_its_history(people: People) -> None:
    ann = await open_socket(room_path(people.room), await cookie_of(people.ann))
    await say(ann, "for members")
    bob = await open_socket(room_path(people.room), await cookie_of(people.bob))
    assert (await next_frame(bob, "chat.message"))["message"] == "for members"
    await ann.disconnect()
    await bob.disconnect()


@pytest.mark.parametrize("query", ["", "?after=0"], ids=["history", "catch-up"])
@pytest.mark.parametrize("who", ["cat", "guest"])
async def test_a_non_member_s_socket_is_refused_before_any_history(people: People, who: str, query: str) -> None:
    await database_sync_to_async(services.save_message)(people.room, "ann", "not for Cat")
    headers = [await cookie_of(people.cat)] if who == "cat" else []
    await assert_refused(await open_socket(room_path(people.room, query), *headers))


async def test_a_non_member_is_refused_before_the_socket_joins_any_group(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    joined = []
    join = LocalFanout.join

    async def recording_join(fanout: LocalFanout, group: str, member: object, address: str | None = None) -> None:
        joined.append(group)
        await join(fanout, group, member, address)

    monkeypatch.setattr(LocalFanout, "join", recording_join)
    await assert_refused(await open_socket(room_path(people.room), await cookie_of(people.cat)))
    assert joined == []
    bob = await open_socket(room_path(people.room), await cookie_of(people.bob))
    await next_frame(bob, "presence")
    assert room_group_name(people.room.name) in joined, "a member's socket does join"
    await bob.disconnect()


async def test_a_process_remembers_stored_public_rooms_and_never_a_private_one(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(membership, "PUBLIC_ROOMS_REMEMBERED", 2)
    for name in ("physics", "maths", "art"):
        await Room.objects.acreate(name=name)
    sockets = [await open_socket(room_path(name)) for name in ("physics", "maths", "never-spoken-in", "art")]
    sockets.append(await open_socket(room_path(people.room), await cookie_of(people.ann)))
    remembered = process_state().public_rooms
    assert list(remembered) == ["maths", "art"], "stored public rooms only, the oldest forgotten past the bound"
    assert remembered["art"] == (await Room.objects.aget(name="art")).pk
    # A remembered room opens without the database, as it did before: the same room, the same history.
    await say(sockets[3], "in art")
    again = await open_socket(room_path("art"))
    assert (await next_frame(again, "chat.message"))["message"] == "in art"
    for socket in [*sockets, again]:
        await socket.disconnect()


async def test_a_non_member_never_gets_presence_or_typing(people: People) -> None:
    ann = await open_socket(room_path(people.room), await cookie_of(people.ann))
    assert (await next_frame(ann, "presence"))["users"] == ["ann"]
    await ann.send_json_to({"type": "typing"})
    cat = await open_socket(room_path(people.room), await cookie_of(people.cat))
    await assert_refused(cat)  # its first frame is the refusal: no presence list, no typing came before it
    assert await cat.receive_nothing()
    bob = await open_socket(room_path(people.room), await cookie_of(people.bob))
    await bob.send_json_to({"type": "typing"})
    assert await next_frame(ann, "typing") == {"type": "typing", "author": "bob"}
    # The room's presence went from Ann to Ann and Bob: Cat was never in it.
    assert (await next_frame(ann, "presence"))["users"] == ["ann", "bob"]
    for socket in (ann, bob):
        await socket.disconnect()


async def test_removing_a_member_closes_their_socket_at_once_and_the_reconnect_is_refused(people: People) -> None:
    ann = await open_socket(room_path(people.room), await cookie_of(people.ann))
    bob_cookie = await cookie_of(people.bob)
    bob = await open_socket(room_path(people.room), bob_cookie)
    bob_elsewhere = await open_socket(room_path("lobby"), bob_cookie)
    await say(bob, "still in")
    await database_sync_to_async(membership.remove_member)(people.room, people.ann, "bob")
    assert await next_frame(bob, "error") == {
        "type": "error",
        "code": "forbidden",
        "detail": "You are no longer a member of this private room.",
    }
    assert await bob.receive_output() == {"type": "websocket.close", "code": 4403}
    await assert_refused(await open_socket(room_path(people.room), bob_cookie))
    await say(ann, "the owner's socket stays")
    await say(bob_elsewhere, "and Bob's in a public room too")
    await ann.disconnect()
    await bob_elsewhere.disconnect()


async def test_a_new_role_leaves_the_socket_open(people: People) -> None:
    bob = await open_socket(room_path(people.room), await cookie_of(people.bob))
    await database_sync_to_async(membership.set_role)(people.room, people.ann, "bob", "moderator")
    await fence(people.room.name, bob)  # the change was told before this marker, and closed nothing
    await say(bob, "a moderator now")
    await bob.disconnect()


async def test_a_removal_between_the_first_look_and_the_joins_is_not_missed(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bob passes the first look; his removal commits, and its event goes out, before his socket hears
    # people.accounts (nobody else's socket does here, so nobody hears it): the second look refuses him.
    first_look = membership.avisible_room

    async def then_removed(name: str, user: User) -> Room | None:
        room = await first_look(name, user)
        await database_sync_to_async(membership.remove_member)(people.room, people.ann, "bob")
        return room

    monkeypatch.setattr(consumers.membership, "avisible_room", then_removed)
    await assert_refused(await open_socket(room_path(people.room), await cookie_of(people.bob)))


async def test_logging_out_closes_the_socket_and_the_reconnect_is_refused(people: People) -> None:
    browser = await logged_in_client(people.bob)
    bob = await open_socket(room_path(people.room), cookie_header(browser))
    await say(bob, "before")
    await database_sync_to_async(browser.post)("/accounts/logout/")
    assert (await next_frame(bob, "error"))["code"] == "account_changed"
    assert await bob.receive_output() == {"type": "websocket.close", "code": 4001}
    # The page reconnects with the same cookie, now a guest's: not a member.
    await assert_refused(await open_socket(room_path(people.room), cookie_header(browser)))


async def test_deactivating_an_account_closes_the_socket_and_the_reconnect_is_refused(people: People) -> None:
    cookie = await cookie_of(people.bob)
    bob = await open_socket(room_path(people.room), cookie)
    await say(bob, "before")
    people.bob.is_active = False
    await database_sync_to_async(people.bob.save)()
    assert (await next_frame(bob, "error"))["code"] == "account_changed"
    assert await bob.receive_output() == {"type": "websocket.close", "code": 4001}
    await assert_refused(await open_socket(room_path(people.room), cookie))


# The lobby's directory.


async def lobby_of(user: User | None) -> WebsocketCommunicator:
    return await open_socket("/ws/lobby/", *([await cookie_of(user)] if user else []))


async def lobby_fence(*lobbies: WebsocketCommunicator) -> None:
    """A public room's update, sent last: a lobby whose next frame it is was sent nothing else before it."""
    marker = {"type": "room.update", "room": "marker", "online": 0}
    await get_channel_layer().group_send(LOBBY_GROUP, {**marker, "type": "directory.room"})
    for lobby in lobbies:
        assert await lobby.receive_json_from() == marker


@pytest.mark.parametrize("known_by", ["its messages", "its people"])
async def test_the_directory_lists_a_private_room_to_its_members_only(people: People, known_by: str) -> None:
    await services.apost_notification("physics", "Lab at six.")
    if known_by == "its messages":
        await database_sync_to_async(services.save_message)(people.room, "ann", "hello")
    else:  # someone is in it now: the presence store lists it
        ann = await open_socket(room_path(people.room), await cookie_of(people.ann))
        await next_frame(ann, "presence")
    member, outsider, guest = await lobby_of(people.bob), await lobby_of(people.cat), await lobby_of(None)
    lobbies = (member, outsider, guest) + ((ann,) if known_by == "its people" else ())
    entries = {entry["room"]: entry for entry in (await member.receive_json_from())["rooms"]}
    assert set(entries) == {"physics", people.room.name}
    assert (entries[people.room.name]["title"], entries[people.room.name]["kind"]) == ("Homework", "private")
    assert "title" not in entries["physics"]
    assert "kind" not in entries["physics"]
    for lobby in (outsider, guest):
        assert [entry["room"] for entry in (await lobby.receive_json_from())["rooms"]] == ["physics"]
    for socket in lobbies:
        await socket.disconnect()


def test_other_people_s_private_rooms_take_no_place_in_the_directory() -> None:
    ann, cat = User.objects.create_user("ann"), User.objects.create_user("cat")
    services.save_message(Room.objects.create(name="physics"), "ann", "older")
    private = membership.create_private_room(ann, "Homework")
    services.save_message(private, "ann", "newer")
    assert list(selectors.recently_active_rooms(limit=1, user=cat)) == ["physics"]
    assert list(selectors.recently_active_rooms(limit=1, user=ann)) == [private.name]
    assert list(selectors.recently_active_rooms(limit=1)) == ["physics"], "a guest's lobby"


async def test_live_updates_of_a_private_room_reach_its_members_lobbies_only(people: People) -> None:
    member, outsider = await lobby_of(people.bob), await lobby_of(people.cat)
    for lobby in (member, outsider):
        assert (await lobby.receive_json_from())["type"] == "directory"
    ann = await open_socket(room_path(people.room), await cookie_of(people.ann))
    name = people.room.name
    expected = {"type": "room.update", "room": name, "title": "Homework", "kind": "private"}
    assert await member.receive_json_from() == expected | {"online": 1}
    message = await say(ann, "hi")
    assert await member.receive_json_from() == expected | {"last_activity": message["created"], "last_id": 1}
    await ann.disconnect()
    assert await member.receive_json_from() == expected | {"online": 0}
    await lobby_fence(member, outsider)  # the outsider's next frame: none of the room's came before it
    for lobby in (member, outsider):
        await lobby.disconnect()


async def test_a_lobby_lists_a_room_once_its_person_joins_and_forgets_it_once_removed(people: People) -> None:
    await database_sync_to_async(services.save_message)(people.room, "ann", "hello")
    cat = await lobby_of(people.cat)
    assert [entry["room"] for entry in (await cat.receive_json_from())["rooms"]] == []
    invite = await database_sync_to_async(membership.create_invite)(people.room, people.ann)
    await database_sync_to_async(membership.join_by_invite)(people.cat, invite.token)
    assert [entry["room"] for entry in (await next_frame(cat, "directory"))["rooms"]] == [people.room.name]
    await database_sync_to_async(membership.remove_member)(people.room, people.ann, "cat")
    assert (await next_frame(cat, "directory"))["rooms"] == []
    await cat.disconnect()


async def test_a_lobby_closes_on_logout_so_that_it_reconnects_as_a_guest(people: People) -> None:
    browser = await logged_in_client(people.bob)
    lobby = await open_socket("/ws/lobby/", cookie_header(browser))
    assert (await lobby.receive_json_from())["type"] == "directory"
    await database_sync_to_async(browser.post)("/accounts/logout/")
    assert (await lobby.receive_json_from())["code"] == "account_changed"
    assert await lobby.receive_output() == {"type": "websocket.close", "code": 4001}
