"""What the chat does: saying something in a room, deleting it, and telling everyone.

With `chat.editing` (who may change a message, and its edits), the only module
that writes messages; `chat.selectors` reads them. Views,
consumers, commands and other code call these functions; each has a sync form
and, where async callers need it, an ``a``-prefixed async form (as Django's
own ORM does).

Names say what a function touches: ``save_*`` and ``delete_*`` only the
database, ``publish_*`` only the channel layer, ``post_*`` both, the write
first. Sync code that runs inside a transaction (the admin's) publishes
through ``transaction.on_commit``, so no process hears of a change before it
can read it.
"""

import asyncio
import functools
import logging
import math
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.identity import Person
from chat import events, limits, metrics, presence, protocol, selectors
from chat.groups import LOBBY_GROUP, MENTIONS_GROUP, clean_room_name, room_group_name
from chat.mentions import amentioned_people
from chat.models import Message, Room
from chat.process import process_state
from chat.selectors import message_frame
from notifications.services import anotify_mentions, forget_mentions

SYSTEM_AUTHOR = "System"


logger = logging.getLogger(__name__)


@transaction.atomic
def save_message(
    room: Room, author: Person | str, text: str, client_id: str | None = None, kind: str = Message.Kind.USER
) -> Message:
    """Store a message under the room's next id; a client id the sender already used returns that message instead.

    `author` is the person who said it, or for server code (notifications,
    scripts) just a name. Locking the room's row until commit means ids in a room follow commit order
    and have no holes, even with many processes writing at once. A room's first
    message stores the room; opening one stores nothing.
    """
    locked = _lock_room(room)
    if room.pk != locked.pk:
        # Only once committed: a rolled-back first message leaves the room without a row again.
        transaction.on_commit(functools.partial(selectors.take_id, room, locked.pk))
    said_by = _author_fields(author, kind)
    if client_id:
        existing = locked.messages.filter(sender=said_by["sender"], client_id=client_id).first()
        if existing is not None:
            existing.resent = True
            return existing
    locked.last_message_id += 1
    locked.save(update_fields=["last_message_id"])
    return Message.objects.create(
        room=locked, room_message_id=locked.last_message_id, text=text, client_id=client_id or "", kind=kind, **said_by
    )


def _author_fields(author: Person | str, kind: str) -> dict:
    """A message's author, author kind, sender and user, from the person who said it or a name server code gave."""
    if isinstance(author, Person):
        return {"author": author.name, "author_kind": author.kind, "sender": author.key, "user_id": author.user_id}
    author_kind = Message.AuthorKind.SYSTEM if kind == Message.Kind.SYSTEM else Message.AuthorKind.GUEST
    return {"author": author, "author_kind": author_kind, "sender": "", "user_id": None}


def _lock_room(room: Room) -> Room:
    """The room's row, locked until the transaction ends; stored now if nothing was said in the room yet."""
    if room.pk is not None:
        locked = Room.objects.select_for_update().filter(pk=room.pk).first()
        if locked is not None:
            return locked
    Room.objects.get_or_create(name=room.name)
    return Room.objects.select_for_update().get(name=room.name)


# --8<-- [start:publish]
async def apublish(room_name: str, frame: dict) -> None:
    """Send a frame to every socket in the room, in every process, through the room's Group."""
    with metrics.GROUP_SEND_SECONDS.time():
        await get_channel_layer().group_send(room_group_name(room_name), frame)


# --8<-- [end:publish]


def publish_on_commit(group: str, event: dict) -> None:
    """From sync code: send `event` to `group` once the current transaction commits (at once outside one).

    After the commit, so that no process hears of a change and then reads the row as it was before.
    """
    transaction.on_commit(lambda: async_to_sync(get_channel_layer().group_send)(group, event))


