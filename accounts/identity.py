"""Who someone is: a signed-in account or a guest, the name they chat under, and the key that is theirs alone.

A `Person` is what the chat asks of a request or a socket. Its ``key`` names
them in the database (a message's sender) and on the channel layer (mentions):
``user:<id>`` for an account, ``guest:<digest>`` for a guest. A guest's key
comes from a random token in a signed cookie, not from their name, so that
two guests who pick one name (or a guest who copies another's cookie name)
are still two people.
"""

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core import signing

DISPLAY_NAME_MAX_LENGTH = 32
SESSION_KEY = "display_name"
# The guest's key, kept in the session once they choose a name (so it outlives a new cookie).
GUEST_KEY_SESSION = "guest_key"
# A guest who hasn't chosen a name keeps the one made for them in this cookie, not in a session:
# a session row per visitor would let every cookie-less request store one for two weeks.
# Its value is signed: ``guest-1a2b3c4d:<token>``, so that nobody can take another guest's name and key.
GUEST_COOKIE = "chat_guest"

ACCOUNT = "account"
STAFF = "staff"
GUEST = "guest"

_GUEST_NAME = re.compile(r"guest-[0-9a-f]{8}")
_GUEST_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Characters that show as nothing, so that "an\u034fn" would look like "ann": Unicode's
# Default_Ignorable_Code_Point (DerivedCoreProperties.txt: soft hyphen, combining grapheme joiner,
# Hangul fillers, variation selectors, tags…) and the blank Braille pattern.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffc\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U00013441\U00016fe4\U0001d159\U000e0000-\U000e0fff]"
)
# Unassigned (which a newer font may draw blank), private-use and surrogate code points: a name
# made of them can look like anything, or like nothing.
_UNREADABLE_CATEGORIES = frozenset({"Cn", "Co", "Cs", "Cf"})


class InvalidDisplayName(ValueError):
    """The display name breaks the rules in `clean_display_name`."""


@dataclass(frozen=True)
class Person:
    """Someone chatting: their name, what they are (``account``, ``staff`` or ``guest``) and their own key."""

    name: str
    kind: str
    key: str
    user_id: int | None = None

    @property
    def is_guest(self) -> bool:
        return self.kind == GUEST


ACCOUNT_KEY_PREFIX = "user:"


def is_account(user: Any) -> bool:
    """Whether `user` is a signed-in, active account (not a guest, not a deactivated account)."""
    return user is not None and user.is_authenticated and user.is_active


def account_key(user_id: Any) -> str:
    return f"{ACCOUNT_KEY_PREFIX}{user_id}"


def account_id(key: str) -> int | None:
    """The account id in a person's key (`account_key`), or None for a guest's."""
    return int(key.removeprefix(ACCOUNT_KEY_PREFIX)) if key.startswith(ACCOUNT_KEY_PREFIX) else None


def guest_key(secret: str) -> str:
    """A guest's key: a digest, so that the secret that makes someone that guest never travels or is stored."""
    return "guest:" + hashlib.sha256(secret.encode()).hexdigest()[:32]


def new_guest_name() -> str:
    """A fresh name for someone who hasn't chosen one: ``guest-`` and a short random suffix.

    Eight hex digits: a guest holds even a made-up name while online (`accounts.names`), and with
    six, two of a thousand guests online at once would share one about once in thirty times.
    """
    return f"guest-{secrets.token_hex(4)}"


def new_guest() -> tuple[Person, str]:
    """A new guest, and the value of the `GUEST_COOKIE` that makes a browser that guest."""
    name, token = new_guest_name(), secrets.token_urlsafe(18)
    cookie = signing.get_cookie_signer(salt=GUEST_COOKIE).sign(f"{name}:{token}")
    return Person(name, GUEST, guest_key(token)), cookie


def _guest_from_cookie(value: str) -> Person | None:
    """The guest a `GUEST_COOKIE` value makes, or None when it is not one this server signed."""
    try:
        name, _, token = signing.get_cookie_signer(salt=GUEST_COOKIE).unsign(value).partition(":")
    except signing.BadSignature:
        return None
    if not _GUEST_NAME.fullmatch(name) or not _GUEST_TOKEN.fullmatch(token):
        return None
    return Person(name, GUEST, guest_key(token))


# --8<-- [start:identify]
def identify(user: Any, session: Any, cookies: Mapping[str, str] | None = None) -> Person | None:
    """Who a request or socket is: its account, else its session's guest, else its guest cookie's; None if nobody.

    A guest who chose a name keeps it, and their key, in the session; one who has
    not keeps the name made for them in the signed `GUEST_COOKIE`.
    """
    if user is not None and user.is_authenticated:
        return Person(user.get_username(), STAFF if user.is_staff else ACCOUNT, account_key(user.pk), user.pk)
    cookie_guest = _guest_from_cookie((cookies or {}).get(GUEST_COOKIE, ""))
    chosen = session.get(SESSION_KEY) if session is not None else None
    if chosen:
        key = session.get(GUEST_KEY_SESSION)
        if not key:  # a session from before guests had keys: its own key names it
            key = cookie_guest.key if cookie_guest else guest_key(f"session:{session.session_key}")
        return Person(chosen, GUEST, key)
    return cookie_guest


# --8<-- [end:identify]


def holds_invisible_characters(name: str) -> bool:
    """Whether `name` holds a character that shows as nothing, or as anything a font likes.

    That is: a format character (Cf) or another invisible one (`_INVISIBLE`); an unassigned,
    private-use or surrogate code point; or a combining mark with no letter before it to sit on.
    """
    if _INVISIBLE.search(name) is not None:
        return True
    previous = " "
    for char in name:
        category = unicodedata.category(char)
        if category in _UNREADABLE_CATEGORIES or (category in ("Mn", "Me") and previous.isspace()):
            return True
        previous = char
    return False


def clean_display_name(raw: str) -> str:
    """Return the display name with runs of spaces folded, or raise `InvalidDisplayName`."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidDisplayName("A display name can't be empty.")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        raise InvalidDisplayName(f"A display name can be at most {DISPLAY_NAME_MAX_LENGTH} characters long.")
    if _CONTROL.search(name):
        raise InvalidDisplayName("A display name can't hold control characters.")
    if holds_invisible_characters(name):
        # Invisible characters (U+200B, U+202E, U+034F…) make one name look like another, or reverse it.
        raise InvalidDisplayName(
            "A display name can't hold invisible characters (such as U+200B, U+034F or a Hangul filler)."
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # half a surrogate pair, as JSON may spell it ("\ud800")
        raise InvalidDisplayName("A display name can't hold broken Unicode.") from None
    return name
