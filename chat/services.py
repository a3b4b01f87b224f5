"""What the chat does: rooms, history, and saying something in a room.

The only module that writes messages. Views, consumers, commands and other
code call these functions; each has a sync form and, where async callers need
it, an ``a``-prefixed async form (as Django's own ORM does).
"""

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F

from chat import protocol
from chat.groups import room_group_name
from chat.models import Message, Room


def get_or_create_room(name: str) -> Room:
    """The room called `name` (already clean), created on first use."""
    room, _ = Room.objects.get_or_create(name=name)
    return room


def recent_messages(room: Room, limit: int | None = None) -> list[Message]:
    """The room's newest messages, oldest first."""
    limit = settings.CHAT_HISTORY_LENGTH if limit is None else limit
    newest = list(room.messages.order_by("-room_message_id")[:limit])
    newest.reverse()
    return newest


@transaction.atomic
def save_message(room: Room, author: str, text: str) -> Message:
    """Store a message under the room's next id.

    Bumping the room's counter locks the room's row until commit, so ids in a
    room follow commit order even with many processes writing at once.
    """
    Room.objects.filter(pk=room.pk).update(last_message_id=F("last_message_id") + 1)
    message_id = Room.objects.values_list("last_message_id", flat=True).get(pk=room.pk)
    return Message.objects.create(room=room, room_message_id=message_id, author=author, text=text)


def message_frame(message: Message) -> dict:
    """The ``chat.message`` frame for a stored message."""
    return protocol.chat_message(message.room_message_id, message.text, message.author, message.created)


async def apublish(room_name: str, frame: dict) -> None:
    """Send a frame to every socket in the room, in every process, through the room's Group."""
    await get_channel_layer().group_send(room_group_name(room_name), frame)


async def apost_message(room: Room, author: str, text: str) -> Message:
    """Save a message, then fan it out to the room. Saved first, so history never misses a delivered message."""
    message = await database_sync_to_async(save_message)(room, author, text)
    await apublish(room.name, message_frame(message))
    return message


def post_message(room: Room, author: str, text: str) -> Message:
    """`apost_message` for sync code: views, signals, management commands."""
    message = save_message(room, author, text)
    async_to_sync(apublish)(room.name, message_frame(message))
    return message


aget_or_create_room = database_sync_to_async(get_or_create_room)
arecent_messages = database_sync_to_async(recent_messages)
