"""Channel-layer events: what processes tell each other through the Groups.

Beside the wire frames of `chat.protocol`, each event type is defined here
once, with the function that builds it. An event's ``type`` names the
method that handles it (``chat.delete`` → ``ChatConsumer.chat_delete``), as in
Channels; ``chat.message`` and ``layer.recovered`` are handled by the socket's
`chat.delivery.Delivery` before that. docs/protocol.md has the same table.

Each event, who sends it, to which Group, and the frame it becomes:

- ``chat.message``: `services.apublish_message`, to the room; the event is the frame.
- ``chat.delete``: `services.apublish_deletion`, to the room; becomes ``delete``.
- ``history.changed``: `services.publish_edit` (the admin), to the room; no frame, history copies step aside.
- ``chat.typing``: `services.apublish_typing`, to the room; ``typing``, not to the typist's own socket.
- ``presence.update``: `services.apublish_presence`, to the room; becomes ``presence``.
- ``chat.mention``: `services.apublish_message`, to ``people.mentions``; ``mention`` without ``to`` (person keys),
  to the sockets of the people named.
- ``directory.room``: `services.apublish_presence` and `apublish_activity`, to ``lobby.directory``; ``room.update``.
- ``account.changed``: `access`, to ``people.accounts``; ``error`` ``account_changed``, then close 4001.
- ``layer.recovered``: `layers.ResilientRedisChannelLayer` after an outage, to each channel of the process;
  no frame, sockets fetch what they missed.
"""

from typing import Any

from chat import protocol

CHAT_MESSAGE = protocol.CHAT_MESSAGE
CHAT_DELETE = "chat.delete"
HISTORY_CHANGED = "history.changed"
CHAT_TYPING = "chat.typing"
PRESENCE_UPDATE = "presence.update"
CHAT_MENTION = "chat.mention"
DIRECTORY_ROOM = "directory.room"
ACCOUNT_CHANGED = "account.changed"
LAYER_RECOVERED = "layer.recovered"


def deletion(message_id: int) -> dict[str, Any]:
    return {"type": CHAT_DELETE, "id": message_id}


def history_changed() -> dict[str, Any]:
    return {"type": HISTORY_CHANGED}


def typing(author: str, socket_id: str) -> dict[str, Any]:
    """`socket_id` is the typist's own socket, which is not told."""
    return {"type": CHAT_TYPING, "author": author, "socket": socket_id}


def presence_update(names: list[str]) -> dict[str, Any]:
    return {**protocol.presence(names), "type": PRESENCE_UPDATE}


def mention(room: str, frame: dict[str, Any], to: set[str]) -> dict[str, Any]:
    """The ``chat.message`` `frame` of `room` names the people `to` (their person keys, `chat.mentions`)."""
    return protocol.mention(room, frame) | {"type": CHAT_MENTION, "to": sorted(to)}


def directory_room(room: str, **changes: Any) -> dict[str, Any]:
    """A room's ``online`` count or ``last_activity`` changed."""
    return {"type": DIRECTORY_ROOM, "room": room, **changes}


def layer_recovered() -> dict[str, Any]:
    return {"type": LAYER_RECOVERED}
