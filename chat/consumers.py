"""WebSocket consumers: thin edges that parse, call the services and send."""

import asyncio
import contextlib
import logging
import uuid

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from chat import access, limits, metrics, presence, protocol, services
from chat.delivery import Delivery
from chat.fanout import local_fanout
from chat.groups import ACCOUNTS_GROUP, LOBBY_GROUP, MENTIONS_GROUP, InvalidRoomName, clean_room_name, room_group_name
from chat.history import histories
from chat.identity import display_name, new_guest_name
from chat.models import Room

logger = logging.getLogger(__name__)

# What sending raises when the client has just gone: Daphne (through autobahn)
# raises Disconnected; the ASGI spec asks servers for an OSError.
SOCKET_GONE = (Disconnected, OSError)

# Heartbeat pings a socket may send without spending its rate limit: on average per second, and at once.
# Pages ping every CHAT_CLIENT_HEARTBEAT seconds, at least 1; pings beyond this count like any frame.
PING_RATE = 1.0
PING_BURST = 3


class FrameConsumer(AsyncWebsocketConsumer):
    """Sends protocol frames; a client gone mid-send is not an error of the server's."""

    async def send_frame(self, frame: dict) -> None:
        await self.send_text(protocol.encode(frame))

    async def send_text(self, text: str) -> None:
        """Send a frame already encoded (`protocol.encode`).

        Straight to the server's ``send``, as Channels' own ``send`` would after
        building the same message: this runs once per socket for every message.
        """
        # A plain try: contextlib.suppress would build a context manager for every frame.
        try:  # noqa: SIM105
            await self.base_send({"type": "websocket.send", "text": text})
        except SOCKET_GONE:
            pass  # The client closed while this frame was on its way; the disconnect event follows and cleans up.

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_frame(protocol.error(code, detail))

    async def refuse(self, code: str, detail: str, close_code: int = protocol.CLOSE_NOT_FOUND) -> None:
        """Tell the client why, then close with an application close code rather than a server error."""
        await self.accept()
        await self.send_error(code, detail)
        await self.close(code=close_code)


