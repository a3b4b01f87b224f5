"""The notification socket (``ws/notifications/``): a signed-in person's inbox, live on every page."""

import asyncio
import functools
import logging

from django.db import DatabaseError

from accounts.identity import account_key, is_account
from chat import access, events, protocol
from chat.consumers import PersonConsumer
from chat.groups import ACCOUNTS_GROUP, INBOX_GROUP
from chat.process import process_state
from notifications import selectors, services

logger = logging.getLogger(__name__)

# Events a socket keeps while its inbox is read; more than this in that time are dropped
# (the inbox read after them holds what they said).
HELD_EVENTS_LIMIT = 1000

# The events that change what a page's inbox holds.
INBOX_EVENTS = (protocol.NOTIFICATION, protocol.NOTIFICATION_READ)

SIGN_IN_DETAIL = "Notifications are for signed-in people: log in to get them."


class NotificationConsumer(PersonConsumer):
    """One page's bell: the inbox when it opens, then each new notification and each read, as they happen.

    It joins ``people.inbox`` under its account's key (`chat.groups.INBOX_GROUP`) through
    this process's fan-out before reading the inbox, and holds what the Group says
    until the inbox is sent: nothing said in between is missed, and a page
    applies a notification or a read it already has once (they are keyed by id).
    Each (re)connect gets the inbox afresh, which is its catch-up.
    """

    channel_layer_alias = None  # no channel: events come through the fan-out's `group_event`
    held: list[tuple[dict, str]] | None = None

    # --8<-- [start:connect]
    async def connect(self) -> None:
        if not await self.admit_client():
            return
        self.know_person()
        if not is_account(self.user):
            await self.refuse(protocol.FORBIDDEN, SIGN_IN_DETAIL, protocol.CLOSE_FORBIDDEN)
            return
        self.held = []
        fanout = process_state().fanout
        # The inboxes' events name the account they are for: this socket gets its own account's only.
        for group, address in ((INBOX_GROUP, account_key(self.user.pk)), (ACCOUNTS_GROUP, None)):
            await fanout.join(group, self, address)
            self.cleanup.add(functools.partial(fanout.leave, group, self, address))
        # A logout between the session's first read and the joins was told before this socket could hear it.
        if await access.aaccount_now(self.user, self.session_key) is None:
            await self.refuse(protocol.FORBIDDEN, SIGN_IN_DETAIL, protocol.CLOSE_FORBIDDEN)
            return
        await self.accept()
        await self.send_inbox()

    async def send_inbox(self) -> None:
        """The inbox as it is now, then what the Groups said while it was read (held since before the read)."""
        await self.send_frame(await selectors.ainbox(self.user))
        held, self.held = self.held, None
        for event, text in held:
            await self.pass_on(event, text)

    # --8<-- [end:connect]

    # --8<-- [start:group-event]
    async def group_event(self, event: dict, text: str) -> None:
        """An event of ``people.inbox`` addressed to this socket's account, or of ``people.accounts``, from the fan-out.

        `text` is the event as the hub encoded it; a notification or a read goes out without its ``to``.
        """
        # Only what the inbox being read could overtake waits for it; a logout, say, does not.
        if self.held is None or event["type"] not in INBOX_EVENTS:
            await self.pass_on(event, text)
        elif len(self.held) < HELD_EVENTS_LIMIT:
            self.held.append((event, text))

    async def pass_on(self, event: dict, text: str) -> None:
        if event["type"] in INBOX_EVENTS:
            await self.send_frame({key: value for key, value in event.items() if key != "to"})
        elif event["type"] == events.ACCOUNT_CHANGED:
            await self.account_changed(event)
        elif event["type"] == events.LAYER_RECOVERED and self.held is None:
            # Back from a channel-layer outage: what was pushed meanwhile is stored, so the inbox afresh holds it.
            # In a task of its own, so that the hub that brought this waits for no socket's database read.
            self.held = []
            refresh = asyncio.create_task(self.refresh_inbox())
            self.cleanup.add(refresh.cancel)

    async def refresh_inbox(self) -> None:
        try:
            await self.send_inbox()
        except DatabaseError as exc:  # the page reconnects, and its socket reads the inbox then
            logger.warning("Could not read an inbox again after a channel-layer outage: %s", exc)
            await self.close()

    # --8<-- [end:group-event]

    def parse(self, text_data: str | None, bytes_data: bytes | None) -> protocol.InboxFrame:
        return protocol.parse_inbox_frame(text_data, bytes_data)

    # --8<-- [start:handle]
    async def handle(self, frame: protocol.InboxFrame) -> None:
        if isinstance(frame, protocol.PingIn):
            await self.send_frame(protocol.pong())
        else:
            await services.amark_read(self.user, frame.ids)

    # --8<-- [end:handle]
