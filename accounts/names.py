"""The rules of names: when two names are one, which names no guest may take, and who a name belongs to.

Two names are one when they look alike. `name_key` folds a name so that
lookalikes get one key: Unicode NFKC (full-width and mathematical letters are
plain ones), case folding, and the confusables table of Unicode's TR39 (from
the maintained ``confusable-homoglyphs`` package), so that a Cyrillic "а" or a
Greek "ο" is the Latin letter it looks like. Every comparison of names goes
through it: a guest's name against the accounts' usernames, the reserved names
and the names other guests hold online; a new username against the existing
ones; an ``@name`` against the people it may mean.

A guest holds their name while a socket of theirs is open anywhere: the chat
keeps who holds which name (a store behind `NameHolders`); `ahold_name` is the
decision a socket asks for when it opens.
"""

import collections
import functools
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from channels.db import database_sync_to_async
from confusable_homoglyphs.confusables import confusables_data
from django.contrib.auth import get_user_model

from accounts.identity import Person

# Names no guest may take: they would speak as the server, or as the people who run it.
RESERVED_NAMES = frozenset({"system", "admin", "administrator", "moderator", "mod", "staff", "root", "support"})

# The table marks right-to-left characters with LEFT-TO-RIGHT MARKs for display; they are not part of them.
_DISPLAY_MARKS = str.maketrans("", "", "\u200e\u200f")


# --- When two names are one -------------------------------------------------------------


@functools.cache
def _lookalike_classes() -> dict[str, set[str]]:
    """Each character of the table, with every character it is confusable with, directly or through others.

    The table pairs a character with its prototype ("а" with "a", "I" with
    "l"); the classes join those pairs transitively. Only single characters are
    joined ("rn" looking like "m" is left out), and only the case pairs of
    ASCII letters: "I" looks like "l" and is "i" in another case, so "Ivan",
    "ivan" and "lvan" are one name. Joining the case pairs of every script
    would chain unrelated letters together (Greek "Ν" looks like "N", its
    small "ν" like "v": "n" would become "v"), so other scripts' case is folded
    by `name_key` instead.
    """
    parent: dict[str, str] = {}

    def root(char: str) -> str:
        while parent.get(char, char) != char:
            char = parent[char]
        return char

    def join(first: str, second: str) -> None:
        low, high = sorted((root(first), root(second)))
        if low != high:
            parent[high] = low
            parent.setdefault(low, low)

    for char, lookalikes in confusables_data.items():
        char = char.translate(_DISPLAY_MARKS)
        for lookalike in lookalikes:
            other = lookalike["c"].translate(_DISPLAY_MARKS)
            if len(char) == 1 and len(other) == 1:
                join(char, other)
    for upper in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        join(upper, upper.lower())
    classes: dict[str, set[str]] = collections.defaultdict(set)
    for char in list(parent):
        classes[root(char)].add(char)
    return {char: classes[root(char)] for char in parent}


@functools.cache
def _as_ascii(char: str) -> str:
    """The ASCII letter or digit `char` looks like, if any ("М", Cyrillic, is "M"); else `char` itself.

    Applied before case folding, so that a capital of another script that
    looks like a Latin capital is that letter, whatever its small form looks like.
    """
    plain = [each for each in _lookalike_classes().get(char, ()) if each.isascii() and each.isalnum()]
    return min(plain) if plain else char


@functools.cache
def _prototype(char: str) -> str:
    """One character for all that look like `char`: the smallest of its class (case-folded), or `char` itself."""
    lookalikes = _lookalike_classes().get(char)
    if not lookalikes:
        return char
    smallest = min(lookalikes).casefold()
    return smallest if len(smallest) == 1 else min(lookalikes)


@functools.lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """What two names must differ in to be told apart: one key for names that look alike.

    NFKC first (``ａｄｍｉｎ`` is ``admin``); then each character that looks like
    an ASCII letter or digit becomes it (a Cyrillic capital "М" is "M"); case
    folding; decomposition, so that accents compare apart from their letters
    (Cyrillic "е" with U+0301 is "é"); then each character becomes the
    prototype of its lookalikes: "а" (Cyrillic) is "a"; "ο" (Greek), "o" and "0"
    are "0"; "I", "i", "l", "|" and "1" are "1". Names that share a key are one
    name: "Ann", "ANN" and "аnn" (Cyrillic а) are all "ann", "Ivan" and "lvan" "1van".
    """
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", name))
    text = unicodedata.normalize("NFD", "".join(_as_ascii(char) for char in text).casefold())
    return unicodedata.normalize("NFC", "".join(_prototype(char) for char in text))


_RESERVED_KEYS = frozenset(name_key(name) for name in RESERVED_NAMES)


_MADE_UP_PREFIX = name_key("guest")


def is_reserved_name(name: str) -> bool:
    """Whether `name` is, or looks like, a name of the server or of those who run it (`RESERVED_NAMES`)."""
    return name_key(name) in _RESERVED_KEYS


def is_made_up_name(name: str) -> bool:
    """Whether `name` is, or looks like, one the server makes up for a guest who chose none (``guest-1a2b3c4d``).

    Nobody may choose one: it would take the name of a guest who went offline, who
    would then be refused their own name when they came back.
    """
    key = name_key(name)
    # "guest" then anything but a Latin letter: a hyphen, or any dash or mark that may look like one
    # ("guestー1a2b"); "guestbook" is a word of its own.
    following = key[len(_MADE_UP_PREFIX) : len(_MADE_UP_PREFIX) + 1]
    return key.startswith(_MADE_UP_PREFIX) and not ("a" <= following <= "z")


