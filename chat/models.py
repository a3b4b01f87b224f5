"""Rooms and the messages said in them."""

from django.db import models
from django.utils import timezone

from chat.groups import ROOM_NAME_MAX_LENGTH


class Room(models.Model):
    name = models.CharField(max_length=ROOM_NAME_MAX_LENGTH, unique=True)
    created = models.DateTimeField(default=timezone.now)
    last_message_id = models.PositiveBigIntegerField(
        default=0, help_text="The id given to this room's newest message; the next one gets one more."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "Said by a person"
        SYSTEM = "system", "A notification from the server"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    room_message_id = models.PositiveBigIntegerField(
        help_text="The message's id in the protocol: 1, 2, 3 and so on within its room."
    )
    author = models.CharField(max_length=64)
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.USER)
    client_id = models.CharField(
        max_length=64, blank=True, default="", help_text="The sender's id for this message, so a resend is stored once."
    )

    class Meta:
        ordering = ["room", "room_message_id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "room_message_id"], name="chat_message_unique_id_per_room"),
            models.UniqueConstraint(
                fields=["room", "client_id"],
                condition=~models.Q(client_id=""),
                name="chat_message_unique_client_id_per_room",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.name} #{self.room_message_id} {self.author}: {self.text[:40]}"
