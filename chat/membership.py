"""Who may do what in a room, and the changes to who is in it.

A public room is everyone's. A private room or a direct conversation is its
members' only: an account needs a `Membership` (`chat.models`), and a guest is
never a member. Staff have no way into a private room they are not members of.

The reads come first: every door of a room (its page, its socket, the lobby's
directory, the API) asks them before letting someone in. Then the writes, as
Zulip's ``do_*`` actions are: each checks who asks, writes in one transaction,
and once that commits tells every process ``membership.changed`` (on
``people.accounts``), so that the person's open sockets ask again at once
(`ChatConsumer.membership_changed`) and their lobby lists their rooms afresh.
`invite_person` changes no membership: it tells the invited account, as a
notification (`notifications.services`), where the room's invite link is.
"""

import secrets
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils.text import slugify

from accounts.identity import account_key, is_account
from accounts.selectors import active_account_named, shown_username
from chat import events, selectors, services
from chat.groups import ACCOUNTS_GROUP, ROOM_NAME_MAX_LENGTH, InvalidRoomName, clean_room_name, clean_room_title
from chat.models import Invite, Membership, Room
from chat.process import process_state
from notifications.models import Notification
from notifications.selectors import has_unread_invitation
from notifications.services import forget_invitations, notify_invitation, seconds_until_sender_may

# Invites of one room at once: enough for a class to hand out a few, and a bound on the rows
# one room's moderators can make. Revoking one deletes its row, which frees its place.
LIVE_INVITES_PER_ROOM = 20
# A private room's name ends in this many random hex digits, so it can't be guessed from its title.
NAME_SUFFIX_HEX = 6
# Stored public rooms a process remembers (a name and an id each, some 200 bytes); past that, the
# one remembered longest ago is forgotten.
PUBLIC_ROOMS_REMEMBERED = 10_000

MANAGERS = (Membership.Role.OWNER, Membership.Role.MODERATOR)


class MembershipError(Exception):
    """A change refused; its message is a sentence for the person who asked."""


class NotAllowed(MembershipError):
    """The person asking may not make this change (a page answers 403)."""


class LimitReached(MembershipError):
    """The change would pass one of the limits above (a page answers 400)."""


class NotFound(MembershipError):
    """No such invite (unknown or revoked), member or account (a page answers 404)."""


class AlreadyMember(MembershipError):
    """The person to invite is in the room already (a page answers 400)."""


class AlreadyInvited(MembershipError):
    """The person to invite has an unread invitation that still works (a page answers 400)."""


### Reads ###


def role_of(room: Room, user: Any) -> str | None:
    """The account's role in a stored private room (``owner``, ``moderator``, ``member``), or None."""
    if room.pk is None or not is_account(user):
        return None
    return Membership.objects.filter(room=room, user_id=user.pk).values_list("role", flat=True).first()


def may_see(room: Room, user: Any) -> bool:
    """Whether the person may see, read and join the room: anyone for a public one, members for a private one."""
    return not room.is_private or role_of(room, user) is not None


def may_moderate(room: Room, user: Any) -> bool:
    """Whether the person may delete anyone's message in the room: its owner, its moderators, and staff."""
    if not is_account(user):
        return False
    return user.is_staff or role_of(room, user) in MANAGERS


def may_manage(room: Room, user: Any) -> bool:
    """Whether the person may invite and remove members of a private room: its owner and moderators (not staff)."""
    return room.is_private and role_of(room, user) in MANAGERS


def visible_room(name: str, user: Any) -> Room | None:
    """The room called `name` (clean; maybe unsaved, see `selectors.room_named`) if the person may see it, else None.

    One call, so one thread hop from a socket's `connect`.
    """
    room = selectors.room_named(name)
    return room if may_see(room, user) else None


def private_room_named(name: str) -> Room | None:
    """The stored private room (or direct conversation) called `name`, or None (no such room, or a public one)."""
    try:
        name = clean_room_name(name)
    except InvalidRoomName:
        return None
    return Room.objects.filter(name=name).exclude(kind=Room.Kind.PUBLIC).first()


def private_rooms_of(user: Any) -> dict[str, dict[str, str]]:
    """The private rooms the person is a member of: name to its ``title`` and ``kind``, as the lobby lists them."""
    if not is_account(user):
        return {}
    rows = Room.objects.filter(memberships__user_id=user.pk).values_list("name", "title", "kind")
    return selectors.name_direct_rooms(
        {name: {"title": title or name, "kind": kind} for name, title, kind in rows}, user
    )


def concerns(event: dict[str, Any], user: Any, room_name: str | None = None) -> bool:
    """Whether a ``membership.changed`` event is about this socket's account (and room, if given)."""
    if not is_account(user) or event["user"] != str(user.pk):
        return False
    return room_name is None or event["room"] == room_name