async def apublish_message(room: Room, message: Message, client_address: str | None = None) -> None:
    """Fan a stored message out to its room, and to the people it mentions wherever they are (`chat.mentions`).

    Mentioned accounts also get a notification (`notifications.services`), within the budget of
    the sender (of its `client_address` for a guest); a resend's were made when it was first stored.
    """
    frame = message_frame(message)
    metrics.MESSAGES.labels(frame["kind"]).inc()
    await apublish(room.name, frame)
    await apublish_activity(room.name, frame["created"], frame["id"], kind=members_only_kind(room))
    mentioned = await amentioned_people(room, message.text, message.sender)
    if mentioned:
        await get_channel_layer().group_send(MENTIONS_GROUP, events.mention(room.name, frame, mentioned))
        # A resend's toast goes again, as its message does; what is stored for a person is made once.
        if not message.resent:
            await anotify_mentions(room, message, mentioned, client_address)


# --8<-- [start:post-message]
async def apost_message(
    room: Room,
    author: Person | str,
    text: str,
    client_id: str | None = None,
    kind: str = Message.Kind.USER,
    *,
    client_address: str | None = None,
) -> Message:
    """Save a message, then fan it out. Saved first, so history never misses a delivered message.

    A resend (same `client_id`) is published again: it may be the original's
    publication that was lost, and sockets drop ids they already have. A message
    from a client (`client_address`) that would store a new room counts towards
    the address's new rooms; past ``CHAT_NEW_ROOMS_PER_IP`` an hour it raises
    `protocol.ProtocolError` (``too_many_rooms``) and stores nothing.
    """
    if client_address is not None:
        await _count_new_room(room, client_address, client_id)
    message = await database_sync_to_async(save_message)(room, author, text, client_id, kind)
    await apublish_message(room, message, client_address)
    return message


# --8<-- [end:post-message]


async def _count_new_room(room: Room, client_address: str, client_id: str | None) -> None:
    """Count the room towards the address's new rooms if this message would store it; raise past the limit."""
    if room.pk is not None or await selectors.astored_room(room) is not None:
        return
    limit = settings.CHAT_NEW_ROOMS_PER_IP
    if not limits.new_rooms.take(client_address, limit, room.name):
        minutes = math.ceil(limits.new_rooms.seconds_left() / 60)
        detail = (
            f"Your address has started {limit} new rooms within the hour, the most it may; say it in a room that is"
            f" already in use, or try again in {minutes} min."
        )
        raise protocol.ProtocolError(protocol.TOO_MANY_ROOMS, detail, client_id)


def post_message(
    room: Room, author: Person | str, text: str, client_id: str | None = None, kind: str = Message.Kind.USER
) -> Message:
    """`apost_message` for sync code: views, signals, management commands."""
    message = save_message(room, author, text, client_id, kind)
    async_to_sync(apublish_message)(room, message)
    return message


def members_only_kind(room: Room) -> str | None:
    """A private room's or direct conversation's kind, which lobby events carry; None for a public room."""
    return room.kind if room.is_private else None


def notification_room(room_name: str) -> Room:
    """The room a notification may go to: a public one (raises `InvalidRoomName`, or `ProtocolError` ``forbidden``).

    Notifications are for rooms anyone may read: the server speaking in a
    members-only room would tell whoever runs a script or holds the API token
    what is in it, and would name the room to them.
    """
    room = selectors.room_named(clean_room_name(room_name))
    if room.is_private:
        detail = f"Room {room.name!r} is private: notifications go to public rooms only."
        raise protocol.ProtocolError(protocol.FORBIDDEN, detail)
    return room


anotification_room = database_sync_to_async(notification_room)


def post_notification(room_name: str, text: str, author: str = SYSTEM_AUTHOR) -> Message:
    """Say something in a public room as the server, from anywhere in Django: views, signals, commands, cron jobs.

    Stored like any message (so history and catch-up include it) and fanned out
    to every Daphne process. Raises `InvalidRoomName` or `protocol.ProtocolError`
    for a bad room (a private one: ``forbidden``) or text. The room is stored if nothing was said in it yet.
    """
    room = notification_room(room_name)
    text = protocol.check_message_text(text, settings.CHAT_MAX_MESSAGE_LENGTH)
    return post_message(room, author, text, kind=Message.Kind.SYSTEM)


