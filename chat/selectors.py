"""What the chat reads: rooms, their messages, and a stored message as its frame.

Reading only: opening a room stores nothing (`room_named`); `chat.services`
writes messages, and a room's row with its first one. A deleted message keeps
its row (`Message.deleted`, its text blanked) but is never read as a message:
history, catch-up and holes pass over it, and catch-up tells pages that hold
it to drop it (`changes_through`). `get_or_create_room`
is left for scripts and tests that need a stored room up front. Each function has an ``a``-prefixed
async form where async callers need it, as in `chat.services`.
"""

from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery

from accounts.identity import is_account
from chat import protocol
from chat.models import Membership, Message, ReadMark, Room


def get_or_create_room(name: str) -> Room:
    """The room called `name` (already clean), created on first use."""
    room, _ = Room.objects.get_or_create(name=name)
    return room


def room_named(name: str) -> Room:
    """The room called `name` (already clean): its row, or an unsaved `Room` (no id) if nothing was ever said in it.

    Opening a room stores nothing: its first message does (`services.save_message`),
    so a client opening rooms by the thousand leaves no row behind.
    """
    return Room.objects.filter(name=name).first() or Room(name=name)


def stored_room(room: Room) -> Room | None:
    """`room` if it has a row; None if it still has none.

    A room that had no row when a socket opened it may have one now (somebody
    said something since, on any process): it is looked up again, and `room`
    takes its id, so later calls ask the database nothing.
    """
    if room.pk is None:
        pk = Room.objects.filter(name=room.name).values_list("pk", flat=True).first()
        if pk is None:
            return None
        take_id(room, pk)
    return room


def take_id(room: Room, pk: int) -> Room:
    """Give `room`, opened before it had a row, the id of the row stored since; returns it."""
    room.pk = pk
    room._state.adding = False
    return room


def recent_messages(room: Room, limit: int | None = None, after: int = 0) -> list[Message]:
    """The room's newest messages (at most `limit`, all newer than id `after`), oldest first."""
    if stored_room(room) is None:
        return []
    limit = settings.CHAT_HISTORY_LENGTH if limit is None else limit
    newest = list(_said(room).filter(room_message_id__gt=after).order_by("-room_message_id")[:limit])
    newest.reverse()
    return newest


# The messages still said: not deleted (the partial index `chat_message_said` covers these).
_STILL_SAID = Q(deleted__isnull=True)


def _said(room: Room) -> QuerySet[Message]:
    """The room's messages that were not deleted."""
    return room.messages.filter(_STILL_SAID)


def history_before(room: Room, before: int) -> tuple[list[dict], bool]:
    """The frames of the room's newest ``CHAT_HISTORY_LENGTH`` messages older than id `before`, oldest first,
    and whether they reach back to its first message (deleted ones aside): what a ``history`` frame asks.

    One query of at most ``CHAT_HISTORY_LENGTH + 1`` rows (the one more tells whether any is left), by the
    room's name when the socket opened it before it had a row.
    """
    limit = settings.CHAT_HISTORY_LENGTH
    said = Message.objects.filter(_STILL_SAID, room_message_id__lt=before)
    said = said.filter(room_id=room.pk) if room.pk is not None else said.filter(room__name=room.name)
    older = list(said.order_by("-room_message_id")[: limit + 1])
    complete = len(older) <= limit
    return [message_frame(message) for message in reversed(older[:limit])], complete


def open_room(name: str, after: int | None = None) -> tuple[Room, list[dict]]:
    """The room called `name` (see `room_named`) and the frames a socket opening it gets first.

    That is the recent history, or with `after` what `catch_up_frames` gives. One
    call, so one database round trip from async code. A room without a row has
    no messages, and gets no row.
    """
    room = room_named(name)
    if room.pk is None:
        return room, []
    if after is None:
        return room, [message_frame(message) for message in recent_messages(room)]
    return room, catch_up_frames(room, after)


def messages_between(room: Room, after: int, before: int) -> list[Message]:
    """The room's messages with ids strictly between `after` and `before`, oldest first."""
    if stored_room(room) is None:
        return []
    return list(_said(room).filter(room_message_id__gt=after, room_message_id__lt=before))


def recently_active_rooms(limit: int = 50, user: Any = None) -> dict[str, str | None]:
    """The rooms `user` may see with the newest messages, newest first: name to the time of the last message.

    Public rooms, and the private ones `user` is a member of: other people's
    private rooms must not take the places of the rooms a lobby may list.
    """
    rooms = (
        Room.objects.filter(_visible_to(user))
        .annotate(last=Max("messages__created"))
        .filter(last__isnull=False)
        .order_by("-last")
        .values_list("name", "last")[:limit]
    )
    return {name: protocol.format_time(last) for name, last in rooms}


def _visible_to(user: Any) -> Q:
    """Rooms anyone may see, and the members-only rooms of `user`'s memberships."""
    public = Q(kind=Room.Kind.PUBLIC)
    if user is None or not user.is_authenticated or not user.is_active:
        return public
    return public | Q(pk__in=Membership.objects.filter(user_id=user.pk).values("room_id"))