class ChatConsumer(FrameConsumer):
    """One browser socket in one room (``ws/chat/<room>/?after=<id>``).

    On connect it joins the room's Group, then sends history: the recent
    messages, or with ``after`` everything newer than that id. Each frame it
    receives is checked, saved, acknowledged and fanned out to the Group. What
    the Group delivers goes to the socket in order, each message once, by the
    rules of `chat.delivery`.

    The socket joins its Groups through this process's fan-out (`chat.fanout`):
    the process is the Group's member and calls `group_event` for each event,
    so the consumer needs no channel of its own.

    Whatever `connect` acquires it registers in `cleanup`, which lets it all
    go in one call however the consumer ends: a close, an exception, or the
    server cancelling it.
    """

    # Channels gives a consumer no channel when its alias names no layer; the
    # services still reach the layer itself through get_channel_layer().
    channel_layer_alias = None
    room_group: str | None = None  # set once the socket is admitted
    closing = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.socket_id = uuid.uuid4().hex  # names this socket in presence and typing events
        self.cleanup = contextlib.AsyncExitStack()

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when Daphne cancels a consumer that was slow to finish, and disconnect never runs.
            await self.cleanup.aclose()

    async def dispatch(self, message: dict) -> None:
        """Call the handler for an event, without Channels' per-event database clean-up.

        Channels closes stale database connections in a thread before every
        handler; here only the services touch the database, always through
        `database_sync_to_async`, which does that clean-up itself. Skipping it
        keeps a thread hop off every message delivered.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --8<-- [start:connect]
    async def connect(self) -> None:
        room_name = await self.admit()
        if room_name is None:
            return
        self.user = self.scope.get("user")
        self.author = display_name(self.user, self.scope.get("session")) or new_guest_name()
        self.room_group = room_group_name(room_name)
        self.delivery = Delivery(
            send_text=self.send_text,
            handle_other=self.dispatch,
            read_between=self.read_between,
            read_after=self.read_after,
        )
        self.cleanup.callback(self.delivery.stop)
        # Join before reading history: a message saved in between then arrives
        # both ways and the live copy is dropped, where reading first would lose it.
        # Until the history is out, the Group's events wait in the delivery's `held`.
        for group in (self.room_group, MENTIONS_GROUP, ACCOUNTS_GROUP):
            await local_fanout().join(group, self)
            self.cleanup.push_async_callback(local_fanout().leave, group, self)
        await self.accept()
        try:
            after = protocol.parse_after(self.scope.get("query_string", b""))
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.error(exc.code, exc.detail))
            after = None
        self.room, frames = await self.first_frames(room_name, after)
        # An id beyond the room's newest (a database reset since) must not hide new messages.
        await self.delivery.go_live(frames, after=None if after is None else min(after, self.room.last_message_id))
        await self.be_present(announce=True)
        self.cleanup.push_async_callback(self.leave_presence)
        self.cleanup.callback(asyncio.create_task(self.stay_present()).cancel)

    # --8<-- [end:connect]

    async def admit(self) -> str | None:
        """The room's clean name if this socket may open it; else refuse it and return None."""
        try:
            room_name = clean_room_name(self.scope["url_route"]["kwargs"]["room_name"])
        except InvalidRoomName as exc:
            await self.refuse(protocol.INVALID_ROOM, str(exc))
            return None
        address = (self.scope.get("client") or ["unknown"])[0]
        if not limits.connections.acquire(address, settings.CHAT_MAX_CONNECTIONS_PER_IP):
            logger.warning(
                "Refused a socket from %s: it has %d open already.", address, limits.connections.open[address]
            )
            await self.refuse(
                protocol.TOO_MANY_CONNECTIONS,
                "Too many open connections from your address; close some tabs and try again.",
                protocol.CLOSE_TOO_MANY_CONNECTIONS,
            )
            return None
        metrics.OPEN_SOCKETS.inc()
        self.cleanup.callback(metrics.OPEN_SOCKETS.dec)  # registered first: falls last, once all else is let go
        self.cleanup.callback(limits.connections.release, address)
        self.rate = limits.TokenBucket(settings.CHAT_RATE_LIMIT, settings.CHAT_RATE_BURST)
        self.pings = limits.TokenBucket(PING_RATE, PING_BURST)
        return room_name

    async def first_frames(self, room_name: str, after: int | None) -> tuple[Room, list[dict]]:
        """The room, and what the socket gets first: the recent history, or what came after id `after`."""
        if after is None:
            # This process's copy of the room's recent history, if it has one it can trust.
            history = histories().acquire(room_name)
            self.cleanup.push_async_callback(history.release)
            recent = await history.recent()
            if recent is not None:
                return recent
        room, messages = await services.aopen_room(room_name, after)
        return room, [services.message_frame(message) for message in messages]

    async def read_between(self, after: int, before: int) -> list[dict]:
        return [services.message_frame(m) for m in await services.amessages_between(self.room, after, before)]

    async def read_after(self, after: int) -> list[dict]:
        limit = settings.CHAT_CATCH_UP_LIMIT
        return [services.message_frame(m) for m in await services.arecent_messages(self.room, limit, after)]

    @property
    def session_key(self) -> str | None:
        session = self.scope.get("session")
        return session.session_key if session is not None else None

    async def disconnect(self, code: int) -> None:
        await self.cleanup.aclose()

    # --8<-- [start:receive]
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.room_group is None:
            return  # a refused socket, closing
        # A heartbeat has an allowance of its own, so a page's pings never get its messages refused.
        if protocol.is_ping(text_data) and self.pings.take():
            await self.send_frame(protocol.pong())
            return
        # The rate is checked before the frame is parsed: a refused frame costs no parsing.
        if not self.rate.take():
            wait = self.rate.seconds_until_next()
            client_id = protocol.claimed_client_id(text_data, settings.CHAT_MAX_MESSAGE_LENGTH)
            await self.send_frame(protocol.rate_limited(wait, client_id))
            return
        try:
            frame = protocol.parse_client_frame(text_data, bytes_data, settings.CHAT_MAX_MESSAGE_LENGTH)
        except protocol.ProtocolError as exc:
            frame = exc
        if isinstance(frame, protocol.ProtocolError):
            await self.send_frame(protocol.error(frame.code, frame.detail, frame.client_id))
        elif isinstance(frame, protocol.PingIn):
            await self.send_frame(protocol.pong())  # past its allowance, paid for like any frame
        elif isinstance(frame, protocol.TypingIn):
            await services.apublish_typing(self.room.name, self.author, self.socket_id)
        elif isinstance(frame, protocol.DeleteMessageIn):
            await self.delete_message(frame.id)
        else:
            await self.post_message(frame)

    # --8<-- [end:receive]

    async def post_message(self, frame: protocol.ChatMessageIn) -> None:
        try:
            message = await services.apost_message(self.room, self.author, frame.message, frame.client_id)
        except DatabaseError as exc:
            logger.error("Could not store a message in room %r: %s", self.room.name, exc)
            await self.send_frame(
                protocol.error(
                    protocol.NOT_SAVED,
                    "The message could not be stored; nobody got it. Send it again.",
                    frame.client_id,
                )
            )
            return
        if frame.client_id is not None:
            await self.send_frame(protocol.ack(frame.client_id, message.room_message_id))

    async def delete_message(self, message_id: int) -> None:
        if not await self.is_staff_now():
            await self.send_error(protocol.FORBIDDEN, "Only staff can delete messages.")
        elif not await services.apost_deletion(self.room, message_id):
            await self.send_error(protocol.UNKNOWN_MESSAGE, f"This room has no message {message_id}.")

    async def is_staff_now(self) -> bool:
        """Asked of the database, not of the socket's user: staff at connect may have logged out since."""
        if self.user is None or not self.user.is_staff:
            return False
        return (await access.acurrent_user(self.session_key)).is_staff

    async def group_event(self, event: dict, text: str) -> None:
        """An event of one of the socket's Groups, handed over by this process's fan-out (`text`: it encoded)."""
        await self.delivery.event(event, text)

    async def history_changed(self, event: dict) -> None:
        """A stored message was edited: nothing to send (the room's history copy takes note)."""

    async def chat_delete(self, event: dict) -> None:
        """A moderator deleted a message of the room."""
        await self.send_frame(protocol.delete(event["id"]))

    async def be_present(self, announce: bool = False) -> None:
        """Refresh this socket's presence entry; tell the room when it is new or entries expired."""
        dropped = await presence.safely(presence.store().touch(self.room.name, self.socket_id, self.author), 0)
        if dropped or announce:
            await services.apublish_presence(self.room.name)

    async def leave_presence(self) -> None:
        await presence.safely(presence.store().remove(self.room.name, self.socket_id, self.author), None)
        await services.apublish_presence(self.room.name)

    async def stay_present(self) -> None:
        """Runs beside the socket: a heartbeat, so that entries of dead processes expire and others don't."""
        while True:
            await asyncio.sleep(settings.CHAT_PRESENCE_HEARTBEAT)
            try:
                await self.be_present()
            except Exception:  # a heartbeat must outlive a bad moment (the layer being away, say)
                logger.warning("Presence heartbeat failed in room %r", self.room.name, exc_info=True)

    async def presence_update(self, event: dict) -> None:
        """Who is in the room changed."""
        await self.send_frame(protocol.presence(event["users"]))

    async def chat_typing(self, event: dict) -> None:
        """Someone else in the room is typing."""
        if event["socket"] != self.socket_id:
            await self.send_frame(protocol.typing(event["author"]))

    async def chat_mention(self, event: dict) -> None:
        """Someone named people with @name, in this room or another; this socket's person among them?"""
        if self.author in event["to"]:
            await self.send_frame(
                {key: value for key, value in event.items() if key != "to"} | {"type": protocol.MENTION}
            )

    async def account_changed(self, event: dict) -> None:
        """Someone logged out or had their account changed: if it is this socket's person, close.

        The page reconnects by itself, and the new socket speaks as who the person is now.
        """
        if not self.closing and access.concerns(event, self.user, self.session_key):
            self.closing = True  # one session's end may be told twice (a logout, and its session row going)
            await self.send_error(
                protocol.ACCOUNT_CHANGED_ERROR, "You logged out or your account changed; reconnecting as you are now."
            )
            await self.close(code=protocol.CLOSE_ACCOUNT_CHANGED)