async def apost_notification(room_name: str, text: str, author: str = SYSTEM_AUTHOR) -> Message:
    """`post_notification` for async code."""
    room = await anotification_room(room_name)
    text = protocol.check_message_text(text, settings.CHAT_MAX_MESSAGE_LENGTH)
    return await apost_message(room, author, text, kind=Message.Kind.SYSTEM)


async def apublish_deletion(room_name: str, message_id: int) -> None:
    """Take a deleted message off every open page of its room."""
    await apublish(room_name, events.deletion(message_id))


def post_deletions(messages: list[Message]) -> None:
    """Delete messages (a moderator's decision, in the admin) and, once that is committed, take them off every page."""
    for message in messages:
        if message.deleted is None:
            delete_stored_message(message)
            publish_on_commit(room_group_name(message.room.name), events.deletion(message.room_message_id))


def publish_edit(message: Message) -> None:
    """Say, once the edit is committed, that a stored message changed (in the admin, say).

    Sockets opening its room then read it afresh; pages that already show the message keep what they show.
    """
    publish_on_commit(room_group_name(message.room.name), events.history_changed())


def delete_stored_message(message: Message) -> None:
    """Mark a message deleted and forget its text; its row stays, so that a catch-up can tell pages to drop it."""
    message.text = ""
    message.deleted = timezone.now()
    message.save(update_fields=["text", "deleted"])
    forget_mentions(message)


def delete_message(room: Room, message_id: int) -> bool:
    """Delete one message of the room by its id; False when there is no such message (or it is deleted already)."""
    if selectors.stored_room(room) is None:
        return False  # nothing was ever said in it
    message = room.messages.filter(room_message_id=message_id, deleted__isnull=True).first()
    if message is None:
        return False
    delete_stored_message(message)
    return True


async def apost_deletion(room: Room, message_id: int) -> bool:
    """`delete_message`, then tell every page in the room (the deletion commits before the call returns)."""
    deleted = await database_sync_to_async(delete_message)(room, message_id)
    if deleted:
        await apublish_deletion(room.name, message_id)
    return deleted


# Joins and leaves in a burst (a class arriving) become one presence list per room,
# sent this long after the first of them: one list for the room instead of one per join.
PRESENCE_COALESCE_SECONDS = 0.25


async def apublish_presence(room_name: str, kind: str | None = None) -> None:
    """Tell the room who is in it now, and every lobby how many, soon (see `PRESENCE_COALESCE_SECONDS`).

    `kind`: `members_only_kind` of the room, so that only its members' lobbies hear of a private one.
    """
    state = process_state()
    state.presence_changes[room_name] = state.presence_changes.get(room_name, 0) + 1
    if room_name in state.presence_due and not state.presence_due[room_name].done():
        return
    task = state.presence_due[room_name] = state.start_timer(_publish_presence_later(room_name, kind))
    # Forgotten once done: every room name a socket ever opened must not stay behind.
    task.add_done_callback(functools.partial(_forget_presence_update, room_name))


def _forget_presence_update(room_name: str, done: asyncio.Task) -> None:
    state = process_state()
    if state.presence_due.get(room_name) is done:
        del state.presence_due[room_name]
        state.presence_changes.pop(room_name, None)


