"""Room names, and the channel-layer Groups: one per room, two for the lobbies, one for mentions, one for inboxes.

The one place that knows which room names are accepted and how room and
display names become group names. Channel layers accept group names of ASCII letters,
digits, hyphen, underscore and period only, shorter than 100 characters, while
room names may be any Unicode word (``café``, ``数学``).
"""

import hashlib
import re
import unicodedata

from accounts.identity import holds_invisible_characters

ROOM_NAME_MAX_LENGTH = 64

# Every lobby page listens here for rooms' activity.
LOBBY_GROUP = "lobby.directory"

# Every process with sockets listens here for mentions; each names the people it is for.
# (No room's Group can be called this: theirs start with "chat.".)
MENTIONS_GROUP = "people.mentions"

# Every process with signed-in sockets listens here for logouts and changed accounts.
ACCOUNTS_GROUP = "people.accounts"

# --8<-- [start:inbox-group]
# Every process with notification sockets listens here; each event names the account it is for
# (``to``: its person key). One Group for all rather than one per account: a page opens far more
# often than a notification comes, and after a process's first page each page's join is an entry in
# its hub, with no Redis command (bench/notify.py measured both).
INBOX_GROUP = "people.inbox"
# --8<-- [end:inbox-group]

# Every process with signed-in lobby sockets listens here, as for INBOX_GROUP: each event names the
# account it is for (``to``), and each process's hub hands it to that account's lobbies only.
LOBBIES_GROUP = "people.lobbies"

# Letters and digits of any script, underscore, hyphen and period.
_ROOM_NAME = re.compile(r"[\w.-]+")
_GROUP_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


class InvalidRoomName(ValueError):
    """The room name breaks the rules in `clean_room_name`."""


def clean_room_name(raw: str) -> str:
    """Return the canonical form of a room name, or raise `InvalidRoomName`.

    A room name is 1 to 64 letters, digits, underscores, hyphens or periods
    (letters of any script, normalised to NFC), and not made of periods alone,
    since a browser would read ``.`` and ``..`` in a URL as path steps.
    """
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise InvalidRoomName("A room name can't be empty.")
    if len(name) > ROOM_NAME_MAX_LENGTH:
        raise InvalidRoomName(f"A room name can be at most {ROOM_NAME_MAX_LENGTH} characters long.")
    if not _ROOM_NAME.fullmatch(name) or set(name) == {"."}:
        raise InvalidRoomName("A room name may hold only letters, digits, underscores, hyphens and periods.")
    return name


def clean_room_title(raw: str) -> str:
    """A private room's title, with runs of spaces folded: any printable text of 1 to 64 characters.

    Unlike a room name it never appears in a URL (the room's name is made from it), so spaces are fine.
    """
    title = " ".join(unicodedata.normalize("NFC", raw).split())
    if not title:
        raise InvalidRoomName("A room's title can't be empty.")
    if len(title) > ROOM_NAME_MAX_LENGTH:
        raise InvalidRoomName(f"A room's title can be at most {ROOM_NAME_MAX_LENGTH} characters long.")
    if not title.isprintable() or holds_invisible_characters(title):
        raise InvalidRoomName("A room's title can't hold control or invisible characters.")
    return title


# --8<-- [start:room-group-name]
def room_group_name(room_name: str) -> str:
    """The channel-layer group of a room (which must already be clean).

    ASCII names stay readable (``chat.lobby``); any other name is hashed
    (``chat-u.<hex>``). The two prefixes differ, so no two rooms share a group.
    """
    return _group_name("chat", room_name)


# --8<-- [end:room-group-name]


def _group_name(prefix: str, name: str) -> str:
    if _GROUP_SAFE.fullmatch(name) and len(name) <= 80:
        return f"{prefix}.{name}"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]
    return f"{prefix}-u.{digest}"
