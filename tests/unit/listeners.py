"""A channel of a test's own in a Group, as a process's hub is: each event the Group is sent, in order."""

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User

from accounts.identity import account_key
from chat import protocol
from chat.groups import INBOX_GROUP

# The id of no notification (ids start at 1): the marker that fences off a Group's events.
MARKER_ID = 0


class Listener:
    """A channel in `group`: `next` is the next event sent to the Group, within a second."""

    def __init__(self, group: str, channel: str) -> None:
        self.layer, self.group, self.channel = get_channel_layer(), group, channel

    @classmethod
    async def join(cls, group: str) -> "Listener":
        channel = await get_channel_layer().new_channel()
        await get_channel_layer().group_add(group, channel)
        return cls(group, channel)

    async def next(self) -> dict:
        return await asyncio.wait_for(self.layer.receive(self.channel), 1)

    async def fence(self) -> None:
        """Send a last event to the Group and check that it is the next: nothing else was sent before it."""
        marker = protocol.notification_read([MARKER_ID])
        await self.layer.group_send(self.group, marker)
        assert await self.next() == marker


class InboxListener(Listener):
    """A channel in ``people.inbox`` that hears one account's events, as its sockets would: without ``to``."""

    key = ""

    async def next(self) -> dict:
        async with asyncio.timeout(1):
            while True:
                event = await self.layer.receive(self.channel)
                if self.key in event.get("to", ()):
                    return {key: value for key, value in event.items() if key != "to"}

    async def fence(self) -> None:
        marker = protocol.notification_read([MARKER_ID])
        await self.layer.group_send(self.group, {**marker, "to": [self.key]})
        assert await self.next() == marker


async def inbox_of(user: User) -> Listener:
    """What the account's notification sockets hear, in every process."""
    listener = await InboxListener.join(INBOX_GROUP)
    listener.key = account_key(user.pk)
    return listener


def listen(user: User) -> Listener:
    """`inbox_of` for sync tests (each of their async calls runs on a loop of its own)."""
    return async_to_sync(inbox_of)(user)
