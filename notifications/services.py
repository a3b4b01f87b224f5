"""A person's notifications: stored for their account, then pushed to every page they have open, in every process.

`notify` (and `anotify` for async code) is how any server code tells a
signed-in person something: views, signals, management commands, cron jobs.
Mentions and invitations come here too (`anotify_mentions`, `notify_invitation`).
Each is stored first, so a person who is away finds it on their next page;
then it goes to ``people.inbox`` (`chat.groups.INBOX_GROUP`) addressed to the
account (``to``: its person key): every process with notification sockets
listens there, and each passes it to the account's sockets only.
Reading one (`mark_read`, `mark_all_read`) goes the same way, so the
person's other tabs follow at once.

The push is a courtesy, the row is the truth: a push that fails (the channel
layer is down) is logged, and the pages get the notification when they next
connect. An account keeps its newest ``CHAT_NOTIFICATIONS_KEPT``.
"""

import logging
import math
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import Case, When
from django.utils import timezone

from accounts.identity import ACCOUNT_KEY_PREFIX, account_id, account_key, is_account
from chat import limits, protocol
from chat.groups import INBOX_GROUP
from chat.models import Message, Room
from notifications import selectors
from notifications.links import clean_link
from notifications.models import TEXT_MAX_LENGTH, Notification

logger = logging.getLogger(__name__)

# How much of a message a mention's notification quotes.
MENTION_PREVIEW_CHARACTERS = 120


class NotAnAccount(ValueError):
    """Only an active account has notifications; guests have the live toast and no inbox."""


def check_link(link: object) -> str:
    """A notification's link as stored (`links.clean_link`), or raise `protocol.ProtocolError` (``invalid_field``)."""
    try:
        return clean_link(link)
    except ValueError as exc:
        raise protocol.ProtocolError(protocol.INVALID_FIELD, str(exc)) from None


def check_text(text: object) -> str:
    """A notification's text (at most `TEXT_MAX_LENGTH` characters), or raise `protocol.ProtocolError`."""
    return protocol.check_message_text(text, TEXT_MAX_LENGTH)


def _require_account(user: Any) -> None:
    if not is_account(user):
        raise NotAnAccount("Only an active account has notifications.")


# --8<-- [start:save]
@transaction.atomic
def save_notification(
    user_id: int,
    text: str,
    link: str = "",
    kind: str = Notification.Kind.SERVER,
    room: str = "",
    message: Message | None = None,
) -> Notification:
    """Store a notification for the account, and delete what it keeps beyond ``CHAT_NOTIFICATIONS_KEPT``.

    What goes first: read ones, then unread mentions, then the rest, oldest first in each. Anyone
    may mention anyone, so a crowd of senders, each within its budget, could otherwise push an
    unread invitation or a notice from server code out of a person's inbox with mentions.
    """
    notification = Notification.objects.create(
        user_id=user_id, text=text, link=link, kind=kind, room=room, message=message
    )
    theirs = Notification.objects.filter(user_id=user_id)
    excess = theirs.count() - settings.CHAT_NOTIFICATIONS_KEPT
    if excess > 0:
        first_to_go = Case(When(read__isnull=False, then=0), When(kind=Notification.Kind.MENTION, then=1), default=2)
        going = theirs.alias(first_to_go=first_to_go).order_by("first_to_go", "id").values_list("id", flat=True)
        theirs.filter(id__in=list(going[:excess])).delete()
    return notification


# --8<-- [end:save]


# --8<-- [start:publish]
async def apublish(user_id: int, frame: dict[str, Any]) -> None:
    """Send a frame to every notification socket of the account, in every process: never raises.

    The event is the frame and ``to``, which each process's hub reads to pick the sockets it is for.
    """
    try:
        await get_channel_layer().group_send(INBOX_GROUP, {**frame, "to": [account_key(user_id)]})
    except Exception:  # stored already: the person's pages get it when they next connect
        logger.warning("Could not push a notification frame to account %s; it is stored", user_id, exc_info=True)


# --8<-- [end:publish]


@transaction.atomic
def _save_and_push_on_commit(user_id: int, text: str, link: str, kind: str, room: str = "") -> Notification:
    """`save_notification`, then `apublish` once the caller's transaction (or this one) commits."""
    notification = save_notification(user_id, text, link, kind, room)
    frame = selectors.notification_frame(notification)
    transaction.on_commit(lambda: async_to_sync(apublish)(user_id, frame))
    return notification


# --8<-- [start:notify]
def notify(user: Any, text: str, link: str | None = None) -> Notification:
    """Tell a signed-in person something: stored, then pushed to every page they have open.

    `link`, if given, is where the notification leads: a path of this site or
    an http(s) URL. Raises `NotAnAccount` for a guest or an inactive account, and
    `protocol.ProtocolError` for text or a link it can't take. Inside a
    transaction, the push waits for the commit.
    """
    _require_account(user)
    return _save_and_push_on_commit(user.pk, check_text(text), check_link(link), Notification.Kind.SERVER)


async def anotify(user: Any, text: str, link: str | None = None) -> Notification:
    """`notify` for async code."""
    _require_account(user)
    text, link = check_text(text), check_link(link)
    notification = await database_sync_to_async(save_notification)(user.pk, text, link)
    await apublish(user.pk, selectors.notification_frame(notification))
    return notification


# --8<-- [end:notify]


