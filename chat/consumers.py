"""WebSocket consumers: thin edges that parse, call the services and send."""

import asyncio
import logging
import uuid

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from chat import access, limits, metrics, presence, protocol, services
from chat.fanout import local_fanout
from chat.groups import ACCOUNTS_GROUP, LOBBY_GROUP, MENTIONS_GROUP, InvalidRoomName, clean_room_name, room_group_name
from chat.history import RoomHistory, histories
from chat.identity import display_name, new_guest_name
from chat.layers import LAYER_RECOVERED
from chat.models import Message

logger = logging.getLogger(__name__)

# What sending raises when the client has just gone: Daphne (through autobahn)
# raises Disconnected; the ASGI spec asks servers for an OSError.
SOCKET_GONE = (Disconnected, OSError)

# Group events one socket keeps while the database answers; older ones are dropped.
HELD_EVENTS_LIMIT = 1000

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


class ChatConsumer(FrameConsumer):
    """One browser socket in one room (``ws/chat/<room>/?after=<id>``).

    On connect it joins the room's Group, then sends history: the recent
    messages, or with ``after`` everything newer than that id. Each frame it
    receives is checked, saved, acknowledged and fanned out to the Group. Each
    message the Group delivers goes to the socket in id order, once:
    `delivered` is the newest id this socket has, and a hole below a new id is
    filled from the database first.

    The socket joins its Groups through this process's fan-out (`chat.fanout`):
    the process is the Group's member and calls `group_event` for each event,
    so the consumer needs no channel of its own.
    """

    # Channels gives a consumer no channel when its alias names no layer; the
    # services still reach the layer itself through get_channel_layer().
    channel_layer_alias = None
    room_group: str | None = None
    client_address: str | None = None
    heartbeat: asyncio.Task | None = None
    history: RoomHistory | None = None
    catching_up: asyncio.Task | None = None
    counted_open = False
    closing = False
    delivered = 0
    # Group events (with their text) waiting while history or a hole is read from the database; None once live.
    held: list[tuple[dict, str]] | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.socket_id = uuid.uuid4().hex  # names this socket in presence and typing events

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
        try:
            room_name = clean_room_name(self.scope["url_route"]["kwargs"]["room_name"])
        except InvalidRoomName as exc:
            await self.refuse(protocol.INVALID_ROOM, str(exc))
            return
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
            return
        self.client_address = address
        self.rate = limits.TokenBucket(settings.CHAT_RATE_LIMIT, settings.CHAT_RATE_BURST)
        self.pings = limits.TokenBucket(PING_RATE, PING_BURST)
        self.user = self.scope.get("user")
        self.author = display_name(self.user, self.scope.get("session")) or new_guest_name()
        self.room_group = room_group_name(room_name)
        # Join before reading history: a message saved in between then arrives
        # both ways and the live copy is dropped, where reading first would lose it.
        # Until the history is out, the Group's events wait in `held`.
        self.held = []
        for group in self.fanout_groups():
            await local_fanout().join(group, self)
        await self.accept()
        metrics.OPEN_SOCKETS.inc()
        self.counted_open = True
        try:
            after = protocol.parse_after(self.scope.get("query_string", b""))
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.error(exc.code, exc.detail))
            after = None
        recent = None
        if after is None:
            # This process's copy of the room's recent history, if it has one it can trust.
            self.history = histories().acquire(room_name)
            recent = await self.history.recent()
        if recent is None:
            self.room, messages = await services.aopen_room(room_name, after)
            recent = self.room, [services.message_frame(message) for message in messages]
        self.room, frames = recent
        if after is not None:
            # An id beyond the room's newest (a database reset since) must not hide new messages.
            self.delivered = min(after, self.room.last_message_id)
        await self.deliver_frames(frames)
        await self.release_held()
        await self.be_present()
        self.heartbeat = asyncio.create_task(self.stay_present())

    # --8<-- [end:connect]

    def fanout_groups(self) -> tuple[str, ...]:
        """The Groups this socket hears: its room's, the mentions', and the accounts' (see `account_changed`)."""
        return (self.room_group, MENTIONS_GROUP, ACCOUNTS_GROUP)

    @property
    def session_key(self) -> str | None:
        session = self.scope.get("session")
        return session.session_key if session is not None else None

    async def disconnect(self, code: int) -> None:
        if self.catching_up is not None:
            self.catching_up.cancel()
        if self.history is not None:
            await self.history.release()
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            await presence.safely(presence.store().remove(self.room.name, self.socket_id, self.author), None)
            await services.apublish_presence(self.room.name)
        if self.client_address is not None:
            limits.connections.release(self.client_address)
        if self.room_group is not None:
            for group in self.fanout_groups():
                await local_fanout().leave(group, self)
        if self.counted_open:
            metrics.OPEN_SOCKETS.dec()  # last: the gauge falls once everything else is released

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
        elif not await services.adelete_message(self.room, message_id):
            await self.send_error(protocol.UNKNOWN_MESSAGE, f"This room has no message {message_id}.")

    async def is_staff_now(self) -> bool:
        """Asked of the database, not of the socket's user: staff at connect may have logged out since."""
        if self.user is None or not self.user.is_staff:
            return False
        return (await access.acurrent_user(self.session_key)).is_staff

    async def group_event(self, event: dict, text: str) -> None:
        """An event of the room's or the person's Group, handed over by this process's fan-out.

        `text` is the event encoded once for all sockets: a ``chat.message``
        event is its own frame. Called for each socket in turn, so it must not
        wait on the database: an event that needs it (a hole to fill, a
        catch-up) starts a task, and the events after it wait in `held` until
        that task has sent them.
        """
        if self.held is not None:
            self.held.append((event, text))
            if len(self.held) > HELD_EVENTS_LIMIT:
                # A socket stuck that long loses no message by this: a later id finds the hole.
                del self.held[0]
        elif event["type"] == LAYER_RECOVERED or (
            event["type"] == protocol.CHAT_MESSAGE and event["id"] > self.delivered + 1
        ):
            self.held = [(event, text)]
            self.catching_up = asyncio.create_task(self.release_held())
        else:
            await self.handle(event, text)

    async def handle(self, event: dict, text: str) -> None:
        if event["type"] == protocol.CHAT_MESSAGE:
            await self.chat_message(event, text)  # the busy path, without a handler lookup
        else:
            await self.dispatch(event)

    async def release_held(self) -> None:
        """Handle the held events in order, then take the Group's events as they come."""
        try:
            while self.held:
                await self.handle(*self.held.pop(0))
        except DatabaseError as exc:
            # The held messages stay in the database; the next catch-up (a reconnect) gets them.
            logger.error("Could not read missed messages of room %r: %s", self.room.name, exc)
        self.held = None

    # --8<-- [start:chat-message]
    async def chat_message(self, event: dict, text: str | None = None) -> None:
        """A message said in the room, delivered through the Group (`text`: the event encoded)."""
        message_id = event["id"]
        if message_id <= self.delivered:
            return
        if message_id > self.delivered + 1:
            # Lost on the way (a full queue) or overtaken by a later one from
            # another process; either way it is in the database by now.
            await self.deliver(await services.amessages_between(self.room, self.delivered, message_id))
        await self.send_text(text or protocol.encode(event))
        self.delivered = message_id

    # --8<-- [end:chat-message]

    async def history_changed(self, event: dict) -> None:
        """A stored message was edited: nothing to send (the room's history copy takes note)."""

    async def chat_delete(self, event: dict) -> None:
        """A moderator deleted a message of the room."""
        await self.send_frame(protocol.delete(event["id"]))

    async def be_present(self) -> None:
        """Refresh this socket's presence entry; tell the room when entries changed."""
        dropped = await presence.safely(presence.store().touch(self.room.name, self.socket_id, self.author), 0)
        if dropped or self.heartbeat is None:
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

    async def layer_recovered(self, event: dict) -> None:
        """The channel layer is back after an outage: send what was said meanwhile."""
        await self.deliver(
            await services.arecent_messages(self.room, limit=settings.CHAT_CATCH_UP_LIMIT, after=self.delivered)
        )

    async def deliver(self, messages: list[Message]) -> None:
        """Send stored messages (oldest first) that this socket doesn't have yet."""
        await self.deliver_frames([services.message_frame(message) for message in messages])

    async def deliver_frames(self, frames: list[dict]) -> None:
        """Send ``chat.message`` frames (oldest first) that this socket doesn't have yet."""
        for frame in frames:
            if frame["id"] > self.delivered:
                await self.send_frame(frame)
                self.delivered = frame["id"]

    async def refuse(self, code: str, detail: str, close_code: int = protocol.CLOSE_NOT_FOUND) -> None:
        """Tell the client why, then close with an application close code rather than a server error."""
        await self.accept()
        await self.send_error(code, detail)
        await self.close(code=close_code)


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


class NotFoundConsumer(ChatConsumer):
    """Any WebSocket path with no route: a clear error and a clean close instead of a traceback."""

    async def connect(self) -> None:
        await self.refuse(protocol.NOT_FOUND, f"No WebSocket endpoint at {self.scope['path'][:200]!r}.")