def live_invite(token: str) -> Invite | None:
    """The invite with this token, with its room (a revoked one is gone)."""
    return Invite.objects.select_related("room").filter(token=token).first()


def live_invites(room: Room) -> list[Invite]:
    """The room's invites that work, newest first."""
    return list(room.invites.order_by("-created", "-pk"))


def members_of(room: Room, viewer: Any) -> list[dict[str, Any]]:
    """The room's members in the order they joined, each with what `viewer` may do to them (the members page)."""
    viewer_role = role_of(room, viewer)
    rows = []
    for member in room.memberships.select_related("user"):
        rows.append(
            {
                "username": member.user.get_username(),
                "role": member.role,
                "removable": _may_remove(viewer_role, member.role) and member.user_id != viewer.pk,
                "promotable": viewer_role == Membership.Role.OWNER and member.role == Membership.Role.MEMBER,
                "demotable": viewer_role == Membership.Role.OWNER and member.role == Membership.Role.MODERATOR,
            }
        )
    return rows


def _may_remove(remover_role: str | None, member_role: str) -> bool:
    """The owner removes anyone but themselves; a moderator removes members only; nobody removes the owner."""
    if member_role == Membership.Role.OWNER:
        return False
    if remover_role == Membership.Role.OWNER:
        return True
    return remover_role == Membership.Role.MODERATOR and member_role == Membership.Role.MEMBER


async def aroom_to_open(name: str, user: Any) -> Room | None:
    """`visible_room` for a socket's `connect`: the room if the person may see it, else None.

    A stored room's kind never changes (the admin shows it read-only), so a public
    room with a row, once seen, is remembered by the process: sockets opening it
    again ask the database nothing, as before rooms could be private. The room
    then comes back as its name and id only (the socket reads the rest with its history).
    """
    remembered = process_state().public_rooms
    if name in remembered:
        return selectors.take_id(Room(name=name), remembered[name])
    room = await avisible_room(name, user)
    if room is not None and room.pk is not None and not room.is_private:
        if len(remembered) >= PUBLIC_ROOMS_REMEMBERED:
            del remembered[next(iter(remembered))]
        remembered[name] = room.pk
    return room


amay_see = database_sync_to_async(may_see)
avisible_room = database_sync_to_async(visible_room)
aprivate_rooms_of = database_sync_to_async(private_rooms_of)


### Writes ###


def _tell(user_id: Any, room: Room) -> None:
    """Once the transaction commits, tell every process that this account's place in `room` changed."""
    services.publish_on_commit(ACCOUNTS_GROUP, events.membership_changed(user_id, room.name))


def _require_manager(room: Room, by: Any) -> str:
    role = role_of(room, by) if room.is_private else None
    if role not in MANAGERS:
        raise NotAllowed("Only the room's owner and moderators can do that.")
    return role


@transaction.atomic
def create_private_room(owner: Any, title: str) -> Room:
    """A new private room called `title` (`clean_room_title`; raises `InvalidRoomName`), with `owner` its owner.

    Its name is the title slugged, a hyphen and random hex digits, so that
    nobody can take a public room's name with it or guess it from the title.
    An account owns at most ``CHAT_PRIVATE_ROOMS_PER_USER`` private rooms.
    """
    if not is_account(owner):
        raise NotAllowed("Log in to make a private room.")
    title = clean_room_title(title)
    # The account's row, locked: two rooms made at once can't both take its last place.
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    limit = settings.CHAT_PRIVATE_ROOMS_PER_USER
    if limit and Room.objects.filter(owner_id=owner.pk, kind=Room.Kind.PRIVATE).count() >= limit:
        raise LimitReached(f"You own {limit} private rooms, the most one account may; delete one to make another.")
    room = Room.objects.create(name=_new_room_name(title), kind=Room.Kind.PRIVATE, title=title, owner=owner)
    Membership.objects.create(room=room, user=owner, role=Membership.Role.OWNER)
    _tell(owner.pk, room)
    return room


def _new_room_name(title: str) -> str:
    """`title` slugged (letters of any script kept), cut to leave room for the random suffix, and the suffix."""
    stem = slugify(title, allow_unicode=True)[: ROOM_NAME_MAX_LENGTH - NAME_SUFFIX_HEX - 1].strip("-_") or "room"
    while True:
        name = clean_room_name(f"{stem}-{secrets.token_hex(NAME_SUFFIX_HEX // 2)}")
        if not Room.objects.filter(name=name).exists():
            return name


@transaction.atomic
def create_invite(room: Room, by: Any) -> Invite:
    """A new invite link's row for the room; at most `LIVE_INVITES_PER_ROOM` work at once."""
    _require_manager(room, by)
    Room.objects.select_for_update().filter(pk=room.pk).first()  # one room's invites counted one at a time
    if room.invites.count() >= LIVE_INVITES_PER_ROOM:
        raise LimitReached(
            f"This room has {LIVE_INVITES_PER_ROOM} invite links already, the most it may; revoke one first."
        )
    return Invite.objects.create(room=room, token=secrets.token_urlsafe(24), created_by=by)


