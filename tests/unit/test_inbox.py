"""A person's notifications below the socket: stored, pushed to ``people.inbox`` for them, read, made by mentions.

On the in-memory channel layer, heard as a process's hub hears them: a channel
of its own in ``people.inbox`` (`chat.groups.INBOX_GROUP`), keeping the events addressed to the account.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from accounts.identity import GUEST, Person, guest_key, identify
from chat import editing, membership, mentions, protocol
from chat import services as chat_services
from chat.groups import room_group_name
from chat.models import Message, Room
from notifications import selectors, services
from notifications.links import LINK_MAX_LENGTH
from notifications.models import TEXT_MAX_LENGTH, Notification
from tests.unit.communicator import connect, login_data, session_cookie, socket_as
from tests.unit.listeners import Listener, inbox_of, listen


def ids_of(user: User) -> list[int]:
    return list(Notification.objects.filter(user=user).order_by("id").values_list("id", flat=True))


def unread_ids_of(user: User) -> list[int]:
    return list(Notification.objects.filter(user=user, read__isnull=True).order_by("id").values_list("id", flat=True))


# Storing and pushing.


@pytest.mark.django_db(transaction=True)
def test_notify_stores_the_notification_then_pushes_its_frame_to_the_account_s_group() -> None:
    ann = User.objects.create_user("ann")
    listener = listen(ann)
    notification = services.notify(ann, "Your essay was marked.", "/chat/english/")
    stored = Notification.objects.get()
    assert (stored.pk, stored.user, stored.kind, stored.text, stored.link, stored.room, stored.read) == (
        notification.pk, ann, "server", "Your essay was marked.", "/chat/english/", "", None
    )  # fmt: skip
    frame = async_to_sync(listener.next)()
    assert frame == selectors.notification_frame(stored)
    assert frame == {
        "type": "notification",
        "id": stored.pk,
        "kind": "server",
        "message": "Your essay was marked.",
        "link": "/chat/english/",
        "room": "",
        "created": frame["created"],
        "read": None,
    }
    assert frame["created"].endswith("Z")
    async_to_sync(listener.fence)()  # pushed once


@pytest.mark.django_db(transaction=True)
async def test_anotify_stores_and_pushes_from_async_code() -> None:
    ann = await User.objects.acreate(username="ann")
    listener = await inbox_of(ann)
    notification = await services.anotify(ann, "Build 512 is green.")
    assert (notification.kind, notification.link) == ("server", "")
    assert await listener.next() == selectors.notification_frame(await Notification.objects.aget())
    await listener.fence()


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_the_push_waits_for_the_commit_and_a_rollback_pushes_nothing() -> None:
    ann = User.objects.create_user("ann")
    listener = listen(ann)
    with transaction.atomic():
        notification = services.notify(ann, "Committed.")
        async_to_sync(listener.fence)()  # nothing pushed yet: a page must not hear of a row it can't read
    assert async_to_sync(listener.next)()["id"] == notification.pk

    class Abandoned(Exception):
        pass

    def notify_then_roll_back() -> None:
        with transaction.atomic():
            services.notify(ann, "Rolled back.")
            raise Abandoned

    with pytest.raises(Abandoned):
        notify_then_roll_back()
    async_to_sync(listener.fence)()
    assert [n.text for n in Notification.objects.all()] == ["Committed."]


@pytest.mark.django_db
@override_settings(CHAT_NOTIFICATIONS_KEPT=3)
def test_an_account_keeps_its_newest_notifications_and_no_one_else_s_are_touched() -> None:
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    bobs = [services.save_notification(bob.pk, f"for bob {number}").pk for number in range(2)]
    anns = [services.save_notification(ann.pk, f"for ann {number}").pk for number in range(5)]
    assert ids_of(ann) == anns[-3:]
    assert ids_of(bob) == bobs, "another account's notifications are not cut"
    for number in range(3):
        bobs.append(services.save_notification(bob.pk, f"for bob {number + 2}").pk)
        assert ids_of(bob) == bobs[-3:], "his own newest three, however many newer ones Ann has"
    assert ids_of(ann) == anns[-3:]
    assert selectors.inbox(ann)["kept"] == 3


@pytest.mark.django_db
@override_settings(CHAT_NOTIFICATIONS_KEPT=4)
def test_a_flood_of_mentions_pushes_out_read_ones_then_mentions_never_an_unread_invitation_or_notice() -> None:
    ann = User.objects.create_user("ann")
    invitation = services.save_notification(ann.pk, "bob invited you", kind=Notification.Kind.INVITATION).pk
    read = services.save_notification(ann.pk, "an old notice").pk
    services.mark_read(ann, [read])
    notice = services.save_notification(ann.pk, "Grades are out").pk
    mentions = [services.save_notification(ann.pk, f"spam {n}", kind=Notification.Kind.MENTION).pk for n in range(5)]
    assert ids_of(ann) == [invitation, notice, *mentions[-2:]]


# What a notification may say and where it may lead.


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "mailto:ann@example.com",
        "ftp://example.com/file",
        "//evil.com",
        "//evil.com/chat/",
        "/\\evil.com",
        "\\\\evil.com",
        "/chat\\physics/",
        "http:evil.com",
        "https:/evil.com",
        "http://",
        "evil.com",
        "chat/physics/",
        "/chat/physics/ now",
        "/chat/\tphysics/",
        "/chat/physics/\n",
        "https://example.com/\u00a0",  # white space of any kind, not only ASCII's
        "/chat/\u2028/",
        "/chat/\x00/",
        "/chat/\x1b[31m/",
        "/chat/\x7f/",
        "/chat/\u200b/",  # an invisible format character
        "/" + "a" * LINK_MAX_LENGTH,
        "https://example.com/" + "a" * LINK_MAX_LENGTH,
        5,
        ["/chat/"],
        {"href": "/chat/"},
    ],
)
def test_a_link_that_is_neither_a_path_of_this_site_nor_an_http_url_is_refused(link: object) -> None:
    with pytest.raises(protocol.ProtocolError) as refused:
        services.check_link(link)
    assert refused.value.code == protocol.INVALID_FIELD
    assert refused.value.detail


@pytest.mark.parametrize(
    ("link", "stored"),
    [
        (None, ""),
        ("", ""),
        ("/", "/"),
        ("/chat/physics/", "/chat/physics/"),
        ("/chat/physics/?after=12#m12", "/chat/physics/?after=12#m12"),
        ("/chat/%E7%89%A9%E7%90%86/", "/chat/%E7%89%A9%E7%90%86/"),
        ("/chat/物理/", "/chat/物理/"),
        ("http://example.com", "http://example.com"),
        ("https://example.com/marks?term=2#essay", "https://example.com/marks?term=2#essay"),
        ("HTTPS://EXAMPLE.COM/", "HTTPS://EXAMPLE.COM/"),
        ("/" + "a" * (LINK_MAX_LENGTH - 1), "/" + "a" * (LINK_MAX_LENGTH - 1)),
    ],
)
def test_a_path_of_this_site_or_an_http_url_is_taken_as_it_is(link: str | None, stored: str) -> None:
    assert services.check_link(link) == stored


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", protocol.EMPTY_MESSAGE),
        (" \n\t ", protocol.EMPTY_MESSAGE),
        ("x" * (TEXT_MAX_LENGTH + 1), protocol.MESSAGE_TOO_LONG),
        ("a bell \x07", protocol.INVALID_CHARACTERS),
        ("half a pair \ud800", protocol.INVALID_CHARACTERS),
        (None, protocol.INVALID_FIELD),
        (5, protocol.INVALID_FIELD),
    ],
)
def test_a_text_that_can_t_be_stored_is_refused(text: object, code: str) -> None:
    with pytest.raises(protocol.ProtocolError) as refused:
        services.check_text(text)
    assert refused.value.code == code


@pytest.mark.parametrize("text", ["x" * TEXT_MAX_LENGTH, "\N{GRINNING FACE}" * TEXT_MAX_LENGTH, "two\nlines"])
def test_a_text_up_to_the_limit_is_taken(text: str) -> None:
    assert services.check_text(text) == text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("text", "link"), [("hi", "javascript:alert(1)"), ("", "/chat/"), ("x" * 501, None)])
def test_a_refused_notification_stores_and_pushes_nothing(text: str, link: str | None) -> None:
    ann = User.objects.create_user("ann")
    listener = listen(ann)
    with pytest.raises(protocol.ProtocolError):
        services.notify(ann, text, link)
    with pytest.raises(protocol.ProtocolError):
        async_to_sync(services.anotify)(ann, text, link)
    assert not Notification.objects.exists()
    async_to_sync(listener.fence)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["anonymous", "nobody", "inactive"])
def test_only_an_active_account_has_notifications(who: str) -> None:
    if who == "inactive":
        user = User.objects.create_user("gone", is_active=False)
    else:
        user = AnonymousUser() if who == "anonymous" else None
    with pytest.raises(services.NotAnAccount):
        services.notify(user, "hi")
    with pytest.raises(services.NotAnAccount):
        async_to_sync(services.anotify)(user, "hi")
    assert not Notification.objects.exists()


# Reading.


@pytest.mark.django_db
def test_mark_read_marks_only_the_caller_s_own_unread_notifications() -> None:
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    first, second = (services.save_notification(ann.pk, text).pk for text in ("one", "two"))
    bobs = services.save_notification(bob.pk, "Bob's").pk
    assert services.mark_read(ann, [first, bobs, 10**12]) == [first]
    assert unread_ids_of(ann) == [second]
    assert unread_ids_of(bob) == [bobs], "another account's ids are untouched"
    assert services.mark_read(ann, [first]) == [], "read already: nothing to tell the other tabs"
    assert services.mark_read(bob, [first, second]) == []
    assert unread_ids_of(ann) == [second]


@pytest.mark.django_db
def test_mark_all_read_marks_every_unread_one_of_the_account_and_says_up_to_which() -> None:
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    anns = [services.save_notification(ann.pk, f"n{number}").pk for number in range(3)]
    bobs = services.save_notification(bob.pk, "Bob's").pk
    services.mark_read(ann, [anns[-1]])
    assert selectors.unread_count(ann) == 2
    assert services.mark_all_read(ann) == anns[1], "the newest one that was unread"
    assert selectors.unread_count(ann) == 0
    assert unread_ids_of(bob) == [bobs]
    assert services.mark_all_read(ann) is None, "nothing was unread"
    assert selectors.unread_count(bob) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_read_is_told_to_the_account_s_group_only_when_something_was_unread() -> None:
    ann, bob = await User.objects.acreate(username="ann"), await User.objects.acreate(username="bob")
    anns, bobs = await inbox_of(ann), await inbox_of(bob)
    first, second, third = [(await services.anotify(ann, f"n{number}")).pk for number in range(3)]
    bob_s = (await services.anotify(bob, "Bob's")).pk
    for _ in range(3):
        await anns.next()
    await bobs.next()
    await services.amark_read(ann, [first, second, bob_s])
    read = await anns.next()
    assert (read["type"], sorted(read["ids"]), read["up_to"]) == ("notification.read", [first, second], None)
    await services.amark_read(ann, [first, bob_s])  # nothing of hers was unread: nothing to tell
    await services.amark_read(ann, None)
    assert await anns.next() == {"type": "notification.read", "ids": [], "up_to": third}
    await services.amark_read(ann, None)
    await anns.fence()
    await bobs.fence()
    assert await selectors.ainbox(bob) == {
        "type": "inbox",
        "notifications": [selectors.notification_frame(await Notification.objects.aget(pk=bob_s))],
        "unread": [bob_s],
        "kept": 200,
    }


@pytest.mark.django_db
def test_the_inbox_holds_the_newest_notifications_and_every_unread_id() -> None:
    ann, bob = User.objects.create_user("ann"), User.objects.create_user("bob")
    ids = [services.save_notification(ann.pk, f"n{number}", f"/chat/n{number}/").pk for number in range(35)]
    services.save_notification(bob.pk, "Bob's")
    read = [ids[0], ids[1], ids[-1]]  # two beyond the newest shown, one among them
    services.mark_read(ann, read)
    inbox = selectors.inbox(ann)
    assert set(inbox) == {"type", "notifications", "unread", "kept"}
    assert (inbox["type"], inbox["kept"]) == ("inbox", 200)
    assert len(inbox["notifications"]) == selectors.INBOX_SHOWN == 30
    newest = Notification.objects.filter(user=ann).order_by("-id")[:30]
    assert inbox["notifications"] == [selectors.notification_frame(n) for n in newest]
    assert [frame["id"] for frame in inbox["notifications"]] == ids[:-31:-1]
    assert inbox["notifications"][0]["read"] is not None, "a read one is listed, with when it was read"
    assert inbox["unread"] == [pk for pk in reversed(ids) if pk not in read], "all of them, newest first"
    assert len(inbox["unread"]) == 32
    assert selectors.unread_count(ann) == 32
    assert selectors.inbox(User.objects.create_user("cat")) == {
        "type": "inbox",
        "notifications": [],
        "unread": [],
        "kept": 200,
    }


# Mentions.


def person(user: User) -> Person:
    return identify(user, None)


def guest(name: str, secret: str) -> Person:
    return Person(name, GUEST, guest_key(secret))


@database_sync_to_async
def accounts(*names: str, **fields: object) -> list[User]:
    return [User.objects.create_user(name, **fields) for name in names]


async def mentions_of(user: User) -> list[Notification]:
    return [n async for n in Notification.objects.filter(user=user, kind="mention").order_by("id")]


@pytest.mark.django_db(transaction=True)
async def test_a_mention_of_an_account_in_a_public_room_is_a_notification_with_the_room_s_link() -> None:
    ann, bob = await accounts("ann", "bob")
    bobs = await inbox_of(bob)
    room = await Room.objects.acreate(name="physics")
    message = await chat_services.apost_message(room, person(ann), "@bob  can you look at\nthis?", "c1")
    [mention] = await mentions_of(bob)
    assert (mention.kind, mention.room, mention.link) == ("mention", "physics", "/chat/physics/")
    assert mention.text == "ann mentioned you in physics: @bob can you look at this?"
    assert await bobs.next() == selectors.notification_frame(mention)
    assert message.text == "@bob  can you look at\nthis?"
    assert await Notification.objects.acount() == 1, "the sender has none"


@pytest.mark.django_db(transaction=True)
async def test_a_mention_s_notification_quotes_the_start_of_a_long_message() -> None:
    ann, bob = await accounts("ann", "bob")
    room = await Room.objects.acreate(name="physics")
    await chat_services.apost_message(room, person(ann), "@bob " + "x" * 1000)
    [mention] = await mentions_of(bob)
    said = mention.text.removeprefix("ann mentioned you in physics: ")
    assert said == "@bob " + "x" * (services.MENTION_PREVIEW_CHARACTERS - 6) + "…"
    assert len(said) == services.MENTION_PREVIEW_CHARACTERS


@pytest.mark.django_db(transaction=True)
async def test_a_resent_message_does_not_notify_its_mentions_twice() -> None:
    # A page resends what was not acknowledged (its socket dropped): the message is stored once, so is its mention.
    ann, bob = await accounts("ann", "bob")
    room = await Room.objects.acreate(name="physics")
    first = await chat_services.apost_message(room, person(ann), "@bob hi", "c1")
    again = await chat_services.apost_message(room, person(ann), "@bob hi", "c1")
    assert again.pk == first.pk
    assert len(await mentions_of(bob)) == 1
    await chat_services.apost_message(room, person(ann), "@bob hi", "c2")
    assert len(await mentions_of(bob)) == 2, "the same words sent anew are a new mention"


@pytest.mark.django_db(transaction=True)
async def test_a_mention_in_a_room_with_a_long_name_of_any_script_has_a_link_the_row_can_hold() -> None:
    # 64 letters of 3 and 4 bytes in UTF-8: percent-encoded, such a room's path would be 600 to 800 characters.
    ann, bob = await accounts("ann", "bob")
    for name in ("物" * 64, "\U00020000" * 64):
        room = await Room.objects.acreate(name=name)
        await chat_services.apost_message(room, person(ann), "@bob look")
    for mention in await mentions_of(bob):
        assert len(mention.link) <= LINK_MAX_LENGTH
        assert services.check_link(mention.link) == mention.link
        await database_sync_to_async(mention.full_clean)()
        assert mention.link == f"/chat/{mention.room}/"


@pytest.mark.django_db(transaction=True)
async def test_a_guest_mentioned_gets_the_live_toast_and_no_notification() -> None:
    (ann,) = await accounts("ann")
    gus = await socket_as("Gus", "/ws/chat/lobby/")
    room = await Room.objects.acreate(name="physics")
    await chat_services.apost_message(room, person(ann), "@Gus and @nobody, the lab")
    toast = await gus.receive_json_from()
    assert (toast["type"], toast["room"]) == ("mention", "physics")
    assert not await Notification.objects.aexists()
    await gus.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_mentioning_yourself_or_an_inactive_account_notifies_nobody() -> None:
    ann, _ = await accounts("ann", "bob")
    await accounts("dan", is_active=False)
    room = await Room.objects.acreate(name="physics")
    await chat_services.apost_message(room, person(ann), "note to self, @ann; and @dan")
    assert not await Notification.objects.aexists()
    await chat_services.apost_message(room, guest("ann", "a guest"), "@ann and @bob")
    assert len(await mentions_of(ann)) == 1, "a guest under her name is not her"


@pytest.mark.django_db(transaction=True)
async def test_a_mention_in_a_private_room_notifies_its_members_only() -> None:
    ann, bob, cat = await accounts("ann", "bob", "cat")

    @database_sync_to_async
    def private_room() -> Room:
        room = membership.create_private_room(ann, "Homework")
        membership.join_by_invite(bob, membership.create_invite(room, ann).token)
        return room

    room = await private_room()
    cats = await inbox_of(cat)
    await chat_services.apost_message(room, person(ann), "@bob @cat the answers")
    [mention] = await mentions_of(bob)
    assert mention.text == "ann mentioned you in Homework: @bob @cat the answers"
    assert (mention.room, mention.link) == (room.name, f"/chat/{room.name}/")
    assert await mentions_of(cat) == [], "nothing tells her the room exists"
    await cats.fence()


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=2)
async def test_an_account_s_mentions_past_its_budget_notify_nobody_wherever_it_sends_from() -> None:
    ann, bob, cat, dan = await accounts("ann", "bob", "cat", "dan")
    room = await Room.objects.acreate(name="physics")
    said = await Listener.join(room_group_name("physics"))
    for number, address in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
        await chat_services.apost_message(room, person(ann), f"@bob #{number}", client_address=address)
    assert [m.text for m in await mentions_of(bob)] == [f"ann mentioned you in physics: @bob #{n}" for n in (0, 1)]
    for number in range(3):
        frame = await said.next()
        assert (frame["type"], frame["message"]) == ("chat.message", f"@bob #{number}"), "said all the same"
    assert await Message.objects.acount() == 3
    await chat_services.apost_message(room, person(cat), "@bob and @dan", client_address="10.0.0.1")
    assert len(await mentions_of(bob)) == 3, "another account has a budget of its own, from the same address"
    assert len(await mentions_of(dan)) == 1
    assert services.seconds_until_sender_may(person(ann).key) > 0


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=2)
async def test_guests_mentions_are_counted_by_their_address() -> None:
    # A guest's key costs nothing to change: a new guest from the same address shares the address's budget.
    (bob,) = await accounts("bob")
    room = await Room.objects.acreate(name="physics")
    for number in range(3):
        sender = guest(f"guest{number}", f"secret-{number}")
        await chat_services.apost_message(room, sender, f"@bob #{number}", client_address="10.0.0.9")
    assert [m.text.split(": ")[1] for m in await mentions_of(bob)] == ["@bob #0", "@bob #1"]
    await chat_services.apost_message(room, guest("gus", "elsewhere"), "@bob #3", client_address="10.0.0.10")
    assert len(await mentions_of(bob)) == 3
    assert await Message.objects.acount() == 4


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=0)
async def test_no_budget_means_no_limit() -> None:
    ann, bob = await accounts("ann", "bob")
    room = await Room.objects.acreate(name="physics")
    for number in range(5):
        await chat_services.apost_message(room, person(ann), f"@bob #{number}")
    assert len(await mentions_of(bob)) == 5


# Invitations.


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=1)
def test_an_invitation_tells_the_account_within_the_inviter_s_budget() -> None:
    ann, bob, cat = (User.objects.create_user(name) for name in ("ann", "bob", "cat"))
    room = membership.create_private_room(ann, "Homework")
    listener = listen(bob)
    invitation = services.notify_invitation(bob, room, ann, f"/chat/{room.name}/")
    assert (invitation.kind, invitation.room, invitation.text) == (
        "invitation", room.name, "ann invited you to the private room Homework"
    )  # fmt: skip
    assert async_to_sync(listener.next)() == selectors.notification_frame(invitation)
    assert services.notify_invitation(cat, room, ann, f"/chat/{room.name}/") is None, "past Ann's budget"
    assert not Notification.objects.filter(user=cat).exists()
    with pytest.raises(services.NotAnAccount):
        services.notify_invitation(AnonymousUser(), room, ann, "/chat/")


@database_sync_to_async
def break_notification_inserts(broken: bool) -> None:
    # A real database error, raised by SQLite itself.
    with connection.cursor() as cursor:
        if broken:
            cursor.execute(
                "CREATE TRIGGER refuse_notifications BEFORE INSERT ON notifications_notification "
                "BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
            )
        else:
            cursor.execute("DROP TRIGGER refuse_notifications")


@pytest.mark.django_db(transaction=True)
async def test_a_message_whose_mentions_can_t_be_stored_is_still_said_and_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The message went to the room before its mentions were stored: the sender must not be told
    # "not saved, send it again" for what everyone has read.
    ann, _ = await accounts("ann", "bob")
    sender = await connect("physics", await session_cookie(**login_data(ann)))
    await break_notification_inserts(True)
    try:
        await sender.send_json_to({"message": "@bob the lab", "client_id": "c1"})
        frames = [await sender.receive_json_from() for _ in range(2)]
    finally:
        await break_notification_inserts(False)
    assert sorted(frame["type"] for frame in frames) == ["ack", "chat.message"]
    assert not await Notification.objects.aexists()
    assert "Could not store the notifications of a message's mentions in room 'physics'" in caplog.text
    assert "Traceback" not in caplog.text
    await sender.disconnect()


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=1)
async def test_server_code_s_mentions_are_not_counted_against_a_budget() -> None:
    # Announcements have no sender: one shared budget would let one cron job starve every other.
    (bob,) = await accounts("bob")
    for number in range(3):
        await chat_services.apost_notification("physics", f"@bob reminder {number}")
    assert len(await mentions_of(bob)) == 3


@pytest.mark.django_db(transaction=True)
async def test_deleting_a_message_deletes_the_notifications_that_quote_it() -> None:
    ann, bob = await accounts("ann", "bob")
    room = await Room.objects.acreate(name="physics")
    kept = await chat_services.apost_message(room, person(ann), "@bob the notes")
    regretted = await chat_services.apost_message(room, person(ann), "@bob something I regret")
    await database_sync_to_async(chat_services.delete_stored_message)(regretted)
    assert [m.text for m in await mentions_of(bob)] == ["ann mentioned you in physics: @bob the notes"]
    assert (await Notification.objects.aget(user=bob)).message_id == kept.pk


@pytest.mark.django_db(transaction=True)
async def test_an_edit_refreshes_the_quote_and_a_mention_it_adds_notifies_nobody() -> None:
    ann, bob, cat = await accounts("ann", "bob", "cat")
    room = await Room.objects.acreate(name="physics")
    said = await chat_services.apost_message(room, person(ann), "hi @bob.")
    await editing.aedit_message(room, said.room_message_id, "ignore this @cat", editor=editing.Editor(person(ann).key))
    assert [m.text for m in await mentions_of(bob)] == ["ann mentioned you in physics: ignore this @cat"]
    assert await mentions_of(cat) == [], "an edit is no way round the sender's budget"


@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_refreshes_the_quote_too(admin_client: Client) -> None:
    ann, bob = (User.objects.create_user(name) for name in ("ann", "bob"))
    room = Room.objects.create(name="physics")
    said = chat_services.post_message(room, person(ann), "@bob here is my address, 1 Main St")
    change = {"author": "ann", "text": "@bob [removed by a moderator]", "client_id": "", "kind": "user"}
    assert admin_client.post(f"/admin/chat/message/{said.pk}/change/", change).status_code == 302
    assert [n.text for n in Notification.objects.filter(user=bob)] == [
        "ann mentioned you in physics: @bob [removed by a moderator]"
    ]


@pytest.mark.django_db
def test_a_message_naming_many_people_costs_one_look_at_the_accounts_and_names_a_class_at_most() -> None:
    User.objects.bulk_create([User(username=f"student{number}") for number in range(40)])
    room = Room.objects.create(name="physics")
    text = " ".join(f"@student{number}" for number in range(40)) + " " + " ".join(f"@nobody{n}" for n in range(300))
    named = mentions.mentioned_names(text)
    assert named == {f"student{number}" for number in range(mentions.MAX_NAMES_PER_MESSAGE)}, "the first ones"
    with CaptureQueriesContext(connection) as queries:
        people, _ = mentions.accounts_mentioned(room, named)
    assert len(people) == mentions.MAX_NAMES_PER_MESSAGE
    assert len(queries) <= 2, [query["sql"] for query in queries]  # the newest account, then all (first time)


@pytest.mark.django_db
@pytest.mark.parametrize("link", ["javascript:alert(1)", "/\\evil.example/", "/\t/evil.example", "//evil.example/"])
def test_a_link_typed_in_the_admin_follows_the_same_rules(admin_client: Client, link: str) -> None:
    ann = User.objects.create_user("ann")
    form = {"user": ann.pk, "kind": "server", "text": "hi", "link": link, "room": "", "created_0": "2026-11-30"}
    response = admin_client.post("/admin/notifications/notification/add/", form | {"created_1": "10:00:00"})
    assert response.status_code == 200, "the form again, with its error"
    assert "The link" in response.content.decode()
    assert not Notification.objects.exists()
