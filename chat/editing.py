"""Your own messages: their sender edits or deletes them; a room's owner, moderators and staff delete any.

Whose a message is: the person its ``sender`` key names (``user:<id>`` for an
account, ``guest:<digest>`` for a guest, `accounts.identity`), never its
author's name, so two guests who chose one name cannot touch each other's
messages. A message said by the server (sender ``""``, a notification) is
nobody's: nobody edits it, and only moderators delete it.

The right to moderate is read from the database for every request
(`chat.membership.may_moderate`, with the account as its session has it now),
not from what the socket knew when it opened: a moderator removed a moment
ago, or staff who logged out in another tab, are refused.

Each change is written in one transaction on the message's locked row, then
published to the room once committed: ``chat.edit`` (`events.edit`) or
``chat.delete``. A deleted message keeps its row with its text blanked
(`services.delete_stored_message`), so that a catch-up can tell a page that
still shows it to drop it (`selectors.changes_through`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from accounts.identity import Person
from chat import access, events, membership, protocol, selectors, services
from chat.models import Message, Room
from notifications.services import refresh_mentions


@dataclass(frozen=True)
class Editor:
    """Who asks to change a message: the person key they speak as, and their account as the database has it now."""

    key: str | None  # None: an account whose session has ended since its socket opened
    user: Any = None  # None for a guest

    def wrote(self, message: Message) -> bool:
        """Whether `message` is this person's own (a server's message, sender ``""``, is nobody's)."""
        return self.key is not None and message.sender == self.key


async def aeditor(person: Person, user: Any, session_key: str | None) -> Editor:
    """The socket's person as an `Editor`: a guest as the socket knows them, an account as its session has it now."""
    if person.is_guest:
        return Editor(person.key)
    account = await access.aaccount_now(user, session_key)
    return Editor(person.key if account is not None else None, account)


def _message_to_change(room: Room, message_id: int) -> Message:
    """The room's message `message_id`, its row locked until the transaction ends; unknown if gone or deleted."""
    message = None
    if selectors.stored_room(room) is not None:
        message = room.messages.select_for_update().filter(room_message_id=message_id, deleted__isnull=True).first()
    if message is None:
        raise protocol.ProtocolError(protocol.UNKNOWN_MESSAGE, f"This room has no message {message_id}.")
    return message


def _edit_time(previous: datetime | None) -> datetime:
    """Now, to the millisecond, and at least a millisecond after the previous edit.

    So each edit of a message is later than the one before as the frames spell
    it (`protocol.format_time`), whatever the clocks of the processes: a page or
    a history copy that hears two edits out of order keeps the newer one.
    """
    now = timezone.now()
    now -= timedelta(microseconds=now.microsecond % 1000)
    if previous is None:
        return now
    previous -= timedelta(microseconds=previous.microsecond % 1000)
    return max(now, previous + timedelta(milliseconds=1))


# --8<-- [start:edit]
@transaction.atomic
def edit_message(room: Room, message_id: int, text: str, *, editor: Editor) -> Message:
    """Give the `editor`'s own message `message_id` the new `text` (checked already), and mark it edited.

    Raises `protocol.ProtocolError`: ``unknown_message`` (no such message, or
    deleted) or ``forbidden`` (someone else's, or the server's).
    """
    message = _message_to_change(room, message_id)
    if message.kind == Message.Kind.SYSTEM or not editor.wrote(message):
        raise protocol.ProtocolError(protocol.FORBIDDEN, "Only its author can edit a message.")
    message.text = text
    message.edited = _edit_time(message.edited)
    message.save(update_fields=["text", "edited"])
    refresh_mentions(room, message)
    return message


async def aedit_message(room: Room, message_id: int, text: str, *, editor: Editor) -> Message:
    """`edit_message`, then (committed by then) tell every page in the room, on every process."""
    message = await database_sync_to_async(edit_message)(room, message_id, text, editor=editor)
    edited = protocol.format_time(message.edited)
    await services.apublish(room.name, events.edit(message.room_message_id, message.text, edited))
    return message


# --8<-- [end:edit]


@transaction.atomic
def delete_message_by(room: Room, message_id: int, *, editor: Editor) -> None:
    """Delete message `message_id` if it is the `editor`'s own, or they moderate the room.

    Raises `protocol.ProtocolError`: ``unknown_message`` or ``forbidden``.
    """
    message = _message_to_change(room, message_id)
    if not (editor.wrote(message) or membership.may_moderate(room, editor.user)):
        detail = "Only its author, the room's owner and moderators, and staff can delete a message."
        raise protocol.ProtocolError(protocol.FORBIDDEN, detail)
    services.delete_stored_message(message)


async def adelete_message_by(room: Room, message_id: int, *, editor: Editor) -> None:
    """`delete_message_by`, then (committed by then) take the message off every page in the room."""
    await database_sync_to_async(delete_message_by)(room, message_id, editor=editor)
    await services.apublish_deletion(room.name, message_id)