def private_rooms_among(names: Iterable[str], user: Any) -> dict[str, dict[str, str] | None]:
    """Which of these rooms are members-only: name to its ``title`` and ``kind`` for `user`'s, None for others'.

    Rooms without a row are public (a private room is stored when it is made), so are left out.
    """
    private = Room.objects.filter(name__in=list(names)).exclude(kind=Room.Kind.PUBLIC)
    rows = list(private.values_list("pk", "name", "title", "kind"))
    mine = set()
    if rows and user is not None and user.is_authenticated and user.is_active:
        memberships = Membership.objects.filter(user_id=user.pk, room_id__in=[pk for pk, *_ in rows])
        mine = set(memberships.values_list("room_id", flat=True))
    listed = {name: {"title": title or name, "kind": kind} if pk in mine else None for pk, name, title, kind in rows}
    return name_direct_rooms(listed, user)


def last_ids_and_marks(names: Iterable[str], user: Any) -> dict[str, tuple[int, int | None]]:
    """Each of these rooms' newest message id, and `user`'s read mark in it (None if none, or a guest), in one query.

    Rooms without a row are left out: their newest id is 0.
    """
    rooms = Room.objects.filter(name__in=list(names))
    if not is_account(user):
        return {name: (last_id, None) for name, last_id in rooms.values_list("name", "last_message_id")}
    mark = ReadMark.objects.filter(room_id=OuterRef("pk"), user_id=user.pk).values("last_read")[:1]
    rows = rooms.annotate(read=Subquery(mark)).values_list("name", "last_message_id", "read")
    return {name: (last_id, read) for name, last_id, read in rows}


def name_direct_rooms(listed: dict[str, dict[str, str] | None], user: Any) -> dict[str, dict[str, str] | None]:
    """Give each direct conversation among `listed` (name to ``title`` and ``kind``) the other person's name as title.

    A conversation's name (``dm-`` and hex) means nothing to either of the two.
    """
    direct = [name for name, entry in listed.items() if entry is not None and entry["kind"] == Room.Kind.DIRECT]
    if direct:
        others = Membership.objects.filter(room__name__in=direct).exclude(user_id=user.pk)
        for room_name, username in others.values_list("room__name", "user__username"):
            listed[room_name]["title"] = username
    return listed


def message_frame(message: Message) -> dict:
    """The ``chat.message`` frame for a stored message."""
    return protocol.chat_message(
        message.room_message_id,
        message.text,
        message.author,
        message.created,
        str(message.kind),
        str(message.author_kind),
        message.edited,
        message.sender,
    )


def frames_between(room: Room, after: int, before: int) -> list[dict]:
    """`messages_between` as frames: what fills a hole a socket found in the ids it was sent."""
    return [message_frame(message) for message in messages_between(room, after, before)]


def catch_up_frames(room: Room, after: int) -> list[dict]:
    """What a socket that holds the messages up to id `after` missed: new messages, then changes to those it holds.

    First the ``chat.message`` frames of the messages newer than `after` (at most
    ``CHAT_CATCH_UP_LIMIT``, the newest), as they are now; then `changes_through`
    `after`. The second part repeats changes the socket may have seen already,
    which a page applies once (an ``edit`` is applied if newer than its text,
    a ``delete`` of a message it no longer shows does nothing).
    """
    missed = [message_frame(message) for message in recent_messages(room, settings.CHAT_CATCH_UP_LIMIT, after)]
    return missed + changes_through(room, after)


def changes_through(room: Room, newest: int) -> list[dict]:
    """``edit`` and ``delete`` frames for the edited or deleted among the ``CHAT_HISTORY_LENGTH`` ids up to `newest`.

    What a page that holds the messages up to `newest` needs to show them as
    they are now. Only the newest ``CHAT_HISTORY_LENGTH`` ids, as a page opened
    then shows: the frames are bounded whatever the room's past, and a change
    to an older message shows on a reload.
    """
    if stored_room(room) is None or newest < 1:
        return []
    changed = room.messages.filter(
        Q(edited__isnull=False) | Q(deleted__isnull=False),
        room_message_id__gt=newest - settings.CHAT_HISTORY_LENGTH,
        room_message_id__lte=newest,
    )
    return [change_frame(message) for message in changed.order_by("room_message_id")]


def change_frame(message: Message) -> dict:
    """The ``delete`` frame of a deleted message, else the ``edit`` frame of an edited one."""
    if message.deleted is not None:
        return protocol.delete(message.room_message_id)
    return protocol.edit(message.room_message_id, message.text, protocol.format_time(message.edited))


aget_or_create_room = database_sync_to_async(get_or_create_room)
arecent_messages = database_sync_to_async(recent_messages)
aroom_named = database_sync_to_async(room_named)
aopen_room = database_sync_to_async(open_room)
ahistory_before = database_sync_to_async(history_before)
alast_ids_and_marks = database_sync_to_async(last_ids_and_marks)
astored_room = database_sync_to_async(stored_room)
amessages_between = database_sync_to_async(messages_between)
arecently_active_rooms = database_sync_to_async(recently_active_rooms)
aprivate_rooms_among = database_sync_to_async(private_rooms_among)
aframes_between = database_sync_to_async(frames_between)
acatch_up_frames = database_sync_to_async(catch_up_frames)
