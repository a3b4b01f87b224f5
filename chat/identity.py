"""Display names: who a message says it is from."""

import re
import secrets
import unicodedata
from collections.abc import Mapping
from typing import Any

DISPLAY_NAME_MAX_LENGTH = 32
SESSION_KEY = "display_name"
# A guest who hasn't chosen a name keeps the one made for them in this cookie, not in a session:
# a session row per visitor would let every cookie-less request store one for two weeks.
GUEST_COOKIE = "chat_guest"

_GUEST_NAME = re.compile(r"guest-[0-9a-f]{6}")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InvalidDisplayName(ValueError):
    """The display name breaks the rules in `clean_display_name`."""


def new_guest_name() -> str:
    """A fresh name for someone who hasn't chosen one: ``guest-`` and a short random suffix."""
    return f"guest-{secrets.token_hex(3)}"


def clean_display_name(raw: str) -> str:
    """Return the display name with runs of spaces folded, or raise `InvalidDisplayName`."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidDisplayName("A display name can't be empty.")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        raise InvalidDisplayName(f"A display name can be at most {DISPLAY_NAME_MAX_LENGTH} characters long.")
    if _CONTROL.search(name):
        raise InvalidDisplayName("A display name can't hold control characters.")
    if any(unicodedata.category(char) == "Cf" for char in name):
        # Invisible characters (U+200B, U+202E…) make one name look like another, or reverse it.
        raise InvalidDisplayName("A display name can't hold invisible formatting characters (such as U+200B).")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # half a surrogate pair, as JSON may spell it ("\ud800")
        raise InvalidDisplayName("A display name can't hold broken Unicode.") from None
    return name


# Names no guest may take: they would speak as the server, or as the people who run it.
RESERVED_NAMES = frozenset({"system", "admin", "administrator", "moderator", "mod", "staff", "root", "support"})


def name_key(name: str) -> str:
    """What two names must differ in to be told apart: compared after NFKC and case folding."""
    return unicodedata.normalize("NFKC", name).casefold()


def display_name(user: Any, session: Mapping[str, Any] | None, cookies: Mapping[str, str] | None = None) -> str | None:
    """The name to show: the username when logged in, else the session's choice, else the guest cookie's.

    The cookie counts only when it holds a name `new_guest_name` could have made.
    """
    if user is not None and user.is_authenticated:
        return user.get_username()
    chosen = session.get(SESSION_KEY) if session is not None else None
    if chosen:
        return chosen
    guest = (cookies or {}).get(GUEST_COOKIE, "")
    return guest if _GUEST_NAME.fullmatch(guest) else None
