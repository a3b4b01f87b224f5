"""A signed-in person's notifications: what the bell in the page's header lists."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications.links import LINK_MAX_LENGTH, validate_link

# The longest text a notification may hold.
TEXT_MAX_LENGTH = 500


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention", "Someone mentioned the person"
        INVITATION = "invitation", "An invitation to a private room"
        SERVER = "server", "Sent by server code: notify(), the command or the HTTP API"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SERVER)
    text = models.CharField(max_length=TEXT_MAX_LENGTH)
    link = models.CharField(
        max_length=LINK_MAX_LENGTH,
        blank=True,
        default="",
        validators=[validate_link],
        help_text="Where it leads, if anywhere: a path of this site or an http(s) URL.",
    )
    room = models.CharField(max_length=64, blank=True, default="", help_text="The room it is about, if any.")
    message = models.ForeignKey(
        "chat.Message",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The message that mentioned the person; deleting it deletes this.",
    )
    created = models.DateTimeField(default=timezone.now)
    read = models.DateTimeField(null=True, blank=True, help_text="When the person marked it read; empty while unread.")

    class Meta:
        ordering = ["user", "-id"]
        # A person's newest first (the bell's list, and the retention cut) and their unread ones (the count).
        indexes = [
            models.Index(fields=["user", "-id"], name="notifications_newest"),
            models.Index(fields=["user", "id"], condition=models.Q(read__isnull=True), name="notifications_unread"),
        ]

    def __str__(self) -> str:
        return f"to {self.user}: {self.text[:40]}"