async def _publish_presence_later(room_name: str, kind: str | None) -> None:
    state = process_state()
    while True:
        await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
        changes = state.presence_changes.get(room_name, 0)
        people = await presence.safely(state.presence.people(room_name), None)
        if people is None:
            return
        update = events.presence_update(people)
        layer = get_channel_layer()
        try:
            await layer.group_send(room_group_name(room_name), update)
            await layer.group_send(LOBBY_GROUP, events.directory_room(room_name, kind, online=update["count"]))
        except Exception:  # a task nobody awaits: say what failed rather than "exception never retrieved"
            logger.warning("Could not publish presence in room %r", room_name, exc_info=True)
            return
        # Someone came or went while this round read or sent: what it read may miss them, so one more round.
        if state.presence_changes.get(room_name, 0) == changes:
            return


# A busy room tells the lobbies of its last activity at most once in this long: the first
# message at once, the newest of the ones after it when the interval ends. A lobby shows only
# the newest time, and a send per message would slow every message of a busy room.
LOBBY_ACTIVITY_SECONDS = 1.0


async def apublish_activity(room_name: str, last_activity: str, last_id: int, kind: str | None = None) -> None:
    """Tell every lobby that `room_name` was active at `last_activity`, its message `last_id` the newest.

    At once, or when the room's interval ends (see `LOBBY_ACTIVITY_SECONDS`). `kind`: `members_only_kind` of
    the room, so that only its members' lobbies hear of a private one.
    """
    state = process_state()
    if room_name in state.activity_waiting:
        waiting = state.activity_waiting[room_name]
        # The newest goes out when the interval ends; by id, as two messages may be published out of order.
        if waiting is None or last_id > waiting[1]:
            state.activity_waiting[room_name] = (last_activity, last_id)
        return
    state.activity_waiting[room_name] = None
    state.start_timer(_end_activity_interval(room_name, state.activity_waiting, kind))
    event = events.directory_room(room_name, kind, last_activity=last_activity, last_id=last_id)
    await get_channel_layer().group_send(LOBBY_GROUP, event)


async def _end_activity_interval(room_name: str, waiting: dict[str, tuple[str, int] | None], kind: str | None) -> None:
    await asyncio.sleep(LOBBY_ACTIVITY_SECONDS)
    newest = waiting.pop(room_name, None)
    if newest is not None:
        try:
            await apublish_activity(room_name, *newest, kind)
        except Exception:  # a task nobody awaits: say what failed rather than "exception never retrieved"
            logger.warning("Could not tell the lobby of activity in room %r", room_name, exc_info=True)


async def apublish_typing(room_name: str, author: str, socket_id: str) -> None:
    """Tell the room's other sockets that `author` is typing (`socket_id`, the typist's own, is skipped)."""
    await apublish(room_name, events.typing(author, socket_id))


async def adirectory(user: Any = None) -> list[dict]:
    """The lobby's list for `user`: rooms with people in them or recent messages, busiest first.

    Public rooms, and the private ones `user` is a member of, with their ``title`` and ``kind``. Each
    entry has the room's newest message id (``last_id``, 0 if none) and, for a signed-in person who
    has read the room, their mark (``read``), so that the page can count what is unread.
    """
    last_activity = await selectors.arecently_active_rooms(user=user)
    store = process_state().presence
    rooms = set(last_activity) | set(await presence.safely(store.rooms(), []))
    private = await selectors.aprivate_rooms_among(rooms, user)  # name -> title and kind, None if not theirs
    entries = [
        {
            "room": room,
            "online": len(await presence.safely(store.names(room), [])),
            "last_activity": last_activity.get(room),
            **(private.get(room) or {}),
        }
        for room in rooms
        if private.get(room, {}) is not None
    ]
    entries.sort(key=lambda entry: entry["last_activity"] or "", reverse=True)
    entries.sort(key=lambda entry: entry["online"], reverse=True)  # stable: busiest first, then most recent
    entries = entries[:50]
    marks = await selectors.alast_ids_and_marks([entry["room"] for entry in entries], user)
    for entry in entries:
        last_id, read = marks.get(entry["room"], (0, None))
        entry["last_id"] = last_id
        if read is not None:
            entry["read"] = read
    return entries
