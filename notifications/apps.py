from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """A person's notifications: stored for their account, pushed to every page they have open, read or not."""

    name = "notifications"
