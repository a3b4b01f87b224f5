"""Who may do what in a room: the reads every door of a room asks before letting someone in.

A public room is everyone's. A private room or a direct conversation is its
members' only: an account needs a `Membership` (`chat.models`), and a guest is
never a member. Staff have no way into a private room they are not members of.
"""

from typing import Any

from channels.db import database_sync_to_async

from chat.models import Membership, Room


def role_of(room: Room, user: Any) -> str | None:
    """The account's role in a stored private room (``owner``, ``moderator``, ``member``), or None."""
    if room.pk is None or user is None or not user.is_authenticated or not user.is_active:
        return None
    return Membership.objects.filter(room=room, user_id=user.pk).values_list("role", flat=True).first()


def may_see(room: Room, user: Any) -> bool:
    """Whether the person may see, read and join the room: anyone for a public one, members for a private one."""
    return not room.is_private or role_of(room, user) is not None


def may_moderate(room: Room, user: Any) -> bool:
    """Whether the person may delete anyone's message in the room: its owner, its moderators, and staff."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or role_of(room, user) in (Membership.Role.OWNER, Membership.Role.MODERATOR)


arole_of = database_sync_to_async(role_of)
amay_see = database_sync_to_async(may_see)
amay_moderate = database_sync_to_async(may_moderate)