# --- Whose account a name is ------------------------------------------------------------


class AccountNames:
    """The name keys of every account's username, in this process, read again only when accounts change.

    The database cannot compare names by key, and keeps none: a key depends
    on the confusables table, which changes with the package. So the keys of all
    usernames are kept here, one entry per account. Before each answer one
    query reads the newest account (by id, through the primary key's index):
    a new one is read alone and added; a newest account that changed or went
    means reading them all again, as does every `REREAD_SECONDS`, which
    bounds how long a renamed or deleted older account keeps its old name here.
    A reading computes the keys of new usernames only (a key takes some 17 µs).
    """

    REREAD_SECONDS = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()  # views and database threads ask at once
        self.forget()

    def forget(self) -> None:
        """Read every account again at the next question (each test starts with this)."""
        self._ids_by_key: dict[str, set[int]] = {}
        self._keys: dict[str, str] = {}  # username -> key, kept across readings: most usernames never change
        self._newest: tuple[int, str] | None = None
        self._read_at = -float("inf")

    def ids(self, name: str) -> set[int]:
        """The ids of the accounts whose username is `name` to `name_key` (one, but for names from before the rule)."""
        return self.ids_of([name])[name]

    def ids_of(self, names: Iterable[str]) -> dict[str, set[int]]:
        """`ids` of each of `names`, after one look at the database for them all."""
        with self._lock:
            self._catch_up()
            return {name: set(self._ids_by_key.get(name_key(name), ())) for name in names}

    def _catch_up(self) -> None:
        users = get_user_model().objects
        newest = users.order_by("-pk").values_list("pk", "username").first()
        fresh = time.monotonic() - self._read_at < self.REREAD_SECONDS
        if fresh and newest == self._newest:
            return
        if fresh and newest is not None and self._newest is not None and newest[0] > self._newest[0]:
            self._add(users.filter(pk__gt=self._newest[0]).values_list("pk", "username"))  # the accounts made since
            self._newest = newest
            return
        known, self._ids_by_key, self._keys = self._keys, {}, {}
        self._add(users.values_list("pk", "username").iterator(), known)
        self._newest, self._read_at = newest, time.monotonic()

    def _add(self, accounts: Iterable[tuple[int, str]], known: dict[str, str] | None = None) -> None:
        for pk, username in accounts:
            key = self._keys[username] = (known or {}).get(username) or name_key(username)
            self._ids_by_key.setdefault(key, set()).add(pk)


account_names = AccountNames()


def is_registered_name(name: str) -> bool:
    """Whether an account's username is `name`, as `name_key` tells names apart (``ann``, ``ANN``, ``аnn``)."""
    return bool(account_names.ids(name))


# --- Who may take a name ----------------------------------------------------------------


def taken_reason(name: str, choose: str = "choose another name", *, chosen: bool = True) -> str | None:
    """Why no guest may take `name` (it is reserved, made up, or an account's), in words for them; None if they may.

    `choose` is what they can do instead, where they are told. `chosen`: the guest
    chose the name, rather than keep the one the server made up for them.
    """
    if is_reserved_name(name):
        return f"{name!r} is reserved, or looks like a reserved name; {choose}."
    if chosen and is_made_up_name(name):
        return f"Names like {name!r} are the ones made up for guests who choose none; {choose}."
    if is_registered_name(name):
        return f"{name!r} is a registered account's name, or looks like one; log in to use it, or {choose}."
    return None


def held_reason(name: str, choose: str = "choose another name") -> str:
    """What a guest is told when another guest holds `name` (or a lookalike) online."""
    return f"{name!r} is in use by another guest right now, or looks like a name in use; {choose}."


class NameHolders(Protocol):
    """Who holds which name online, across every process (the chat's store)."""

    async def hold(self, key: str, holder: str, socket_id: str) -> str | None:
        """Hold `key` for `holder` through this socket, now; if another holder has it, return them and hold nothing."""

    async def release(self, key: str, holder: str, socket_id: str) -> None: ...

    async def holders(self, keys: list[str]) -> dict[str, str]:
        """The holder of each of these name keys that is held now."""


IN_THE_LOBBY = "choose another name in the lobby"


class NameTaken(Exception):
    """A guest's name may not be used: reserved, an account's, or held by another guest."""


@dataclass(frozen=True)
class NameHold:
    """A guest's hold on their name through one socket: taken as it opens, kept by its heartbeat, let go as it goes."""

    holders: NameHolders
    key: str
    holder: str
    socket_id: str

    async def keep(self) -> str | None:
        """Hold the name again, now; returns another holder if one has taken it meanwhile (then it is theirs)."""
        return await self.holders.hold(self.key, self.holder, self.socket_id)

    async def release(self) -> None:
        await self.holders.release(self.key, self.holder, self.socket_id)


async def ahold_name(person: Person, socket_id: str, holders: NameHolders) -> NameHold | None:
    """Let a socket's person use their name: a guest holds it while the socket is open; an account has it already.

    Raises `NameTaken` for a guest whose name is reserved, an account's (one
    registered since they chose it, say), or held online by another guest.
    The same guest on several sockets holds it through each.
    """
    if not person.is_guest:
        return None
    # A made-up name is the guest's own: the cookie that carries it is signed (`accounts.identity`).
    reason = await database_sync_to_async(taken_reason)(person.name, IN_THE_LOBBY, chosen=False)
    if reason is not None:
        raise NameTaken(reason)
    hold = NameHold(holders, name_key(person.name), person.key, socket_id)
    if await hold.keep() is not None:
        raise NameTaken(held_reason(person.name, IN_THE_LOBBY))
    return hold
