"""Channel-layer events: what processes tell each other through the Groups.

Beside the wire frames of `chat.protocol`, each event type is defined here
once, with the function that builds it. An event's ``type`` names the
method that handles it (``chat.delete`` → ``ChatConsumer.chat_delete``), as in
Channels; ``chat.message`` and ``layer.recovered`` are handled by the socket's
`chat.delivery.Delivery` before that. docs/protocol.md has the same table.

Each event, who sends it, to which Group, and the frame it becomes:

- ``chat.message``: `services.apublish_message`, to the room; the event is the frame.
- ``chat.edit``: `editing.aedit_message` (the author's ``edit``), to the room; becomes ``edit``.
- ``chat.delete``: `services.apublish_deletion` (its sender, a moderator, the admin), to the room; becomes ``delete``.
- ``history.changed``: `services.publish_edit` (the admin), to the room; no frame, history copies step aside.
- ``chat.typing``: `services.apublish_typing`, to the room; ``typing``, not to the typist's own socket.
- ``presence.update``: `services.apublish_presence`, to the room; becomes ``presence``.
- ``chat.mention``: `services.apublish_message`, to ``people.mentions``; ``mention`` without ``to`` (person keys),
  to the sockets of the people named.
- ``directory.room``: `services.apublish_presence` and `apublish_activity`, to ``lobby.directory``; ``room.update``
  (a members-only room's carries its ``kind``: only its members' lobbies get it, with its ``title``).
- ``room.read``: `reading.amark_read` (a ``read`` frame that raised an account's read mark), to ``people.lobbies``
  (`groups.LOBBIES_GROUP`) with ``to``, the account's person key; the frame without ``to``, to that account's lobbies.
- ``account.changed``: `access`, to ``people.accounts``; ``error`` ``account_changed``, then close 4001 (room,
  lobby and notification sockets).
- ``membership.changed``: `membership`, to ``people.accounts``; ``error`` ``forbidden`` and close 4403 on the
  account's sockets in the room if it may no longer see it; the account's lobbies get the directory again.
- ``notification``: `notifications.services` (`notify`, `anotify`, `anotify_mentions`, `notify_invitation`, once
  stored), to ``people.inbox`` (`groups.INBOX_GROUP`) with ``to``, the account's person key; the frame without ``to``,
  to that account's notification sockets only.
- ``notification.read``: `notifications.services.amark_read` (a read in one of the person's tabs, if it changed
  anything), to ``people.inbox`` with ``to``; the frame without ``to``, to every tab of the person.
- ``layer.recovered``: `layers.ResilientRedisChannelLayer` after an outage, to each channel of the process;
  no frame, sockets fetch what they missed (a notification socket, its inbox afresh).

The notification events are built by `protocol.notification` and `protocol.notification_read`: each is
the frame its sockets send.
"""

from typing import Any

from chat import protocol

CHAT_MESSAGE = protocol.CHAT_MESSAGE
CHAT_EDIT = "chat.edit"
CHAT_DELETE = "chat.delete"
HISTORY_CHANGED = "history.changed"
CHAT_TYPING = "chat.typing"
PRESENCE_UPDATE = "presence.update"
CHAT_MENTION = "chat.mention"
DIRECTORY_ROOM = "directory.room"
ACCOUNT_CHANGED = "account.changed"
MEMBERSHIP_CHANGED = "membership.changed"
LAYER_RECOVERED = "layer.recovered"
ROOM_READ = protocol.ROOM_READ


def edit(message_id: int, text: str, edited: str) -> dict[str, Any]:
    """Message `message_id` now says `text`, since `edited` (`protocol.format_time`): the ``edit`` frame's fields."""
    return {**protocol.edit(message_id, text, edited), "type": CHAT_EDIT}


def deletion(message_id: int) -> dict[str, Any]:
    return {"type": CHAT_DELETE, "id": message_id}


def history_changed() -> dict[str, Any]:
    return {"type": HISTORY_CHANGED}


def typing(author: str, socket_id: str) -> dict[str, Any]:
    """`socket_id` is the typist's own socket, which is not told."""
    return {"type": CHAT_TYPING, "author": author, "socket": socket_id}


def presence_update(people: list[tuple[str, str]]) -> dict[str, Any]:
    """`people`: the (name, kind) pairs present, sorted by name (`chat.presence`); ``users`` has each name once."""
    users = sorted({name for name, _ in people})
    listed = [{"name": name, "kind": kind} for name, kind in people]
    return {**protocol.presence(users, listed), "type": PRESENCE_UPDATE}


def mention(room: str, frame: dict[str, Any], to: set[str]) -> dict[str, Any]:
    """The ``chat.message`` `frame` of `room` names the people `to` (their person keys, `chat.mentions`)."""
    return protocol.mention(room, frame) | {"type": CHAT_MENTION, "to": sorted(to)}


def directory_room(room: str, kind: str | None = None, **changes: Any) -> dict[str, Any]:
    """A room's ``online`` count or ``last_activity`` (with ``last_id``, its newest message id) changed.

    `kind` only for a members-only room (``private``, ``direct``): lobby sockets pass such an event
    on to their person only if they are a member, so no one else learns the room's name.
    """
    return {"type": DIRECTORY_ROOM, "room": room, **({"kind": kind} if kind else {}), **changes}


def room_read(room: str, read: int, to: str) -> dict[str, Any]:
    """The account whose person key is `to` has seen `room`'s messages up to id `read`: the frame, addressed."""
    return {**protocol.room_read(room, read), "to": [to]}


def membership_changed(user_id: Any, room: str) -> dict[str, Any]:
    """The account `user_id` joined or left `room`, or its role there changed: its sockets ask again."""
    return {"type": MEMBERSHIP_CHANGED, "user": str(user_id), "room": room}


def layer_recovered() -> dict[str, Any]:
    return {"type": LAYER_RECOVERED}
