"""Read marks: how far each signed-in person has read each room, the same on all their devices.

A room page sends ``read`` with the newest id it has shown while visible; the
room socket passes it here for an account (a guest's browser keeps its own
marks). The mark is stored only if it rises, capped at the room's newest id,
in one statement, and then the account's lobby sockets on every process hear
``room.read`` through ``people.lobbies`` (`chat.groups.LOBBIES_GROUP`),
addressed to the account, so a lobby open on another device shows the room as read.

Bounded: one row per account and room it has read something in (a room with no
message gets none), and one statement and at most one event per ``read`` frame,
within the socket's frame rate. A lobby works out a room's unread count as
``last_id - read``; deleted messages make that overcount, which is allowed.
"""

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from accounts.identity import account_key
from chat import events
from chat.groups import LOBBIES_GROUP
from chat.models import ReadMark, Room


def _raise_mark_sql() -> str:
    quote = connection.ops.quote_name
    marks, rooms = quote(ReadMark._meta.db_table), quote(Room._meta.db_table)
    # An upsert that only ever raises: a new row, or the old one when the new mark is higher;
    # RETURNING gives a row only when one of the two happened. Capped at the room's newest id
    # by the room's own row, so a mark never passes what was said, whatever the client sends.
    # SQLite (3.35 and later) and PostgreSQL both read it as written.
    return f"""
        INSERT INTO {marks} (user_id, room_id, last_read, updated)
        SELECT %s, room.id, CASE WHEN room.last_message_id < %s THEN room.last_message_id ELSE %s END, %s
        FROM {rooms} AS room
        WHERE room.name = %s AND room.last_message_id > 0
        ON CONFLICT (user_id, room_id) DO UPDATE SET last_read = excluded.last_read, updated = excluded.updated
        WHERE {marks}.last_read < excluded.last_read
        RETURNING last_read
    """


def raise_read_mark(user_id: int, room_name: str, up_to: int) -> int | None:
    """Raise the account's mark in the room to `up_to`, or to the room's newest id if lower.

    Returns the new mark, or None if it did not rise (or the room has no message).
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_raise_mark_sql(), [user_id, up_to, up_to, now, room_name])
        row = cursor.fetchone()
    return None if row is None else row[0]


araise_read_mark = database_sync_to_async(raise_read_mark)


async def amark_read(user_id: int, room_name: str, up_to: int) -> int | None:
    """`raise_read_mark`, then, if it rose, tell the account's lobbies everywhere (``room.read``). The new mark."""
    read = await araise_read_mark(user_id, room_name, up_to)
    if read is not None:
        await get_channel_layer().group_send(LOBBIES_GROUP, events.room_read(room_name, read, account_key(user_id)))
    return read
