"""Direct conversations: "Message <name>" opens the private room of exactly two accounts.

A direct room is a private room (kind ``direct``) of exactly two accounts, both
plain members: nobody owns it, nobody moderates it, no invite adds to it. The
doors of every room ask `chat.membership`, which treats it as any private room.
`open_direct_room` makes one; `room_heading` names a room on its page.
"""

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.selectors import active_account_named, shown_username
from chat.models import Membership, Room


class DirectRoomRefused(Exception):
    """Why a direct conversation can't be opened, in a sentence for the person; `status` is the page's HTTP status."""

    status = 400


class NotSignedIn(DirectRoomRefused):
    status = 403


class NoSuchAccount(DirectRoomRefused):
    status = 404


class TooManyDirectRooms(DirectRoomRefused):
    status = 429


def open_direct_room(user: Any, other_username: str) -> Room:
    """The direct room of exactly the signed-in `user` and the active account `other_username`, made the first time.

    Whoever opens it, and however many times at once, the pair has one room: it
    is looked for again, and made, with both accounts' rows locked (in id order,
    so that two openings of one pair wait for each other rather than deadlock).
    SQLite, which has no row locks, takes its write lock when the transaction
    begins (``transaction_mode`` in mysite/settings.py), which serialises them too.
    Raises a `DirectRoomRefused` for a guest, oneself, an unknown or inactive
    account, or past ``CHAT_DIRECT_ROOMS_PER_HOUR`` new rooms.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotSignedIn("Sign in to message someone: guests have no direct messages.")
    other = _active_account(other_username)
    if other.pk == user.pk:
        raise DirectRoomRefused("That is you: choose someone else to message.")
    found = _direct_room_of(user.pk, other.pk)
    if found is not None:
        return found
    with transaction.atomic():
        list(get_user_model().objects.select_for_update().filter(pk__in=(user.pk, other.pk)).order_by("pk"))
        found = _direct_room_of(user.pk, other.pk)  # made by an opening that held the locks before us?
        if found is not None:
            return found
        _count_new_direct_room(user)
        return _create_direct_room(opener_id=user.pk, other_id=other.pk)


def _active_account(username: str) -> Any:
    """The active account called `username` (`accounts.selectors.active_account_named`). Raises `NoSuchAccount`."""
    if not username.strip():
        raise DirectRoomRefused("Type the username of the person to message.")
    account = active_account_named(username)
    if account is None:
        shown = shown_username(username)
        raise NoSuchAccount(f"Nobody called “{shown}” has an account here (or it is no longer in use).")
    return account


def _direct_room_of(first_id: int, second_id: int) -> Room | None:
    """The pair's direct room, if they have one: the direct room with a membership of each."""
    return (
        Room.objects.filter(kind=Room.Kind.DIRECT, memberships__user_id=first_id)
        .filter(memberships__user_id=second_id)
        .order_by("pk")
        .first()
    )


def _count_new_direct_room(user: Any) -> None:
    """Raise `TooManyDirectRooms` if `user` opened ``CHAT_DIRECT_ROOMS_PER_HOUR`` new direct rooms within the hour.

    Counted in the database, so the limit holds across processes; only rooms the
    person opened count (their membership is the room's first), never those
    others opened with them, so nobody can spend someone else's allowance.
    """
    limit = settings.CHAT_DIRECT_ROOMS_PER_HOUR
    if not limit:
        return
    first_member = Membership.objects.filter(room=OuterRef("pk")).order_by("pk").values("user_id")[:1]
    opened = (
        Room.objects.filter(kind=Room.Kind.DIRECT, created__gte=timezone.now() - timedelta(hours=1))
        .filter(memberships__user_id=user.pk)
        .annotate(opener=Subquery(first_member))
        .filter(opener=user.pk)
        .count()
    )
    if opened >= limit:
        raise TooManyDirectRooms(
            f"You have started as many new conversations within the hour as you may ({limit}): try again later."
            " Conversations you already have open as usual."
        )


def _create_direct_room(*, opener_id: int, other_id: int) -> Room:
    """A new direct room of the two, named ``dm-`` and random hex (no guessing it); the opener's membership first."""
    name = f"dm-{secrets.token_hex(8)}"
    while Room.objects.filter(name=name).exists():  # a public room of that name: hardly ever, but never two in one
        name = f"dm-{secrets.token_hex(8)}"
    room = Room.objects.create(name=name, kind=Room.Kind.DIRECT)
    for user_id in (opener_id, other_id):
        Membership.objects.create(room=room, user_id=user_id, role=Membership.Role.MEMBER)
    return room


def room_heading(room: Room, user: Any) -> str | None:
    """What a room's page calls it: a direct room the viewer's counterpart, a private room its title; else None.

    None: the page says "Room <name>". Someone who is no member of a direct room
    is told no names.
    """
    if room.kind == Room.Kind.DIRECT and room.pk is not None:
        viewer = user.pk if user is not None and user.is_authenticated else None
        members = dict(room.memberships.values_list("user_id", "user__" + get_user_model().USERNAME_FIELD))
        others = [name for user_id, name in members.items() if user_id != viewer]
        return others[0] if viewer in members and others else "Direct conversation"
    return room.title or None
