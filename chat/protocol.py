"""The wire protocol between the browser and the server, as pure functions.

Client to server, one JSON object per text frame::

    {"message": "hello"}                          # "type" may be left out
    {"type": "chat.message", "message": "hello", "client_id": "k3x9..."}
    {"type": "edit", "id": 7, "message": "hello!"}  # the message's own sender only
    {"type": "delete", "id": 7}                   # its sender, the room's owner and moderators, staff
    {"type": "typing"}
    {"type": "ping"}                              # a heartbeat; answered with a pong
    {"type": "history", "before": 51}             # older messages than id 51
    {"type": "read", "id": 70}                    # the person has seen the room's messages up to id 70

Server to client::

    {"type": "chat.message", "id": 7, "message": "hello", "author": "ann", "created": "2026-...Z"}
    {"type": "ack", "client_id": "k3x9...", "id": 7}
    {"type": "edit", "id": 7, "message": "hello!", "edited": "2026-...Z"}
    {"type": "delete", "id": 7}
    {"type": "mention", "room": "physics", "id": 7, "message": "@ann look", "author": "bob", "created": "..."}
    {"type": "presence", "users": ["ann", "bob"], "count": 2,
     "people": [{"name": "ann", "kind": "account"}, {"name": "bob", "kind": "guest"}]}
    {"type": "typing", "author": "ann"}
    {"type": "pong"}
    {"type": "history", "before": 51, "messages": [{"type": "chat.message", "id": 1, ...}, ...], "complete": true}
    {"type": "error", "code": "rate_limited", "detail": "...", "client_id": "k3x9...", "retry_after": 0.2}

A ``history`` answer holds at most ``CHAT_HISTORY_LENGTH`` messages older than ``before``,
oldest first, deleted ones left out; ``complete`` says that no older message is left. A ``read``
gets no answer: an account's read mark rises (never falls, never past the room's newest id),
and its lobbies hear ``room.read``; a guest's is accepted and ignored (their browser keeps it).

An error about a ``chat.message`` frame names its ``client_id`` (when it had a
valid one); ``rate_limited`` and ``too_many_handshakes`` also say how many
seconds to wait, ``retry_after``.

On ``ws/notifications/`` (signed-in people only), the person's notifications::

    {"type": "inbox", "notifications": [{...}, ...], "unread": [12, 9], "kept": 200}   # first, and on each reconnect
    {"type": "notification", "id": 12, "kind": "mention", "message": "bob mentioned you in physics: ...",
     "link": "/chat/physics/", "room": "physics", "created": "2026-...Z", "read": null}
    {"type": "notification.read", "ids": [12], "up_to": null}      # read in one of the person's tabs
    # client to server:
    {"type": "notification.read", "ids": [12, 9]}                  # or {"type": "notification.read", "all": true}
    {"type": "ping"}

On ``ws/lobby/``, server to client only (it takes ``ping`` frames; any other closes it)::

    {"type": "directory", "rooms": [{"room": "physics", "online": 2, "last_activity": "...", "last_id": 7, "read": 6}]}
    # a private room, listed to its members only, also has "title" and "kind"; "read" only for a
    # signed-in person who has marked the room
    {"type": "room.update", "room": "physics", "online": 3}        # or "last_activity" with "last_id"
    {"type": "room.read", "room": "physics", "read": 70}           # the person read it, on any device
    # a page counts a room's unread messages as max(0, last_id - read): deleted ones may make it overcount
    {"type": "error", "code": "message_too_long", "detail": "..."}

The socket URL may carry ``?after=<id>``: the newest id the client holds, so the
server sends only what it missed, then ``edit`` and ``delete`` frames for the
messages it holds that were changed meanwhile.

docs/protocol.md is the reference; keep the two in step.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

CHAT_MESSAGE = "chat.message"
ACK = "ack"
EDIT = "edit"
DELETE = "delete"
MENTION = "mention"
PRESENCE = "presence"
TYPING = "typing"
DIRECTORY = "directory"
ROOM_UPDATE = "room.update"
ERROR = "error"
INBOX = "inbox"
NOTIFICATION = "notification"
NOTIFICATION_READ = "notification.read"
PING = "ping"
PONG = "pong"
HISTORY = "history"
READ = "read"
ROOM_READ = "room.read"

# The largest message id: what a signed 64-bit column holds. Larger ones are refused as invalid.
MAX_ID = 2**63 - 1

# Close codes in the 4000-4999 range, which RFC 6455 leaves to applications.
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_CONNECTIONS = 4429
# Too many sockets opened from the address lately (a rate, where 4429 is a count): 420 was the
# status code of a rate limit before 429 was defined. Reconnect after the error's retry_after.
CLOSE_TOO_MANY_HANDSHAKES = 4420
# The client broke the socket's rules (flooding; frames on the lobby's socket): RFC 6455's 1008,
# "policy violation", moved into the application range, because Daphne (through autobahn) lets
# an application close with 1000 or 3000-4999 only.
CLOSE_POLICY_VIOLATION = 4008
# The person logged out or their account changed: reconnect, as who they are now.
CLOSE_ACCOUNT_CHANGED = 4001
# The socket's person may not see this room (a private room they are not a member of, or no longer
# one): HTTP's 403 in the application range. Reconnecting will not help.
CLOSE_FORBIDDEN = 4403
# A guest's name is another's (held by another guest online, reserved, or an account's): HTTP's
# 409 Conflict. Reconnecting will not help; choosing another name in the lobby will.
CLOSE_NAME_TAKEN = 4409

# Error codes: stable slugs that clients may switch on.
BINARY_NOT_SUPPORTED = "binary_not_supported"
FRAME_TOO_LARGE = "frame_too_large"
INVALID_JSON = "invalid_json"
INVALID_FRAME = "invalid_frame"
UNKNOWN_TYPE = "unknown_type"
MISSING_FIELD = "missing_field"
UNKNOWN_FIELD = "unknown_field"
INVALID_FIELD = "invalid_field"
EMPTY_MESSAGE = "empty_message"
MESSAGE_TOO_LONG = "message_too_long"
INVALID_CHARACTERS = "invalid_characters"
INVALID_QUERY = "invalid_query"
RATE_LIMITED = "rate_limited"
TOO_MANY_CONNECTIONS = "too_many_connections"
TOO_MANY_HANDSHAKES = "too_many_handshakes"
FLOODING = "flooding"
TOO_MANY_ROOMS = "too_many_rooms"
NOT_SAVED = "not_saved"
FORBIDDEN = "forbidden"
ACCOUNT_CHANGED_ERROR = "account_changed"
NAME_TAKEN = "name_taken"
UNKNOWN_MESSAGE = "unknown_message"
INVALID_ROOM = "invalid_room"
NOT_FOUND = "not_found"

# C0 and C1 control characters, except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ProtocolError(Exception):
    """A client frame the server refuses; becomes an error frame, never a traceback."""

    def __init__(self, code: str, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        # The refused chat.message's client id, when it had a valid one, so the sender knows which.
        self.client_id = client_id


@dataclass(frozen=True)
class ChatMessageIn:
    """A message a client wants to say in its room."""

    message: str
    client_id: str | None = None


@dataclass(frozen=True)
class TypingIn:
    """The client's person is typing."""


