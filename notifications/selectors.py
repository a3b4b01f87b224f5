"""Reading a person's notifications: the bell's list and its unread count."""

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat import protocol
from notifications.models import Notification

# The newest notifications a page gets when its socket opens (the bell's list); the unread
# ones beyond them are counted, and "mark all read" reaches them too.
INBOX_SHOWN = 30


def notification_frame(notification: Notification) -> dict[str, Any]:
    """The ``notification`` frame of a stored notification."""
    return protocol.notification(
        notification.pk,
        notification.kind,
        notification.text,
        notification.link,
        notification.room,
        notification.created,
        notification.read,
    )


# --8<-- [start:inbox]
def inbox(user: Any) -> dict[str, Any]:
    """The ``inbox`` frame for an account: its newest notifications, and the ids of all its unread ones."""
    mine = Notification.objects.filter(user_id=user.pk)
    newest = [notification_frame(notification) for notification in mine.order_by("-id")[:INBOX_SHOWN]]
    unread = list(mine.filter(read__isnull=True).order_by("-id").values_list("id", flat=True))
    return protocol.inbox(newest, unread, settings.CHAT_NOTIFICATIONS_KEPT)


# --8<-- [end:inbox]

ainbox = database_sync_to_async(inbox)


def unread_count(user: Any) -> int:
    """How many of the account's notifications are unread."""
    return Notification.objects.filter(user_id=user.pk, read__isnull=True).count()


def has_unread_invitation(user: Any, link: str) -> bool:
    """Whether the account has an unread invitation leading to `link` (an invite link's path)."""
    unread = Notification.objects.filter(user_id=user.pk, read__isnull=True)
    return unread.filter(kind=Notification.Kind.INVITATION, link=link).exists()
