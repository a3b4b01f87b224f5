"""Private rooms' writes (chat.membership): who may change what, the limits, and the event each change sends."""

import re

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings

from accounts.identity import account_key
from chat import direct, membership
from chat.groups import ACCOUNTS_GROUP, INBOX_GROUP, InvalidRoomName, clean_room_name
from chat.models import Invite, Membership, Room
from notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)  # transaction: changes are told once committed


@pytest.fixture
def accounts_events():
    """A channel of the test's own on people.accounts; call the result for the events sent there so far."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(ACCOUNTS_GROUP, channel)

    def received() -> list[dict]:
        events = []
        # The in-memory layer's queue for the channel: what was sent so far, without waiting for more.
        while (queue := layer.channels.get(channel)) is not None and not queue.empty():
            events.append(async_to_sync(layer.receive)(channel))
        return events

    return received


def account(username: str) -> User:
    return User.objects.create_user(username)  # no password: nothing to hash


def changed(user: User, room: Room) -> dict:
    return {"type": "membership.changed", "user": str(user.pk), "room": room.name}


def test_a_private_room_is_named_after_its_title_with_a_random_ending(accounts_events) -> None:
    ann = account("ann")
    room = membership.create_private_room(ann, "Physics.7B")
    assert re.fullmatch(r"physics7b-[0-9a-f]{6}", room.name)
    assert (room.kind, room.title, room.owner) == ("private", "Physics.7B", ann)
    assert membership.role_of(room, ann) == "owner"
    assert accounts_events() == [changed(ann, room)]
    assert membership.create_private_room(ann, "Physics.7B").name != room.name


def test_a_title_of_any_script_makes_a_valid_room_name() -> None:
    room = membership.create_private_room(account("ann"), "Физика_Ω")
    assert room.name.startswith("физика_ω-")
    assert clean_room_name(room.name) == room.name
    long_title = "x" * 64
    assert len(membership.create_private_room(account("bob"), long_title).name) == 64


@pytest.mark.parametrize("title", ["   ", "bell\x07", "zero\u200bwidth", "x" * 65])
def test_a_title_that_is_empty_too_long_or_unprintable_is_refused(title: str) -> None:
    with pytest.raises(InvalidRoomName):
        membership.create_private_room(account("ann"), title)
    assert not Room.objects.exists()


def test_a_guest_cannot_make_a_private_room() -> None:
    with pytest.raises(membership.NotAllowed):
        membership.create_private_room(AnonymousUser(), "secret")


@override_settings(CHAT_PRIVATE_ROOMS_PER_USER=2)
def test_an_account_owns_at_most_the_limit_of_private_rooms() -> None:
    ann, bob = account("ann"), account("bob")
    first = membership.create_private_room(ann, "one")
    membership.create_private_room(ann, "two")
    with pytest.raises(membership.LimitReached, match="2 private rooms"):
        membership.create_private_room(ann, "three")
    membership.create_private_room(bob, "bob-s")  # per account
    first.delete()
    membership.create_private_room(ann, "three")  # a deleted room frees its place


@override_settings(CHAT_PRIVATE_ROOMS_PER_USER=0)
def test_the_room_limit_is_off_at_zero() -> None:
    ann = account("ann")
    for number in range(3):
        membership.create_private_room(ann, f"room{number}")


def test_an_invite_makes_a_member_and_revoking_it_stops_it(accounts_events) -> None:
    ann, bob, cat = account("ann"), account("bob"), account("cat")
    room = membership.create_private_room(ann, "maths")
    invite = membership.create_invite(room, ann)
    assert len(invite.token) >= 32
    accounts_events()
    assert membership.join_by_invite(bob, invite.token) == room
    assert membership.role_of(room, bob) == "member"
    assert accounts_events() == [changed(bob, room)]
    assert membership.join_by_invite(bob, invite.token) == room  # again: nothing changes, nothing told
    assert accounts_events() == []
    membership.revoke_invite(room, ann, invite.pk)
    with pytest.raises(membership.NotFound):
        membership.join_by_invite(cat, invite.token)
    assert membership.role_of(room, bob) == "member", "who joined through it stays"
    with pytest.raises(membership.NotFound):
        membership.join_by_invite(cat, "no-such-token")
    with pytest.raises(membership.NotFound):
        membership.revoke_invite(room, ann, invite.pk)  # revoked already


def test_only_the_owner_and_moderators_handle_invites() -> None:
    ann, bob, mod = account("ann"), account("bob"), account("mod")
    room = membership.create_private_room(ann, "maths")
    for person in (bob, mod):
        membership.join_by_invite(person, membership.create_invite(room, ann).token)
    membership.set_role(room, ann, "mod", "moderator")
    with pytest.raises(membership.NotAllowed):
        membership.create_invite(room, bob)
    invite = membership.create_invite(room, mod)
    with pytest.raises(membership.NotAllowed):
        membership.revoke_invite(room, bob, invite.pk)
    membership.revoke_invite(room, mod, invite.pk)
    with pytest.raises(membership.NotAllowed):
        membership.create_invite(Room.objects.create(name="public-room"), ann)


def test_a_room_has_a_bounded_number_of_live_invites() -> None:
    ann = account("ann")
    room = membership.create_private_room(ann, "maths")
    invites = [membership.create_invite(room, ann) for _ in range(membership.LIVE_INVITES_PER_ROOM)]
    with pytest.raises(membership.LimitReached, match="revoke one"):
        membership.create_invite(room, ann)
    membership.revoke_invite(room, ann, invites[0].pk)
    membership.create_invite(room, ann)
    assert Invite.objects.filter(room=room).count() == membership.LIVE_INVITES_PER_ROOM


def test_making_and_revoking_links_in_a_loop_stores_no_more_rows() -> None:
    ann = account("ann")
    room = membership.create_private_room(ann, "maths")
    for _ in range(3 * membership.LIVE_INVITES_PER_ROOM):
        membership.revoke_invite(room, ann, membership.create_invite(room, ann).pk)
    assert Invite.objects.count() == 0


def members_of(room: Room) -> dict[str, str]:
    return dict(room.memberships.values_list("user__username", "role"))


def room_of_four() -> tuple[Room, dict[str, User]]:
    people = {name: account(name) for name in ("ann", "mod", "bob", "cat")}
    room = membership.create_private_room(people["ann"], "maths")
    for name in ("mod", "bob", "cat"):
        membership.join_by_invite(people[name], membership.create_invite(room, people["ann"]).token)
    membership.set_role(room, people["ann"], "mod", "moderator")
    return room, people


def test_the_owner_removes_anyone_but_themselves(accounts_events) -> None:
    room, people = room_of_four()
    accounts_events()
    membership.remove_member(room, people["ann"], "mod")
    assert accounts_events() == [changed(people["mod"], room)]
    with pytest.raises(membership.NotAllowed):
        membership.remove_member(room, people["ann"], "ann")
    with pytest.raises(membership.NotFound):
        membership.remove_member(room, people["ann"], "mod")  # not a member any more
    assert members_of(room) == {"ann": "owner", "bob": "member", "cat": "member"}


def test_a_moderator_removes_plain_members_only_and_members_remove_nobody() -> None:
    room, people = room_of_four()
    with pytest.raises(membership.NotAllowed):
        membership.remove_member(room, people["bob"], "cat")
    with pytest.raises(membership.NotAllowed):
        membership.remove_member(room, people["mod"], "ann")
    membership.remove_member(room, people["mod"], "bob")
    assert members_of(room) == {"ann": "owner", "mod": "moderator", "cat": "member"}


def test_only_the_owner_names_moderators(accounts_events) -> None:
    room, people = room_of_four()
    accounts_events()
    with pytest.raises(membership.NotAllowed):
        membership.set_role(room, people["mod"], "bob", "moderator")
    with pytest.raises(membership.NotAllowed):
        membership.set_role(room, people["ann"], "ann", "member")  # the owner stays the owner
    with pytest.raises(membership.NotAllowed):
        membership.set_role(room, people["ann"], "bob", "owner")
    assert accounts_events() == []
    membership.set_role(room, people["ann"], "bob", "moderator")
    membership.set_role(room, people["ann"], "mod", "member")
    assert accounts_events() == [changed(people["bob"], room), changed(people["mod"], room)]
    assert members_of(room)["bob"] == "moderator"
    assert membership.may_moderate(room, people["bob"])
    assert not membership.may_moderate(room, people["mod"])


def test_the_members_page_rows_say_what_the_viewer_may_do() -> None:
    room, people = room_of_four()
    as_owner = {row["username"]: row for row in membership.members_of(room, people["ann"])}
    assert not as_owner["ann"]["removable"]
    assert as_owner["mod"]["removable"]
    assert as_owner["mod"]["demotable"]
    assert as_owner["bob"]["removable"]
    assert as_owner["bob"]["promotable"]
    as_moderator = {row["username"]: row for row in membership.members_of(room, people["mod"])}
    assert [name for name, row in as_moderator.items() if row["removable"]] == ["bob", "cat"]
    assert not any(row["promotable"] or row["demotable"] for row in as_moderator.values())


def test_a_deactivated_member_sees_nothing() -> None:
    room, people = room_of_four()
    people["bob"].is_active = False
    people["bob"].save()
    assert not membership.may_see(room, people["bob"])
    assert Membership.objects.filter(room=room, user=people["bob"]).exists()


# Inviting a person by username: a notification that leads to an invite link.


@pytest.fixture
def inbox_frames():
    """Call the result with an account for the frames its notification sockets were sent so far."""
    layer = get_channel_layer()
    channels = {}

    def received(user: User) -> list[dict]:
        if user.pk not in channels:
            channels[user.pk] = async_to_sync(layer.new_channel)()
            async_to_sync(layer.group_add)(INBOX_GROUP, channels[user.pk])
        frames = []
        while (queue := layer.channels.get(channels[user.pk])) is not None and not queue.empty():
            event = async_to_sync(layer.receive)(channels[user.pk])
            if account_key(user.pk) in event["to"]:
                frames.append({key: value for key, value in event.items() if key != "to"})
        return frames

    return received


def nothing_stored_for(room: Room) -> bool:
    return not Notification.objects.exists() and not Invite.objects.filter(room=room).exists()


def test_an_invited_account_is_notified_with_a_link_that_joins_the_room(inbox_frames) -> None:
    ann, bob = account("ann"), account("bob")
    room = membership.create_private_room(ann, "Maths")
    inbox_frames(bob)
    notification = membership.invite_person(room, ann, "bob")
    invite = Invite.objects.get(room=room)
    assert (notification.user_id, notification.kind, notification.room) == (bob.pk, "invitation", room.name)
    assert notification.text == "ann invited you to the private room Maths"
    assert notification.link == f"/chat/join/{invite.token}/"
    [frame] = inbox_frames(bob)
    assert (frame["type"], frame["id"], frame["link"]) == ("notification", notification.pk, notification.link)
    assert membership.role_of(room, bob) is None, "an invitation is no membership until followed"
    membership.join_by_invite(bob, invite.token)
    assert membership.role_of(room, bob) == "member"


def test_an_invitation_reuses_the_room_s_newest_link_whoever_made_it() -> None:
    room, people = room_of_four()  # the owner made three links
    newest = membership.create_invite(room, people["mod"])
    account("dan")
    account("eve")
    links = {membership.invite_person(room, people["ann"], name).link for name in ("dan", "eve")}
    assert links == {f"/chat/join/{newest.token}/"}
    assert Invite.objects.filter(room=room).count() == 4, "no link made while one works"


def test_an_invited_name_is_found_case_aside_when_it_names_one_account() -> None:
    ann, bob = account("ann"), account("bob")
    room = membership.create_private_room(ann, "maths")
    assert membership.invite_person(room, ann, "  BOB ").user_id == bob.pk
    account("Bob")
    with pytest.raises(membership.NotFound, match="Nobody called “BOB”"):
        membership.invite_person(room, ann, "BOB")


def test_only_the_owner_and_moderators_invite_people() -> None:
    room, people = room_of_four()
    account("dan")
    staff = User.objects.create_user("staff", is_staff=True)
    for asker in (people["bob"], staff, AnonymousUser()):
        with pytest.raises(membership.NotAllowed, match="Only the room's owner and moderators"):
            membership.invite_person(room, asker, "dan")
    assert not Notification.objects.exists()
    assert membership.invite_person(room, people["mod"], "dan").user.get_username() == "dan"
    with pytest.raises(membership.NotAllowed):
        membership.invite_person(Room.objects.create(name="public-room"), people["ann"], "dan")


@pytest.mark.parametrize(
    ("username", "error", "says"),
    [
        ("nobody", membership.NotFound, "Nobody called “nobody” has an account here"),
        ("gone", membership.NotFound, "Nobody called “gone” has an account here"),
        ("   ", membership.NotFound, "Type the username"),
        ("bob", membership.AlreadyMember, "bob is a member of this room already"),
        ("ann", membership.AlreadyMember, "ann is a member of this room already"),
    ],
)
def test_an_unknown_inactive_or_member_name_is_refused_and_stores_nothing(username, error, says) -> None:
    ann, bob = account("ann"), account("bob")
    User.objects.create_user("gone", is_active=False)
    room = membership.create_private_room(ann, "maths")
    Membership.objects.create(room=room, user=bob)
    with pytest.raises(error, match=says):
        membership.invite_person(room, ann, username)
    assert nothing_stored_for(room)


def test_nobody_is_invited_to_a_direct_conversation() -> None:
    ann = account("ann")
    account("bob")
    account("cat")
    room = direct.open_direct_room(ann, "bob")
    Membership.objects.filter(room=room, user=ann).update(role=Membership.Role.OWNER)  # as an admin's edit might
    with pytest.raises(membership.NotAllowed, match="direct conversation"):
        membership.invite_person(room, ann, "cat")
    assert nothing_stored_for(room)
    assert members_of(room) == {"ann": "owner", "bob": "member"}


@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=2)
def test_invitations_spend_the_inviter_s_notification_budget() -> None:
    room, people = room_of_four()
    for name in ("dan", "eve", "fay"):
        account(name)
    membership.invite_person(room, people["ann"], "dan")
    membership.invite_person(room, people["ann"], "eve")
    with pytest.raises(membership.LimitReached, match=r"try again in \d+ seconds?\.") as refused:
        membership.invite_person(room, people["ann"], "fay")
    assert 0 < int(re.search(r"in (\d+) second", str(refused.value)).group(1)) <= 30  # 2 a minute: one every 30 s
    assert not Notification.objects.filter(user=User.objects.get(username="fay")).exists()
    membership.invite_person(room, people["mod"], "fay")  # the budget is the inviter's own


@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=1)
def test_an_invitation_past_the_budget_makes_no_link() -> None:
    ann = account("ann")
    account("bob")
    account("cat")
    room = membership.create_private_room(ann, "maths")
    membership.invite_person(room, ann, "bob")
    membership.revoke_invite(room, ann, Invite.objects.get(room=room).pk)
    with pytest.raises(membership.LimitReached):
        membership.invite_person(room, ann, "cat")
    assert not Invite.objects.filter(room=room).exists()


def test_an_unread_invitation_is_not_sent_again_but_one_to_a_revoked_link_is() -> None:
    ann, bob = account("ann"), account("bob")
    room = membership.create_private_room(ann, "maths")
    membership.invite_person(room, ann, "bob")
    with pytest.raises(membership.AlreadyInvited, match="bob has an invitation to this room already"):
        membership.invite_person(room, ann, "Bob")
    assert Notification.objects.filter(user=bob).count() == 1
    membership.revoke_invite(room, ann, Invite.objects.get(room=room).pk)
    membership.invite_person(room, ann, "bob")  # the first one leads nowhere now
    first, second = Notification.objects.filter(user=bob).order_by("id")
    assert first.link != second.link
    second.read = second.created
    second.save()
    membership.invite_person(room, ann, "bob")  # read, and still not in: reminded
    assert Notification.objects.filter(user=bob).count() == 3