def sender_budget(sender: str, client_address: str | None) -> limits.TokenBucket:
    """The bucket of notifications one sender may still make: an account's own, else its address's.

    With ``CHAT_NOTIFICATIONS_PER_SENDER`` 0 its rate is 0, which `limits.TokenBucket` takes for no limit.

    A guest's key costs nothing to change (a socket without the cookie is a new guest),
    so guests are counted by address; an account is counted as itself, whatever its address.
    """
    key = sender if sender.startswith(ACCOUNT_KEY_PREFIX) or client_address is None else f"address:{client_address}"
    per_minute = settings.CHAT_NOTIFICATIONS_PER_SENDER
    return limits.notification_senders.bucket(key, per_minute / 60, per_minute)


def mention_text(room: Room, message: Message) -> str:
    """What a mention's notification says: who, where, and the start of what they said."""
    where = {Room.Kind.PRIVATE: room.title, Room.Kind.DIRECT: "your direct conversation"}.get(room.kind, room.name)
    said = " ".join(message.text.split())
    if len(said) > MENTION_PREVIEW_CHARACTERS:
        said = said[: MENTION_PREVIEW_CHARACTERS - 1] + "…"
    return f"{message.author} mentioned you in {where}: {said}"


def room_link(room: Room) -> str:
    """The path of a room's page, its name unencoded (browsers encode it when followed).

    Percent-encoded, a name of 64 letters of another script is a path of up to 775
    characters, more than a link may hold; a room name needs no escaping in a path.
    """
    return f"/chat/{room.name}/"


def save_mentions(room: Room, message: Message, user_ids: Iterable[int]) -> list[Notification]:
    """One notification for each account in `user_ids` (active ones) that `message` mentions."""
    text, link = mention_text(room, message), room_link(room)
    active = get_user_model().objects.filter(pk__in=list(user_ids), is_active=True).order_by("pk")
    return [
        save_notification(pk, text, link, Notification.Kind.MENTION, room.name, message)
        for pk in active.values_list("pk", flat=True)
    ]


# --8<-- [start:mentions]
async def anotify_mentions(room: Room, message: Message, people: set[str], client_address: str | None = None) -> None:
    """Notify the accounts among the `people` a message mentions (person keys, `chat.mentions`), within budget.

    Guests among them have only the live toast. Past the sender's budget the
    rest get no notification; the message is said all the same. Each notification
    quotes the message, so deleting the message deletes them (`forget_mentions`). Never
    raises for the database: the message is out already, and its sender must not be told it was not.
    """
    user_ids = sorted(user_id for user_id in map(account_id, people) if user_id is not None)
    if not user_ids:
        return
    # Server code's messages (no sender) are not counted: the API that posts them has a rate of its own.
    if message.sender:
        budget = sender_budget(message.sender, client_address)
        user_ids = [user_id for user_id in user_ids if budget.take()]
    try:
        notifications = await database_sync_to_async(save_mentions)(room, message, user_ids)
    except DatabaseError as exc:  # the live toasts went; only the inboxes miss these
        logger.warning("Could not store the notifications of a message's mentions in room %r: %s", room.name, exc)
        return
    for notification in notifications:
        await apublish(notification.user_id, selectors.notification_frame(notification))


# --8<-- [end:mentions]


def refresh_mentions(room: Room, message: Message) -> None:
    """After an edit, the notifications the message's mentions made quote it as it says now.

    A mention the edit adds makes none: editing one message over and over must not
    send notifications beyond its sender's budget.
    """
    Notification.objects.filter(message=message).update(text=mention_text(room, message))


def forget_invitations(user_id: int, room_name: str) -> None:
    """Delete an account's invitations to a room (it was removed from it); its pages drop them at their next inbox."""
    Notification.objects.filter(user_id=user_id, kind=Notification.Kind.INVITATION, room=room_name).delete()


def forget_mentions(message: Message) -> None:
    """Delete the notifications that quote a message being deleted; pages drop them when they next connect."""
    Notification.objects.filter(message=message).delete()


def notify_invitation(user: Any, room: Room, by: Any, link: str) -> Notification | None:
    """Tell an account it was invited to a private room; None past the inviter's budget (nothing stored)."""
    _require_account(user)
    if not sender_budget(account_key(by.pk), None).take():
        return None
    text = f"{by.get_username()} invited you to the private room {room.title or room.name}"
    return _save_and_push_on_commit(user.pk, text, link, Notification.Kind.INVITATION, room.name)


def seconds_until_sender_may(sender: str, client_address: str | None = None) -> int:
    """Whole seconds until a sender past its budget may make a notification again."""
    return math.ceil(sender_budget(sender, client_address).seconds_until_next())


# --8<-- [start:read]
@transaction.atomic
def mark_read(user: Any, ids: Iterable[int]) -> list[int]:
    """Mark those of `ids` that are the account's unread notifications read; returns which ones were."""
    unread = Notification.objects.filter(user_id=user.pk, id__in=list(ids), read__isnull=True)
    changed = list(unread.values_list("id", flat=True))
    Notification.objects.filter(id__in=changed).update(read=timezone.now())
    return changed


@transaction.atomic
def mark_all_read(user: Any) -> int | None:
    """Mark every unread notification of the account read; returns the newest id marked, None if none was unread."""
    unread = Notification.objects.filter(user_id=user.pk, read__isnull=True)
    newest = unread.order_by("-id").values_list("id", flat=True).first()
    if newest is not None:
        unread.filter(id__lte=newest).update(read=timezone.now())
    return newest


async def amark_read(user: Any, ids: Iterable[int] | None) -> None:
    """Mark notifications read (`ids`, or all of them for None), and tell the account's other pages."""
    if ids is None:
        newest = await database_sync_to_async(mark_all_read)(user)
        if newest is not None:
            await apublish(user.pk, protocol.notification_read([], up_to=newest))
        return
    changed = await database_sync_to_async(mark_read)(user, ids)
    if changed:
        await apublish(user.pk, protocol.notification_read(changed))


# --8<-- [end:read]
