"""What every page's header needs for the bell: how many notifications are unread."""

import functools

from django.conf import settings
from django.http import HttpRequest

from notifications.selectors import unread_count


def unread_notifications(request: HttpRequest) -> dict:
    """The signed-in person's unread count, counted only if the page shows it (a template calls it).

    With it the bell's heartbeat (`CHAT_CLIENT_HEARTBEAT`): the bell is on pages that have no socket of their own.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notifications": functools.partial(unread_count, user),
        "notification_heartbeat": settings.CHAT_CLIENT_HEARTBEAT,
    }
