"""Mentions: ``@name`` in a message notifies that person in whatever room they are."""

import re

# A display name may hold spaces; a mention reaches only names without them.
_MENTION = re.compile(r"(?<![\w@])@([\w.-]{1,32})")


def mentioned_names(text: str) -> set[str]:
    """The display names a message mentions with ``@name`` (a trailing period is punctuation, not name)."""
    return {name.rstrip(".") for name in _MENTION.findall(text) if name.rstrip(".")}
