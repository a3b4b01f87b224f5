"""Your own messages: their sender edits and deletes them, a room's moderators and staff delete any; all see it."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.utils import timezone

from chat import events, protocol, selectors, services
from chat.groups import room_group_name
from chat.models import Membership, Message, Room
from tests.unit.communicator import ChatCommunicator, connect, fence, login_data, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "pw-for-tests-only"


async def guest(name: str, room: str = "physics", query: str = "", cookie: tuple | None = None) -> ChatCommunicator:
    """A guest who chose `name`: a session of their own, so a key of their own, whatever the name.

    With `cookie` (a guest's own, `socket.cookie`), another socket of that same guest.
    """
    cookie = cookie or await session_cookie(display_name=name)
    socket = await connect(room, cookie, query=query)
    socket.cookie = cookie
    return socket


async def account(username: str, room: str = "physics", **flags: bool) -> ChatCommunicator:
    user = await database_sync_to_async(User.objects.create_user)(username, password=PASSWORD, **flags)
    return await connect(room, await session_cookie(**login_data(user)))


async def say(socket: ChatCommunicator, text: str, *others: ChatCommunicator) -> int:
    """Say `text`; every socket given hears it. Its id."""
    await socket.send_json_to({"message": text})
    frame = await socket.receive_json_from()
    for other in others:
        assert (await other.receive_json_from())["id"] == frame["id"]
    return frame["id"]


async def refused(socket: ChatCommunicator, frame: dict) -> str:
    await socket.send_json_to(frame)
    answer = await socket.receive_json_from()
    assert answer["type"] == "error", answer
    return answer["code"]


async def stored(room: str = "physics") -> list[tuple[int, str, bool, bool]]:
    """Each stored row of the room: id, text, edited?, deleted?"""
    rows = Message.objects.filter(room__name=room).values_list("room_message_id", "text", "edited", "deleted")
    return [(number, text, edited is not None, deleted is not None) async for number, text, edited, deleted in rows]


async def test_the_author_edits_and_every_socket_in_the_room_gets_the_edit() -> None:
    ann, bob = await guest("Ann"), await guest("Bob")
    message_id = await say(ann, "teh answer", bob)
    await ann.send_json_to({"type": "edit", "id": message_id, "message": "the answer"})
    for socket in (ann, bob):
        frame = await socket.receive_json_from()
        assert (frame["type"], frame["id"], frame["message"]) == ("edit", message_id, "the answer")
        assert frame["edited"].endswith("Z")
    assert await stored() == [(1, "the answer", True, False)]
    await fence("physics", ann, bob)
    await ann.disconnect()
    await bob.disconnect()


async def test_nobody_else_edits_or_deletes_a_message() -> None:
    ann, bob = await guest("Ann"), await account("bob")
    message_id = await say(ann, "mine", bob)
    assert await refused(bob, {"type": "edit", "id": message_id, "message": "yours now"}) == "forbidden"
    assert await refused(bob, {"type": "delete", "id": message_id}) == "forbidden"
    await fence("physics", ann, bob)
    assert await stored() == [(1, "mine", False, False)]
    await ann.disconnect()
    await bob.disconnect()


async def test_two_guests_of_one_name_are_two_people() -> None:
    # Whose a message is goes by the sender's key, never by the name shown. (Two guests can't
    # hold one name online at once: the second takes it once the first has gone.)
    ann = await guest("Ann")
    message_id = await say(ann, "the real Ann")
    await ann.disconnect()
    other_ann = await guest("Ann")
    await other_ann.receive_json_from()  # the history: the real Ann's message
    assert await refused(other_ann, {"type": "edit", "id": message_id, "message": "the fake Ann"}) == "forbidden"
    assert await refused(other_ann, {"type": "delete", "id": message_id}) == "forbidden"
    await other_ann.disconnect()
    ann = await guest("Ann", cookie=ann.cookie)
    await ann.receive_json_from()
    await ann.send_json_to({"type": "delete", "id": message_id})
    assert await ann.receive_json_from() == {"type": "delete", "id": message_id}
    await ann.disconnect()


async def test_the_author_deletes_and_the_text_is_gone_from_the_database() -> None:
    ann, bob = await guest("Ann"), await guest("Bob")
    await say(ann, "keep", bob)
    message_id = await say(ann, "my phone number is 555-0100", bob)
    await ann.send_json_to({"type": "delete", "id": message_id})
    for socket in (ann, bob):
        assert await socket.receive_json_from() == {"type": "delete", "id": message_id}
    assert await stored() == [(1, "keep", False, False), (2, "", False, True)], "the row stays for catch-up"
    assert await refused(ann, {"type": "delete", "id": message_id}) == "unknown_message"
    assert await refused(ann, {"type": "edit", "id": message_id, "message": "back"}) == "unknown_message"
    assert await refused(ann, {"type": "edit", "id": 99, "message": "nothing there"}) == "unknown_message"
    await ann.disconnect()
    await bob.disconnect()


@database_sync_to_async
def private_room(**roles: str) -> Room:
    """A private room whose members are the accounts named, each with their role."""
    room = Room.objects.create(name="class-1a2b3c", kind=Room.Kind.PRIVATE, title="Class")
    for username, role in roles.items():
        Membership.objects.create(room=room, user=User.objects.get(username=username), role=role)
    return room


@pytest.mark.parametrize("role", [Membership.Role.MODERATOR, Membership.Role.OWNER])
async def test_a_private_room_s_moderators_delete_anyone_s_message_until_they_are_moderators_no_more(role: str) -> None:
    teacher, student = await account("teacher", "class-1a2b3c"), await account("student", "class-1a2b3c")
    await private_room(teacher=role, student=Membership.Role.MEMBER)
    first, second = await say(student, "rude", teacher), await say(student, "rude again", teacher)
    teacher_s = await say(teacher, "behave", student)
    assert await refused(student, {"type": "delete", "id": teacher_s}) == "forbidden", "a member is no moderator"
    assert await refused(teacher, {"type": "edit", "id": first, "message": "nice"}) == "forbidden", "nor an editor"
    await teacher.send_json_to({"type": "delete", "id": first})
    for socket in (teacher, student):
        assert await socket.receive_json_from() == {"type": "delete", "id": first}
    # The role is read for each deletion: taken away, it is gone at once, on a socket opened before.
    await Membership.objects.filter(user__username="teacher").aupdate(role=Membership.Role.MEMBER)
    assert await refused(teacher, {"type": "delete", "id": second}) == "forbidden"
    assert (await stored("class-1a2b3c"))[1] == (second, "rude again", False, False)
    await teacher.disconnect()
    await student.disconnect()


async def test_staff_delete_any_message_but_edit_only_their_own() -> None:
    teacher, ann = await account("teacher", is_staff=True), await guest("Ann")
    message_id = await say(ann, "rude", teacher)
    assert await refused(teacher, {"type": "edit", "id": message_id, "message": "polite"}) == "forbidden"
    await teacher.send_json_to({"type": "delete", "id": message_id})
    for socket in (teacher, ann):
        assert await socket.receive_json_from() == {"type": "delete", "id": message_id}
    await teacher.disconnect()
    await ann.disconnect()


async def test_nobody_edits_the_server_s_messages_and_moderators_may_delete_them() -> None:
    teacher = await account("teacher", is_staff=True)
    await database_sync_to_async(services.post_notification)("physics", "The lab closes at six.")
    notification = await teacher.receive_json_from()
    assert notification["kind"] == "system"
    edit = {"type": "edit", "id": notification["id"], "message": "The lab never closes."}
    assert await refused(teacher, edit) == "forbidden"
    await teacher.send_json_to({"type": "delete", "id": notification["id"]})
    assert await teacher.receive_json_from() == {"type": "delete", "id": notification["id"]}
    await teacher.disconnect()


async def test_an_account_whose_session_ended_unheard_no_longer_edits_its_messages() -> None:
    # The session ends without any event reaching the socket (it expired, or the event was lost).
    ann = await account("ann")
    message_id = await say(ann, "mine")
    await Session.objects.aupdate(expire_date=timezone.now() - timedelta(seconds=1))
    assert await refused(ann, {"type": "edit", "id": message_id, "message": "still mine?"}) == "forbidden"
    assert await refused(ann, {"type": "delete", "id": message_id}) == "forbidden"
    await ann.disconnect()


@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=3)
async def test_edits_count_against_the_socket_s_frames() -> None:
    ann = await guest("Ann")
    message_id = await say(ann, "draft")
    for number in range(4):
        await ann.send_json_to({"type": "edit", "id": message_id, "message": f"draft {number}"})
    answers = [await ann.receive_json_from() for _ in range(4)]
    assert [answer["type"] for answer in answers] == ["edit", "edit", "error", "error"]
    assert answers[-1]["code"] == "rate_limited"
    await ann.disconnect()


async def test_an_edit_is_later_than_the_one_before_whatever_the_clocks() -> None:
    # Pages and history copies keep the newer of two edits heard out of order by their times, so those
    # must grow even when the previous edit was stamped by a process whose clock runs ahead.
    ann = await guest("Ann")
    message_id = await say(ann, "draft")
    ahead = timezone.now().replace(microsecond=500) + timedelta(seconds=5)
    await Message.objects.filter(room_message_id=message_id).aupdate(edited=ahead)
    await ann.send_json_to({"type": "edit", "id": message_id, "message": "draft 2"})
    edited = (await ann.receive_json_from())["edited"]
    assert edited == protocol.format_time(ahead + timedelta(microseconds=1000 - 500))
    await ann.disconnect()


async def test_a_socket_opened_after_an_edit_or_deletion_gets_the_history_as_it_is_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = []
    real = selectors.aopen_room

    async def counted(name: str, after: int | None = None):
        reads.append(name)
        return await real(name, after)

    monkeypatch.setattr(selectors, "aopen_room", counted)
    ann = await guest("Ann")  # this process now keeps the room's history (chat/history.py)
    first, second = await say(ann, "teh answer"), await say(ann, "oops")
    await ann.send_json_to({"type": "edit", "id": first, "message": "the answer"})
    edited = (await ann.receive_json_from())["edited"]
    bob = await guest("Bob")
    frame = await bob.receive_json_from()
    assert (frame["id"], frame["message"], frame["edited"]) == (first, "the answer", edited)
    assert (await bob.receive_json_from())["id"] == second
    assert reads == ["physics"], "the process's copy followed the edit: nothing read again"

    await ann.send_json_to({"type": "delete", "id": second})
    await ann.receive_json_from()
    await bob.receive_json_from()
    carl = await guest("Carl")
    assert (await carl.receive_json_from())["message"] == "the answer"
    await fence("physics", carl)
    assert reads == ["physics", "physics"], "a deletion sent the next socket to the database"
    for socket in (ann, bob, carl):
        await socket.disconnect()


@override_settings(CHAT_HISTORY_LENGTH=3)
async def test_a_reconnecting_socket_gets_what_was_missed_then_the_changes_to_what_it_holds() -> None:
    ann = await guest("Ann")
    ids = [await say(ann, text) for text in ("too old to tell", "teh", "oops", "fine")]
    assert ids == [1, 2, 3, 4]
    # Away, holding 1 to 4: meanwhile 1 and 2 are edited, 3 deleted, 5 and 6 said and 6 edited.
    for frame in (
        {"type": "edit", "id": 1, "message": "old, edited"},
        {"type": "edit", "id": 2, "message": "the"},
        {"type": "delete", "id": 3},
    ):
        await ann.send_json_to(frame)
        await ann.receive_json_from()
    await say(ann, "new")
    await say(ann, "nwe")
    await ann.send_json_to({"type": "edit", "id": 6, "message": "newer"})
    await ann.receive_json_from()

    back = await guest("Ann", query="?after=4", cookie=ann.cookie)
    frames = [await back.receive_json_from() for _ in range(4)]
    assert [(frame["type"], frame["id"], frame.get("message")) for frame in frames] == [
        ("chat.message", 5, "new"),
        ("chat.message", 6, "newer"),  # missed messages come as they are now
        ("edit", 2, "the"),  # changes among the newest CHAT_HISTORY_LENGTH ids held (2 to 4): 1 is older
        ("delete", 3, None),
    ]
    assert frames[1]["edited"] is not None
    await fence("physics", back)
    await ann.disconnect()
    await back.disconnect()


async def test_after_a_layer_outage_a_socket_gets_the_changes_it_missed() -> None:
    ann = await guest("Ann")
    first, second = await say(ann, "teh"), await say(ann, "oops")
    room = await selectors.aroom_named("physics")
    # Changed while the layer was away: stored, but their events never came.
    await database_sync_to_async(Message.objects.filter(room_message_id=first).update)(
        text="the", edited=timezone.now()
    )
    await database_sync_to_async(services.delete_message)(room, second)
    await get_channel_layer().group_send(room_group_name("physics"), {"type": events.LAYER_RECOVERED})
    edit, deletion = await ann.receive_json_from(), await ann.receive_json_from()
    assert (edit["type"], edit["id"], edit["message"]) == ("edit", first, "the")
    assert deletion == {"type": "delete", "id": second}
    await ann.disconnect()
