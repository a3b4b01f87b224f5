"""Who a socket's person is now, not only when the socket opened.

A socket takes its user from the session once, at connect. Logging out,
deactivating an account, taking away staff or changing the password must not
leave an open socket with the old powers: such a change sends an
``account.changed`` event (after its transaction commits) that closes the
person's sockets, which then reconnect as who they now are. Privileged frames
also look again at the database, so a change whose event was lost (Redis away)
still takes effect.
"""

import hashlib
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.contrib.sessions.models import Session
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils.module_loading import import_string

from chat import events, services
from chat.groups import ACCOUNTS_GROUP

# A change to any of these ends the powers an open socket was given.
POWER_FIELDS = ("is_active", "is_staff", "is_superuser", "password")


def session_digest(session_key: str | None) -> str | None:
    """A session's name in events: a digest, so that the key that logs a browser in never travels."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32] if session_key else None


def account_changed_event(user_id: Any = None, session_key: str | None = None) -> dict[str, Any]:
    """The event that closes sockets: a user's (all, or one session's), or any socket of one session."""
    return {
        "type": events.ACCOUNT_CHANGED,
        "user": None if user_id is None else str(user_id),
        "session": session_digest(session_key),
    }


def concerns(event: dict[str, Any], user: Any, session_key: str | None) -> bool:
    """Whether an ``account.changed`` event is about this socket's person (and session)."""
    if event["user"] is not None and (user is None or not user.is_authenticated or str(user.pk) != event["user"]):
        return False
    return event["session"] is None or event["session"] == session_digest(session_key)


async def acurrent_user(session_key: str | None) -> Any:
    """The user the session belongs to now, read afresh (anonymous once logged out or deactivated)."""
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    await database_sync_to_async(store.load)()  # an ended session loads as empty
    return await get_user({"session": store})


async def aaccount_now(user: Any, session_key: str | None) -> Any | None:
    """The socket's account as the database has it now; None for a guest, or an account logged out or gone since."""
    if user is None or not user.is_authenticated:
        return None
    current = await acurrent_user(session_key)
    return current if current.is_authenticated and current.pk == user.pk else None


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and request is not None and getattr(request, "session", None) is not None:
        services.publish_on_commit(ACCOUNTS_GROUP, account_changed_event(user.pk, request.session.session_key))


@receiver(post_delete, sender=Session)
def _session_ended(sender: Any, instance: Session, **kwargs: Any) -> None:
    # Every end of a stored session: a logout, a login over it as someone else (which flushes
    # it without a logout), a new key at login, or an administrator deleting it.
    services.publish_on_commit(ACCOUNTS_GROUP, account_changed_event(session_key=instance.session_key))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _remember_powers(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is not None:
        instance._powers_before = sender._default_manager.filter(pk=instance.pk).values(*POWER_FIELDS).first()


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _powers_changed(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_powers_before", None)
    if before and any(before[field] != getattr(instance, field) for field in POWER_FIELDS):
        services.publish_on_commit(ACCOUNTS_GROUP, account_changed_event(instance.pk))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _account_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    services.publish_on_commit(ACCOUNTS_GROUP, account_changed_event(instance.pk))
