"""Rooms, who may be in them, and the messages said in them."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from chat.groups import ROOM_NAME_MAX_LENGTH


class Room(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", "Anyone may read and join"
        PRIVATE = "private", "Members only"
        DIRECT = "direct", "A direct conversation of two people"

    name = models.CharField(max_length=ROOM_NAME_MAX_LENGTH, unique=True)
    created = models.DateTimeField(default=timezone.now)
    last_message_id = models.PositiveBigIntegerField(
        default=0, help_text="The id given to this room's newest message; the next one gets one more."
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PUBLIC)
    title = models.CharField(
        max_length=ROOM_NAME_MAX_LENGTH, blank=True, default="", help_text="What a private room is called on its page."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_rooms"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_private(self) -> bool:
        """Members only: a private room or a direct conversation."""
        return self.kind != self.Kind.PUBLIC


class Membership(models.Model):
    """A person's place in a private room, and what they may do there."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MODERATOR = "moderator", "Moderator"
        MEMBER = "member", "Member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["room", "joined"]
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chat_membership_once_per_room")]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"


class Invite(models.Model):
    """A link that makes whoever signed in opens it a member of a private room; revoking it deletes its row."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invites")
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"invite to {self.room}"


class Message(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "Said by a person"
        SYSTEM = "system", "A notification from the server"

    class AuthorKind(models.TextChoices):
        ACCOUNT = "account", "A signed-in account"
        STAFF = "staff", "A signed-in member of staff"
        GUEST = "guest", "A guest"
        SYSTEM = "system", "The server"

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
    author_kind = models.CharField(max_length=16, choices=AuthorKind.choices, default=AuthorKind.GUEST)
    sender = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Whose message this is: user:<id> for an account, guest:<digest> for a guest (accounts.identity).",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    edited = models.DateTimeField(null=True, blank=True, help_text="When its author last changed the text.")
    deleted = models.DateTimeField(
        null=True, blank=True, help_text="When it was deleted; its text is gone, the row stays for catch-up."
    )

    # Not stored: set on the message `services.save_message` finds for a resend (a client id its
    # sender used already), whose mentions were notified when it was first stored.
    resent = False

    class Meta:
        ordering = ["room", "room_message_id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "room_message_id"], name="chat_message_unique_id_per_room"),
            # Per sender: someone else's client id stores that person's own message, never answers with yours.
            models.UniqueConstraint(
                fields=["room", "sender", "client_id"],
                condition=~models.Q(client_id=""),
                name="chat_message_unique_client_id_per_sender",
            ),
        ]
        indexes = [
            # The messages still said, in each room's order: history, catch-up and paging back read
            # these, so a long run of deleted messages costs them nothing to step over.
            models.Index(
                fields=["room", "room_message_id"], condition=models.Q(deleted__isnull=True), name="chat_message_said"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.name} #{self.room_message_id} {self.author}: {self.text[:40]}"


class ReadMark(models.Model):
    """How far a signed-in person has read a room, on any of their devices: the newest message id they have seen.

    Written by `chat.reading` only, and only ever raised. A guest has none: their browser keeps theirs.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_marks")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_marks")
    last_read = models.PositiveBigIntegerField(help_text="The newest message id of the room the person has seen.")
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room"], name="chat_readmark_once_per_room")]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} up to #{self.last_read}"