@transaction.atomic
def invite_person(room: Room, by: Any, username: str) -> Notification:
    """Invite the account `username` to the room: an ``invitation`` notification that leads to an invite link.

    The room's owner and moderators invite, as they make links. The link is the
    room's newest that works, whoever made it, or a new one: inviting people one
    by one adds no rows beyond the first link, and revoking that link stops the
    invitations that lead to it, as it stops any copy of it. Each invitation is one
    notification of the inviter's ``CHAT_NOTIFICATIONS_PER_SENDER`` a minute
    (mentions spend the same budget); past it, nothing is stored.
    """
    if room.kind == Room.Kind.DIRECT:
        raise NotAllowed("A direct conversation is for its two people: nobody can be invited to it.")
    _require_manager(room, by)
    invitee = _active_account_named(username)
    if Membership.objects.filter(room=room, user_id=invitee.pk).exists():
        raise AlreadyMember(f"{invitee.get_username()} is a member of this room already.")
    Room.objects.select_for_update().filter(pk=room.pk).first()  # two invitations at once make one link, not two
    invite = room.invites.order_by("-created", "-pk").first()
    # Pressing Invite twice (or for "Bob" after "bob") must not stack invitations; one to a revoked link may go again.
    if invite is not None and has_unread_invitation(invitee, _join_path(invite)):
        raise AlreadyInvited(f"{invitee.get_username()} has an invitation to this room already, not yet read.")
    invite = invite or create_invite(room, by)
    notification = notify_invitation(invitee, room, by, _join_path(invite))
    if notification is None:
        seconds = seconds_until_sender_may(account_key(by.pk))
        raise LimitReached(
            "You have sent as many invitations and mentions as one account may in a minute; "
            f"try again in {seconds} second{'' if seconds == 1 else 's'}."
        )
    return notification


def _join_path(invite: Invite) -> str:
    return reverse("chat:join", args=[invite.token])


def _active_account_named(username: str) -> Any:
    """The active account called `username` (`accounts.selectors.active_account_named`). Raises `NotFound`."""
    if not username.strip():
        raise NotFound("Type the username of the person to invite.")
    account = active_account_named(username)
    if account is None:
        shown = shown_username(username)
        raise NotFound(f"Nobody called “{shown}” has an account here (or it is no longer in use).")
    return account


@transaction.atomic
def revoke_invite(room: Room, by: Any, invite_id: int) -> None:
    """Stop one of the room's invites from working; members who joined through it stay.

    Its row goes: kept, a loop of making and revoking links would store rows without end.
    """
    _require_manager(room, by)
    deleted, _ = room.invites.filter(pk=invite_id).delete()
    if not deleted:
        raise NotFound("This room has no such invite link, or it was revoked already.")


@transaction.atomic
def join_by_invite(user: Any, token: str) -> Room:
    """Make the account a member of the invite's room; a member already stays as they are."""
    if not is_account(user):
        raise NotAllowed("Log in to join a room.")
    invite = live_invite(token)
    if invite is None:
        raise NotFound("This invite link doesn't work: it was revoked, or it was never one.")
    _, created = Membership.objects.get_or_create(room=invite.room, user_id=user.pk)
    if created:
        _tell(user.pk, invite.room)
    return invite.room


def _membership(room: Room, username: str) -> Membership:
    member = room.memberships.select_for_update().filter(user__username=username).first()
    if member is None:
        raise NotFound(f"{username!r} is not a member of this room.")
    return member


@transaction.atomic
def remove_member(room: Room, by: Any, username: str) -> None:
    """Take `username` out of the room: the owner removes anyone but themselves, a moderator plain members only.

    Their open sockets in the room are closed as soon as this commits.
    """
    role = _require_manager(room, by)
    member = _membership(room, username)
    if not _may_remove(role, member.role):
        raise NotAllowed("The owner can't be removed, and moderators can remove members only.")
    member.delete()
    # The invitation in their inbox would take them straight back in.
    forget_invitations(member.user_id, room.name)
    _tell(member.user_id, room)


@transaction.atomic
def set_role(room: Room, by: Any, username: str, role: str) -> None:
    """Make a member a moderator, or a moderator a member again; the owner's to decide, and the owner stays owner."""
    if role_of(room, by) != Membership.Role.OWNER:
        raise NotAllowed("Only the room's owner can name moderators.")
    if role not in (Membership.Role.MODERATOR, Membership.Role.MEMBER):
        raise NotAllowed("A member can be made a moderator or a member; the owner stays the owner.")
    member = _membership(room, username)
    if member.role == Membership.Role.OWNER:
        raise NotAllowed("The owner stays the owner.")
    if member.role != role:
        member.role = role
        member.save(update_fields=["role"])
        _tell(member.user_id, room)
