"""What the chat reads: rooms, their messages, and a stored message as its frame.

Reading only, but for a room made on first use (`get_or_create_room`);
`chat.services` writes messages. Each function has an ``a``-prefixed
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


def recent_messages(room: Room, limit: int | None = None, after: int = 0) -> list[Message]:
    """The room's newest messages (at most `limit`, all newer than id `after`), oldest first."""
    limit = settings.CHAT_HISTORY_LENGTH if limit is None else limit
    newest = list(room.messages.filter(room_message_id__gt=after).order_by("-room_message_id")[:limit])
    newest.reverse()
    return newest


def open_room(name: str, after: int | None = None) -> tuple[Room, list[Message]]:
    """The room called `name` (created on first use) and what a socket opening it gets first.

    That is the recent history, or with `after` every message since that id (at
    most ``CHAT_CATCH_UP_LIMIT``, the newest). One call, so one database round trip from async code.
    """
    room = get_or_create_room(name)
    if after is None:
        return room, recent_messages(room)
    return room, recent_messages(room, limit=settings.CHAT_CATCH_UP_LIMIT, after=after)


def messages_between(room: Room, after: int, before: int) -> list[Message]:
    """The room's messages with ids strictly between `after` and `before`, oldest first."""
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
        message.room_message_id, message.text, message.author, message.created, str(message.kind)
    )


def frames_between(room: Room, after: int, before: int) -> list[dict]:
    """`messages_between` as frames: what fills a hole a socket found in the ids it was sent."""
    return [message_frame(message) for message in messages_between(room, after, before)]


def catch_up_frames(room: Room, after: int) -> list[dict]:
    """The frames a socket missed after id `after` (at most ``CHAT_CATCH_UP_LIMIT``, the newest)."""
    return [message_frame(message) for message in recent_messages(room, settings.CHAT_CATCH_UP_LIMIT, after)]


aget_or_create_room = database_sync_to_async(get_or_create_room)
arecent_messages = database_sync_to_async(recent_messages)
aopen_room = database_sync_to_async(open_room)
amessages_between = database_sync_to_async(messages_between)
arecently_active_rooms = database_sync_to_async(recently_active_rooms)
aframes_between = database_sync_to_async(frames_between)
acatch_up_frames = database_sync_to_async(catch_up_frames)