@dataclass(frozen=True)
class PingIn:
    """A heartbeat: the client wants to hear something back, to know the connection still carries frames."""


@dataclass(frozen=True)
class EditMessageIn:
    """The author's new text for one of their messages in the room."""

    id: int
    message: str


@dataclass(frozen=True)
class DeleteMessageIn:
    """A request to delete a message of the room: its sender's, or a moderator's."""

    id: int


@dataclass(frozen=True)
class HistoryIn:
    """The client wants the room's messages older than id `before` (its page reached the oldest it holds)."""

    before: int


@dataclass(frozen=True)
class ReadIn:
    """The client's person has seen the room's messages up to id `id`."""

    id: int


@dataclass(frozen=True)
class NotificationReadIn:
    """The person read these notifications of theirs (`ids`), or all of them (`ids` is None)."""

    ids: tuple[int, ...] | None


ClientFrame = ChatMessageIn | EditMessageIn | DeleteMessageIn | TypingIn | PingIn | HistoryIn | ReadIn
InboxFrame = NotificationReadIn | PingIn

# The most notification ids one ``notification.read`` frame may name.
MAX_READ_IDS = 200


def _load_frame(text: str | None, longest: int, example: str) -> dict:
    """The JSON object in a client's text frame of at most `longest` characters, or raise `ProtocolError`."""
    if text is None:
        raise ProtocolError(BINARY_NOT_SUPPORTED, "Send text frames holding JSON; binary frames are not supported.")
    # A frame far longer than any valid one is refused before JSON parsing spends time on it.
    if len(text) > longest:
        raise ProtocolError(FRAME_TOO_LARGE, "The frame is too large.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(INVALID_JSON, "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError(INVALID_FRAME, f"The frame must be a JSON object, such as {example}.")
    return data


def parse_client_frame(text: str | None, bytes_data: bytes | None, max_length: int) -> "ClientFrame":
    """Parse and validate one frame from a client, or raise `ProtocolError`."""
    data = _load_frame(text, max_frame_length(max_length), '{"message": "hello"}')
    frame_type = data.get("type", CHAT_MESSAGE)
    if frame_type == CHAT_MESSAGE:
        return _parse_chat_message(data, max_length)
    if frame_type == EDIT:
        return _parse_edit(data, max_length)
    if frame_type == DELETE:
        return _parse_delete(data)
    if frame_type == TYPING:
        check_fields(data, {"type"}, "type")
        return TypingIn()
    if frame_type == PING:
        check_fields(data, {"type"}, "type")
        return PingIn()
    if frame_type == HISTORY:
        check_fields(data, {"type", "before"}, "before")
        return HistoryIn(before=_bounded_id(data["before"], "before"))
    if frame_type == READ:
        check_fields(data, {"type", "id"}, "id")
        return ReadIn(id=_bounded_id(data["id"], "id"))
    raise ProtocolError(UNKNOWN_TYPE, f"Unknown frame type {str(frame_type)[:40]!r}.")


def parse_inbox_frame(text: str | None, bytes_data: bytes | None) -> InboxFrame:
    """Parse and validate one frame from a client of ``ws/notifications/``, or raise `ProtocolError`."""
    # Room for MAX_READ_IDS ids of up to 18 digits, with spaces.
    data = _load_frame(text, MAX_READ_IDS * 24 + 256, '{"type": "notification.read", "all": true}')
    frame_type = data.get("type")
    if frame_type == PING:
        check_fields(data, {"type"}, "type")
        return PingIn()
    if frame_type != NOTIFICATION_READ:
        raise ProtocolError(UNKNOWN_TYPE, f"Unknown frame type {str(frame_type)[:40]!r}.")
    if "all" in data:
        check_fields(data, {"type", "all"}, "all")
        if data["all"] is not True:
            raise ProtocolError(INVALID_FIELD, 'The "all" field can only be true; name the ones read in "ids".')
        return NotificationReadIn(ids=None)
    check_fields(data, {"type", "ids"}, "ids")
    ids = data["ids"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_READ_IDS:
        raise ProtocolError(INVALID_FIELD, f'The "ids" field must be a list of 1 to {MAX_READ_IDS} notification ids.')
    for value in ids:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
            raise ProtocolError(INVALID_FIELD, 'The "ids" field must hold notification ids: whole numbers from 1.')
    return NotificationReadIn(ids=tuple(sorted(set(ids))))


# What a page sends as its heartbeat, give or take white space: told apart without parsing JSON.
_PING = re.compile(r'\s*\{\s*"type"\s*:\s*"ping"\s*\}\s*')
_CLAIMED_CLIENT_ID = re.compile(r'"client_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def is_ping(text: str | None) -> bool:
    """Whether a frame is a ``ping``: a short look, for frames the rate limit may refuse unparsed."""
    return text is not None and len(text) <= 64 and _PING.fullmatch(text) is not None


def claimed_client_id(text: str | None, max_length: int) -> str | None:
    """The client id a frame seems to carry, found without parsing it (for naming a refused frame), or None.

    One linear search over a frame the size guard allows: refusing a flood must
    cost little more than reading it. A client id spelled with JSON escapes is
    not found; pages never escape one.
    """
    if text is None or len(text) > max_frame_length(max_length):
        return None
    found = _CLAIMED_CLIENT_ID.search(text)
    return found[1] if found else None


def max_frame_length(max_length: int) -> int:
    """The longest frame that can hold a valid message of `max_length` characters, in characters.

    JSON may escape every character: ``\\uXXXX`` is 6 characters for one of the
    Basic Multilingual Plane, and a character beyond it (an emoji) takes two
    of them, 12 characters, as Python's ``json.dumps`` writes by default. The
    256 leave room for the other fields.
    """
    return max_length * 12 + 256


def check_fields(data: dict, allowed: set[str], required: str) -> None:
    """Refuse fields outside `allowed`, and a missing `required` one, with their error codes."""
    unknown = sorted(str(key) for key in set(data) - allowed)
    if unknown:
        raise ProtocolError(UNKNOWN_FIELD, f"Unknown field {unknown[0][:40]!r}.")
    if required not in data:
        raise ProtocolError(MISSING_FIELD, f'A "{required}" field is needed.')


def _parse_chat_message(data: dict, max_length: int) -> ChatMessageIn:
    client_id = data.get("client_id")
    try:
        check_fields(data, {"type", "message", "client_id"}, "message")
        message = check_message_text(data["message"], max_length)
    except ProtocolError as exc:
        if isinstance(client_id, str) and _CLIENT_ID.fullmatch(client_id):
            exc.client_id = client_id
        raise
    if client_id is not None and not (isinstance(client_id, str) and _CLIENT_ID.fullmatch(client_id)):
        raise ProtocolError(
            INVALID_FIELD, 'The "client_id" field must be 1 to 64 letters, digits, hyphens or underscores.'
        )
    return ChatMessageIn(message=message, client_id=client_id)


def check_message_text(message: object, max_length: int) -> str:
    """The text of a message if it may be stored and sent, or raise `ProtocolError` saying why not."""
    if not isinstance(message, str):
        raise ProtocolError(INVALID_FIELD, 'The "message" field must be a string.')
    if not message.strip():
        raise ProtocolError(EMPTY_MESSAGE, "The message is empty.")
    if len(message) > max_length:
        raise ProtocolError(MESSAGE_TOO_LONG, f"The message is longer than {max_length} characters.")
    if _CONTROL.search(message) or _has_lone_surrogate(message):
        raise ProtocolError(INVALID_CHARACTERS, "The message holds control characters or broken Unicode.")
    return message


def _parse_edit(data: dict, max_length: int) -> EditMessageIn:
    # The new text follows a chat.message's rules, its length limit included.
    check_fields(data, {"type", "id", "message"}, "id")
    if "message" not in data:
        raise ProtocolError(MISSING_FIELD, 'A "message" field is needed.')
    return EditMessageIn(id=_message_id(data["id"]), message=check_message_text(data["message"], max_length))


def _parse_delete(data: dict) -> DeleteMessageIn:
    check_fields(data, {"type", "id"}, "id")
    return DeleteMessageIn(id=_message_id(data["id"]))


def _message_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProtocolError(INVALID_FIELD, 'The "id" field must be a message id: a whole number from 1.')
    return value


def _bounded_id(value: object, field: str) -> int:
    # Unlike an edit's id, these reach a comparison in SQL, where a number past 64 bits fails.
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise ProtocolError(INVALID_FIELD, f'The "{field}" field must be a message id: a whole number from 1.')
    return value


def _has_lone_surrogate(text: str) -> bool:
    # JSON may spell half of a surrogate pair ("\ud800"); it can't be stored or sent on as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_after(query_string: bytes) -> int | None:
    """The ``after`` id from the socket URL's query string, or None; raises `ProtocolError` if malformed."""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("after")
    if not values:
        return None
    if not values[-1].isascii() or not values[-1].isdigit() or len(values[-1]) > 18:
        raise ProtocolError(INVALID_QUERY, '"after" in the socket URL must be a message id: a whole number.')
    return int(values[-1])


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, to the millisecond: what browsers' Date parses everywhere."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def chat_message(
    message_id: int,
    text: str,
    author: str,
    created: datetime,
    kind: str = "user",
    author_kind: str = "guest",
    edited: datetime | None = None,
    sender: str = "",
) -> dict[str, Any]:
    """The ``chat.message`` frame, which is also the channel-layer event that carries it.

    `kind` is ``user`` for what people say and ``system`` for notifications from the server.
    `author_kind` says who the author is: ``account``, ``staff`` (both signed in), ``guest`` or ``system``.
    `edited` is when the author last changed the text, or None. `sender` names the author's
    account (``user:<id>``) or guest (``guest:<digest>``, a digest of a secret that
    only their browser holds), so that a page can tell its own messages and two
    people of one name apart; server messages have ``""``.
    """
    return {
        "type": CHAT_MESSAGE,
        "id": message_id,
        "message": text,
        "author": author,
        "created": format_time(created),
        "kind": kind,
        "author_kind": author_kind,
        "edited": None if edited is None else format_time(edited),
        "sender": sender,
    }


def mention(room: str, frame: dict[str, Any]) -> dict[str, Any]:
    """The ``mention`` frame: the ``chat.message`` `frame` of `room` names the person receiving it."""
    return {**frame, "type": MENTION, "room": room}


def ack(client_id: str, message_id: int) -> dict[str, Any]:
    """The ``ack`` frame: the message with this client id is stored under this id."""
    return {"type": ACK, "client_id": client_id, "id": message_id}


def edit(message_id: int, text: str, edited: str) -> dict[str, Any]:
    """The ``edit`` frame: the message's author changed its text, at `edited` (`format_time`)."""
    return {"type": EDIT, "id": message_id, "message": text, "edited": edited}


def delete(message_id: int) -> dict[str, Any]:
    """The ``delete`` frame: its sender or a moderator removed this message."""
    return {"type": DELETE, "id": message_id}


def presence(users: list[str], people: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The ``presence`` frame: who is in the room now, by name (`users`) and as ``{"name", "kind"}`` (`people`).

    `people` is None only for an event from a process of the version before kinds
    (a rolling upgrade): the frame then has no ``people``, and pages show names alone.
    """
    frame = {"type": PRESENCE, "users": users, "count": len(users)}
    if people is not None:
        frame["people"] = people
    return frame


def typing(author: str) -> dict[str, Any]:
    """The ``typing`` frame: `author` is typing."""
    return {"type": TYPING, "author": author}


def error(code: str, detail: str, client_id: str | None = None) -> dict[str, Any]:
    """The ``error`` frame; `client_id` names the refused ``chat.message``, when it had one."""
    frame = {"type": ERROR, "code": code, "detail": detail}
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def rate_limited(retry_after: float, client_id: str | None = None) -> dict[str, Any]:
    """The ``rate_limited`` error: send the refused frame (`client_id`'s message) again in `retry_after` seconds."""
    seconds = _retry_seconds(retry_after)
    frame = error(RATE_LIMITED, f"Too many messages; wait {seconds:g} s and send again.", client_id)
    frame["retry_after"] = seconds
    return frame


def closing_error(code: str, detail: str, retry_after: float) -> dict[str, Any]:
    """The error before a close for a policy violation: its address may connect again in `retry_after` seconds."""
    frame = error(code, detail)
    frame["retry_after"] = _retry_seconds(retry_after)
    return frame


def too_many_handshakes(retry_after: float) -> dict[str, Any]:
    """The ``too_many_handshakes`` error: connect again in `retry_after` seconds."""
    seconds = _retry_seconds(retry_after)
    detail = f"Too many connections opened from your address lately; wait {seconds:g} s and connect again."
    frame = error(TOO_MANY_HANDSHAKES, detail)
    frame["retry_after"] = seconds
    return frame


def _retry_seconds(retry_after: float) -> float:
    return max(math.ceil(retry_after * 1000) / 1000, 0.001)  # up to the next millisecond, never 0


def notification(
    notification_id: int, kind: str, text: str, link: str, room: str, created: datetime, read: datetime | None
) -> dict[str, Any]:
    """The ``notification`` frame, which is also the event that carries it to the person's pages.

    `kind`: ``mention``, ``invitation`` or ``server``. `link`: where it leads (a path of this
    site, or an http(s) URL), or ``""``. `room`: the room it is about, or ``""``.
    """
    return {
        "type": NOTIFICATION,
        "id": notification_id,
        "kind": kind,
        "message": text,
        "link": link,
        "room": room,
        "created": format_time(created),
        "read": None if read is None else format_time(read),
    }


def inbox(notifications: list[dict[str, Any]], unread: list[int], kept: int) -> dict[str, Any]:
    """The ``inbox`` frame: the newest `notifications` (newest first), the ids of every unread one, and how many
    a person keeps (older ones are deleted, so a page never counts more unread than that)."""
    return {"type": INBOX, "notifications": notifications, "unread": unread, "kept": kept}


def notification_read(ids: list[int], up_to: int | None = None) -> dict[str, Any]:
    """The ``notification.read`` frame: these `ids` were read; with `up_to`, every one up to that id too."""
    return {"type": NOTIFICATION_READ, "ids": ids, "up_to": up_to}


def history(before: int, messages: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
    """The ``history`` frame: the ``chat.message`` frames older than id `before`, oldest first.

    `complete`: no older message is left in the room (deleted ones aside), so a page may stop asking.
    """
    return {"type": HISTORY, "before": before, "messages": messages, "complete": complete}


def room_read(room: str, read: int) -> dict[str, Any]:
    """The ``room.read`` frame: the lobby's person has seen `room`'s messages up to id `read`, on some device."""
    return {"type": ROOM_READ, "room": room, "read": read}


def pong() -> dict[str, Any]:
    """The ``pong`` frame: the answer to a ``ping``."""
    return {"type": PONG}


def encode(frame: dict[str, Any]) -> str:
    """One frame as the text sent on the socket."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
