"""Finding accounts."""

from typing import Any

from django.contrib.auth import get_user_model


def active_account_named(username: str) -> Any:
    """The active account called `username`; case aside if that names only one account; else None.

    People type a name the way they heard it ("ann" for "Ann"); two accounts that differ only
    in case are both left alone, rather than one picked.
    """
    username = username.strip()
    if not username:
        return None
    accounts = get_user_model().objects.filter(is_active=True)
    field = get_user_model().USERNAME_FIELD
    account = accounts.filter(**{field: username}).first()
    if account is None:
        alike = list(accounts.filter(**{f"{field}__iexact": username})[:2])
        account = alike[0] if len(alike) == 1 else None
    return account


def shown_username(username: str) -> str:
    """A username someone typed, cut for an error message."""
    username = username.strip()
    return username if len(username) <= 40 else username[:40] + "…"
