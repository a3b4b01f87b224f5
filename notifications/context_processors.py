"""What every page's header needs for the bell: how many notifications are unread."""

import functools

from django.http import HttpRequest

from notifications.selectors import unread_count


def unread_notifications(request: HttpRequest) -> dict:
    """The signed-in person's unread count, counted only if the page shows it (a template calls it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": functools.partial(unread_count, user)}
