"""What the chat reads: rooms, their messages, and a stored message as its frame.

Reading only: opening a room stores nothing (`room_named`); `chat.services`
writes messages, and a room's row with its first one. `get_or_create_room`
is left for scripts and tests that need a stored room up front. Each function has an ``a``-prefixed
async form where async callers need it, as in `chat.services`.
"""

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max

from chat import protocol
from chat.models import Message, Room


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


def take_id(room: Room, pk: int) -> None:
    """Give `room`, opened before it had a row, the id of the row stored since."""
    room.pk = pk
    room._state.adding = False


def recent_messages(room: Room, limit: int | None = None, after: int = 0) -> list[Message]:
    """The room's newest messages (at most `limit`, all newer than id `after`), oldest first."""
    if stored_room(room) is None:
        return []
    limit = settings.CHAT_HISTORY_LENGTH if limit is None else limit
    newest = list(room.messages.filter(room_message_id__gt=after).order_by("-room_message_id")[:limit])
    newest.reverse()
    return newest


def open_room(name: str, after: int | None = None) -> tuple[Room, list[Message]]:
    """The room called `name` (see `room_named`) and what a socket opening it gets first.

    That is the recent history, or with `after` every message since that id (at
    most ``CHAT_CATCH_UP_LIMIT``, the newest). One call, so one database round trip from async code.
    A room without a row has no messages, and gets no row.
    """
    room = room_named(name)
    if room.pk is None:
        return room, []
    if after is None:
        return room, recent_messages(room)
    return room, recent_messages(room, limit=settings.CHAT_CATCH_UP_LIMIT, after=after)


def messages_between(room: Room, after: int, before: int) -> list[Message]:
    """The room's messages with ids strictly between `after` and `before`, oldest first."""
    if stored_room(room) is None:
        return []
    return list(room.messages.filter(room_message_id__gt=after, room_message_id__lt=before))


def recently_active_rooms(limit: int = 50) -> dict[str, str | None]:
    """The rooms with the newest messages, newest first: name to the time of the last message."""
    rooms = (
        Room.objects.annotate(last=Max("messages__created"))
        .filter(last__isnull=False)
        .order_by("-last")
        .values_list("name", "last")[:limit]
    )
    return {name: protocol.format_time(last) for name, last in rooms}


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
    """The frames a socket missed after id `after` (at most ``CHAT_CATCH_UP_LIMIT``, the newest)."""
    return [message_frame(message) for message in recent_messages(room, settings.CHAT_CATCH_UP_LIMIT, after)]


aget_or_create_room = database_sync_to_async(get_or_create_room)
arecent_messages = database_sync_to_async(recent_messages)
aroom_named = database_sync_to_async(room_named)
aopen_room = database_sync_to_async(open_room)
astored_room = database_sync_to_async(stored_room)
amessages_between = database_sync_to_async(messages_between)
arecently_active_rooms = database_sync_to_async(recently_active_rooms)
aframes_between = database_sync_to_async(frames_between)
acatch_up_frames = database_sync_to_async(catch_up_frames)