class LobbyConsumer(FrameConsumer):
    """The lobby's socket (``ws/lobby/``): the room directory, then each room's changes as they happen."""

    async def connect(self) -> None:
        await self.channel_layer.group_add(LOBBY_GROUP, self.channel_name)
        await self.accept()
        await self.send_frame({"type": protocol.DIRECTORY, "rooms": await services.adirectory()})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(LOBBY_GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page's heartbeat, a ``ping``, gets a ``pong``; any other frame an error."""
        if protocol.is_ping(text_data):
            await self.send_frame(protocol.pong())
        else:
            await self.send_error(protocol.UNKNOWN_TYPE, "The lobby socket only sends; it takes no frames but ping.")

    async def layer_recovered(self, event: dict) -> None:
        """The channel layer is back after an outage: the whole directory again, as it is now."""
        await self.send_frame({"type": protocol.DIRECTORY, "rooms": await services.adirectory()})

    async def directory_room(self, event: dict) -> None:
        """A room's number of people or its last activity changed."""
        await self.send_frame(event | {"type": protocol.ROOM_UPDATE})


class NotFoundConsumer(FrameConsumer):
    """Any WebSocket path with no route: a clear error and a clean close instead of a traceback."""

    async def connect(self) -> None:
        await self.refuse(protocol.NOT_FOUND, f"No WebSocket endpoint at {self.scope['path'][:200]!r}.")
