"""Mentions: ``@name`` in a message notifies the person it names, in whatever room they are.

A name is resolved to a person's key when the message is published, never
matched against display names at delivery: an account's username names
that account (``user:<id>``), and in a private room only if it is a member;
any other name names the guest who holds it online (`chat.held_names`), and
in a private room nobody. A guest calling themselves like someone else thus
gets none of their mentions, and naming someone outside a private room tells
them nothing about it.
"""

import re

from channels.db import database_sync_to_async

from accounts import names
from accounts.identity import account_key
from chat.models import Membership, Room
from chat.process import process_state

# A display name may hold spaces; a mention reaches only names without them.
_MENTION = re.compile(r"(?<![\w@])@([\w.-]{1,32})")

# The names one message may mention: a class's worth. A message naming more is an announcement;
# beyond the first this many, names are not looked up (each costs the lookups of a person).
MAX_NAMES_PER_MESSAGE = 30


def mentioned_names(text: str) -> set[str]:
    """The display names a message mentions with ``@name``, the first `MAX_NAMES_PER_MESSAGE` of them.

    A trailing period is punctuation, not name.
    """
    names = dict.fromkeys(name.rstrip(".") for name in _MENTION.findall(text) if name.rstrip("."))
    return set(list(names)[:MAX_NAMES_PER_MESSAGE])


def accounts_mentioned(room: Room, mentioned: set[str]) -> tuple[set[str], set[str]]:
    """The keys of the accounts `mentioned` names who may see `room`, and the names that are no account's.

    A name that is an account's is that account's alone: it never falls to a
    guest, even where the account may not see the room.
    """
    ids_by_name = names.account_names.ids_of(mentioned)
    ids = set().union(*ids_by_name.values())
    if room.is_private and ids:
        ids = set(Membership.objects.filter(room=room, user_id__in=ids).values_list("user_id", flat=True))
    others = {name for name, named in ids_by_name.items() if not named}
    return {account_key(pk) for pk in ids}, others


async def amentioned_people(room: Room, text: str, sender: str) -> set[str]:
    """The keys of the people the message `text` of `room` mentions, but for its `sender` (a key, or "")."""
    mentioned = mentioned_names(text)
    if not mentioned:
        return set()
    people, others = await database_sync_to_async(accounts_mentioned)(room, mentioned)
    if others and not room.is_private:
        people |= set((await process_state().held_names.holders([names.name_key(name) for name in others])).values())
    people.discard(sender)
    return people
