"""WebSocket consumers: thin edges that parse, call the services and send."""

import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from accounts import names
from accounts.identity import account_key, identify, is_account, new_guest
from chat import access, editing, limits, membership, metrics, protocol, reading, selectors, services
from chat.attendance import Attendance
from chat.cleanup import Cleanup
from chat.delivery import Delivery
from chat.groups import (
    ACCOUNTS_GROUP,
    LOBBIES_GROUP,
    LOBBY_GROUP,
    MENTIONS_GROUP,
    InvalidRoomName,
    clean_room_name,
    room_group_name,
)
from chat.models import Room
from chat.process import process_state

logger = logging.getLogger(__name__)

# What sending raises when the client has just gone: Daphne (through autobahn)
# raises Disconnected; the ASGI spec asks servers for an OSError.
SOCKET_GONE = (Disconnected, OSError)


class FrameConsumer(AsyncWebsocketConsumer):
    """Sends protocol frames, and lets go of what it holds however it ends.

    Whatever `connect` acquires it registers in `cleanup`, released in one call
    whatever ends the consumer: a close, an exception, or the server cancelling it.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cleanup = Cleanup()

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        try:
            if self.channel_layer_alias is None:
                await self.serve(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            # Also when Daphne cancels a consumer that was slow to finish, and disconnect never runs.
            await self.cleanup.run()

    async def serve(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: object) -> None:
        """Channels' consumer loop for a consumer without a channel, minus a task and a wait per message.

        Channels hands each message to `dispatch` through a new task and an
        `asyncio.wait`, so a consumer takes one message per turn of the event
        loop or two, while Daphne reads up to 64 KiB of frames a turn: 8,192 of
        the smallest. A flood then piled up in Daphne's queue however early the
        consumer meant to cut it off (measured: a socket sending ``{}`` without
        pause for 8 s had not had its 31st frame read 3 s after that, and the
        process had grown by 140 MiB). Awaiting `receive` itself takes every
        frame waiting at once, without yielding to the loop: the same socket is
        cut off within a second, and the process grows by 2 to 4 MiB.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def disconnect(self, code: int) -> None:
        await self.cleanup.run()

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

    async def send_error(self, code: str, detail: str, client_id: str | None = None) -> None:
        await self.send_frame(protocol.error(code, detail, client_id))

    async def refuse(self, code: str, detail: str, close_code: int = protocol.CLOSE_NOT_FOUND) -> None:
        """Tell the client why, then close with an application close code rather than a server error."""
        await self.accept()
        await self.send_error(code, detail)
        await self.close(code=close_code)


class LimitedConsumer(FrameConsumer):
    """A client held to its limits: handshakes and sockets per address, frames per socket.

    Every WebSocket path counts against its address's handshakes; `admit_client`
    takes one of the address's sockets and gives the socket its frame allowance;
    `receive` applies it before parsing, and hands each valid frame to `handle`.
    """

    allowance: limits.FrameAllowance | None = None  # set once the client is admitted; None again once closing
    address = "unknown"

    async def websocket_connect(self, message: dict) -> None:
        """Count the handshake against the client's address first, whatever the path; then `connect`."""
        self.address = limits.client_address(self.scope)
        if await self.admit_handshake():
            await super().websocket_connect(message)

    async def admit_handshake(self) -> bool:
        """Whether the client's address may open a socket now; else refuse this one, saying why the first time.

        The first socket refused in a run is accepted to be told why and how
        long to wait, then closed; the others of the run are refused before
        they open (Daphne answers 403): a refused socket that was accepted can
        be sent frames until its closing handshake times out, a second.
        """
        handshakes = self.handshakes()
        if handshakes.take():
            return True
        if handshakes.refusals > 1:
            await self.close()
            return False
        if limits.may_log_about(self.address):
            logger.warning("Refused sockets from %s: it opens them faster than the handshake limit.", self.address)
        await self.accept()
        await self.refuse_for_handshakes(handshakes)
        return False

    async def refuse_for_handshakes(self, handshakes: limits.TokenBucket) -> None:
        """Tell an accepted socket when its address may connect again, and close it (4420)."""
        await self.send_frame(protocol.too_many_handshakes(handshakes.seconds_until_next()))
        await self.close(code=protocol.CLOSE_TOO_MANY_HANDSHAKES)

    def handshakes(self) -> limits.TokenBucket:
        """The bucket of handshakes of this socket's client address (CHAT_HANDSHAKE_RATE, CHAT_HANDSHAKE_BURST)."""
        return limits.handshakes.bucket(self.address, settings.CHAT_HANDSHAKE_RATE, settings.CHAT_HANDSHAKE_BURST)

    async def admit_client(self) -> bool:
        """Hold one of the client address's sockets and give the socket its frame limits; False if refused."""
        address = self.address
        if not limits.connections.acquire(address, settings.CHAT_MAX_CONNECTIONS_PER_IP):
            open_already = limits.connections.open[address]
            if limits.may_log_about(address):
                logger.warning("Refused a socket from %s: it has %d open already.", address, open_already)
            detail = "Too many open connections from your address; close some tabs and try again."
            await self.refuse(protocol.TOO_MANY_CONNECTIONS, detail, protocol.CLOSE_TOO_MANY_CONNECTIONS)
            return False
        self.cleanup.add(functools.partial(limits.connections.release, address))
        metrics.OPEN_SOCKETS.inc()
        self.cleanup.add(metrics.OPEN_SOCKETS.dec)
        self.allowance = limits.FrameAllowance(settings.CHAT_RATE_LIMIT, settings.CHAT_RATE_BURST)
        return True

    # --8<-- [start:receive]
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        allowance = self.allowance
        if allowance is None:
            return  # a refused socket, or one closed for flooding: dropped unread
        # A heartbeat has an allowance of its own, so a page's pings never get its messages refused.
        if protocol.is_ping(text_data) and allowance.ping():
            await self.send_frame(protocol.pong())
            return
        # The rate is checked before the frame is parsed: a refused frame costs no parsing.
        if not allowance.take():
            if allowance.refuse():
                wait = allowance.frames.seconds_until_next()
                client_id = protocol.claimed_client_id(text_data, settings.CHAT_MAX_MESSAGE_LENGTH)
                await self.send_frame(protocol.rate_limited(wait, client_id))
            else:  # it went on sending regardless of being told to wait
                await self.close_for_policy(protocol.FLOODING, "Too many frames after being told to wait; closing.")
            return
        try:
            frame = self.parse(text_data, bytes_data)
        except protocol.ProtocolError as exc:
            await self.send_error(exc.code, exc.detail, exc.client_id)
        else:
            await self.handle(frame)

    # --8<-- [end:receive]

    def parse(self, text_data: str | None, bytes_data: bytes | None) -> protocol.ClientFrame:
        """One frame from the client, checked (`chat.protocol`), or raise `protocol.ProtocolError`."""
        return protocol.parse_client_frame(text_data, bytes_data, settings.CHAT_MAX_MESSAGE_LENGTH)

    async def handle(self, frame: protocol.ClientFrame) -> None:
        """Act on one valid frame from the client, within its rate."""
        raise NotImplementedError

    async def reserve_catch_up(self) -> float | None:
        """Reserve a catch-up's longest cost in handshakes before it is read; None (and refused) if none are left.

        A catch-up longer than the history counts as more handshakes, the unused part given back once
        it is read (`TokenBucket.refund`): catch-ups asked at once, or a reconnect loop with ?after=0,
        wait for the address's budget instead of all being read and sent.
        """
        handshakes = self.handshakes()
        reserved = handshakes.reserve(
            limits.extra_handshakes(settings.CHAT_CATCH_UP_LIMIT, settings.CHAT_HISTORY_LENGTH)
        )
        if reserved is None:
            await self.refuse_for_handshakes(handshakes)
        return reserved

    async def refuse(self, code: str, detail: str, close_code: int = protocol.CLOSE_NOT_FOUND) -> None:
        """`FrameConsumer.refuse`, and what the socket sends until it has gone is dropped unread."""
        self.allowance = None
        await super().refuse(code, detail, close_code)

    async def close_for_policy(self, code: str, detail: str) -> None:
        """Tell the client why and close with CLOSE_POLICY_VIOLATION; what it sends from now on is dropped unread.

        Daphne then reads and throws away, unparsed, what the socket sends until
        the closing handshake is over (`chat.daphne_limits`); a new socket would
        cost a handshake and its frames again. So a client cut off must not come
        straight back: its address's handshake budget is emptied, and its next
        socket waits CHAT_HANDSHAKE_BURST / CHAT_HANDSHAKE_RATE seconds (10).
        Sockets already open from the address are not touched.
        """
        self.allowance = None
        handshakes = self.handshakes()
        handshakes.empty()
        if limits.may_log_about(self.address):
            logger.warning("Closed a socket from %s: %s", self.address, code)
        # retry_after: when its address may open a socket again, so that a page does not try sooner in vain.
        await self.send_frame(protocol.closing_error(code, detail, handshakes.seconds_until_next()))
        await self.close(code=protocol.CLOSE_POLICY_VIOLATION)


class PersonConsumer(LimitedConsumer):
    """A socket of one person: who they are when it opens, and closed when that changes.

    Logging out, or an account's powers changing, sends ``account.changed`` to
    ``people.accounts``; the sockets concerned close with 4001 and the page
    reconnects as who the person is now (`chat.access`).
    """

    closing = False
    user = None
    session_key: str | None = None

    def know_person(self) -> None:
        """Take the person from the socket's scope: its user (anonymous for a guest) and session."""
        self.user = self.scope.get("user")
        self.session_key = getattr(self.scope.get("session"), "session_key", None)

    async def account_changed(self, event: dict) -> None:
        """This socket's person logged out or had their account changed? Close; the page reconnects as them now."""
        if not self.closing and access.concerns(event, self.user, self.session_key):
            self.closing = True  # one session's end may be told twice (a logout, and its session row going)
            self.allowance = None  # what it sends from now on is not for who it was: dropped unread
            await self.send_error(
                protocol.ACCOUNT_CHANGED_ERROR, "You logged out or your account changed; reconnecting as you are now."
            )
            await self.close(code=protocol.CLOSE_ACCOUNT_CHANGED)


FORBIDDEN_DETAIL = "This room is private: only its members can open it."


class ChatConsumer(PersonConsumer):
    """One browser socket in one room (``ws/chat/<room>/?after=<id>``).

    It joins the room's Group through this process's fan-out (`chat.fanout`),
    which calls `group_event` for each event: no channel of its own. Then it
    sends the history (or, with ``after``, what came since) and goes live; what
    the Group delivers reaches the socket in order, each message once
    (`chat.delivery`). Each frame it receives is checked, then saved, published
    and acknowledged.
    """

    channel_layer_alias = None  # no channel: the services reach the layer through get_channel_layer()
    name_hold: names.NameHold | None = None  # a guest's, while the socket is open
    read_up_to = 0  # the highest read mark this socket has passed on (an account's)

    # --8<-- [start:connect]
    async def connect(self) -> None:
        room = await self.admit()
        if room is None or not await self.take_person():
            return
        self.room_group = room_group_name(room.name)
        # Join before reading history: a message saved in between then arrives
        # both ways and the live copy is dropped, where reading first would lose it.
        # Until the history is out, the Group's events wait in the delivery's `held`.
        await self.join_groups()
        if not await self.still_admitted(room):
            return
        await self.accept()
        if not await self.send_first_frames(room.name):
            return
        attendance = Attendance(
            room.name,
            self.socket_id,
            self.person,
            room_kind=services.members_only_kind(room),
            name_hold=self.name_hold,
        )
        self.cleanup.add(attendance.leave)
        await attendance.arrive()

    # --8<-- [end:connect]

    async def take_person(self) -> bool:
        """Who this socket is (`accounts.identity`); a guest then holds their name, or the socket is refused."""
        self.socket_id = uuid.uuid4().hex  # names this socket in presence and typing events
        identified = identify(self.user, self.scope.get("session"), self.scope.get("cookies"))
        # Without a cookie of its own, a socket is a guest of its own (a page always has one), with
        # a made-up name nobody can come back as: it holds none, and no client's name is refused.
        self.person = identified or new_guest()[0]
        self.author = self.person.name
        return identified is None or await self.hold_name()

    async def join_groups(self) -> None:
        """Hear the room, the mentions of this socket's person, and account changes, through the delivery's order."""
        self.delivery = Delivery(
            send_text=self.send_text,
            handle_other=self.dispatch,
            read_between=lambda after, before: selectors.aframes_between(self.room, after, before),
            read_after=lambda after: selectors.acatch_up_frames(self.room, after),
        )
        self.cleanup.add(self.delivery.stop)
        fanout = process_state().fanout
        # Mentions name the people they are for, by key: this socket gets only those naming its person.
        for group, address in ((self.room_group, None), (MENTIONS_GROUP, self.person.key), (ACCOUNTS_GROUP, None)):
            await fanout.join(group, self, address)
            self.cleanup.add(functools.partial(fanout.leave, group, self, address))

    async def send_first_frames(self, room_name: str) -> bool:
        """The history, or with ``?after=<id>`` what came since (if the address may afford it), then go live."""
        try:
            after = protocol.parse_after(self.scope.get("query_string", b""))
        except protocol.ProtocolError as exc:
            await self.send_error(exc.code, exc.detail)
            after = None
        reserved = 0.0 if after is None else await self.reserve_catch_up()
        if reserved is None:
            return False
        self.room, frames = await self.first_frames(room_name, after)
        self.handshakes().refund(reserved - limits.extra_handshakes(len(frames), settings.CHAT_HISTORY_LENGTH))
        # An id beyond the room's newest (a database reset since) must not hide new messages.
        await self.delivery.go_live(frames, after=None if after is None else min(after, self.room.last_message_id))
        return True

    # --8<-- [start:admit]
    async def admit(self) -> Room | None:
        """The room (unsaved if nothing was said in it) if this socket may open it; else refuse it and return None.

        A private room's non-members are refused here, before the socket joins
        any Group or reads anything: no history, catch-up, presence or typing.
        """
        try:
            room_name = clean_room_name(self.scope["url_route"]["kwargs"]["room_name"])
        except InvalidRoomName as exc:
            await self.refuse(protocol.INVALID_ROOM, str(exc))
            return None
        if not await self.admit_client():
            return None
        self.know_person()
        room = await membership.aroom_to_open(room_name, self.user)
        if room is None:
            await self.refuse(protocol.FORBIDDEN, FORBIDDEN_DETAIL, protocol.CLOSE_FORBIDDEN)
        return room

    # --8<-- [end:admit]

    async def still_admitted(self, room: Room) -> bool:
        """A private room asks once more, now that the socket hears ``membership.changed``; else it is refused.

        A removal committed between `admit`'s look and the joins would otherwise
        be missed: its event went out before this socket was there to hear it.
        """
        if room.is_private and not await membership.amay_see(room, self.user):
            await self.refuse(protocol.FORBIDDEN, FORBIDDEN_DETAIL, protocol.CLOSE_FORBIDDEN)
            return False
        return True

    async def hold_name(self) -> bool:
        """Let the socket's person use their name (a guest holds it while the socket is open), or refuse the socket."""
        try:
            self.name_hold = await names.ahold_name(self.person, self.socket_id, process_state().held_names)
        except names.NameTaken as exc:
            await self.refuse(protocol.NAME_TAKEN, str(exc), protocol.CLOSE_NAME_TAKEN)
            return False
        if self.name_hold is not None:
            self.cleanup.add(self.name_hold.release)
        return True

    async def first_frames(self, room_name: str, after: int | None) -> tuple[Room, list[dict]]:
        """The room, and what the socket gets first: the recent history, or what came after id `after`."""
        if after is None:
            # This process's copy of the room's recent history, if it has one it can trust.
            history = process_state().histories.acquire(room_name)
            self.cleanup.add(history.release)
            recent = await history.recent()
            if recent is not None:
                return recent
        return await selectors.aopen_room(room_name, after)

    # --8<-- [start:handle]
    async def handle(self, frame: protocol.ClientFrame) -> None:
        if isinstance(frame, protocol.PingIn):
            await self.send_frame(protocol.pong())  # past its allowance, paid for like any frame
        elif isinstance(frame, protocol.TypingIn):
            await services.apublish_typing(self.room.name, self.author, self.socket_id)
        elif isinstance(frame, protocol.EditMessageIn | protocol.DeleteMessageIn):
            await self.change_message(frame)
        elif isinstance(frame, protocol.HistoryIn):
            messages, complete = await selectors.ahistory_before(self.room, frame.before)
            await self.send_frame(protocol.history(frame.before, messages, complete))
        elif isinstance(frame, protocol.ReadIn):
            await self.mark_read(frame.id)
        else:
            await self.post_message(frame)

    # --8<-- [end:handle]

    async def mark_read(self, message_id: int) -> None:
        """An account's read mark in the room rises (`chat.reading`); a guest's browser keeps its own, so no answer.

        Never past the newest message this socket was sent: a page can't have seen more. A mark
        no higher than this socket's last costs nothing; a higher one, one statement.
        """
        if self.person.user_id is None:
            return
        mark = min(message_id, self.delivery.delivered)
        if mark <= self.read_up_to:
            return
        self.read_up_to = mark
        try:
            await reading.amark_read(self.person.user_id, self.room.name, mark)
        except DatabaseError as exc:  # a mark is a convenience: the page sends a newer one soon
            logger.warning("Could not store a read mark in room %r: %s", self.room.name, exc)

    async def change_message(self, frame: protocol.EditMessageIn | protocol.DeleteMessageIn) -> None:
        """An edit or a deletion, allowed by who the socket's person is now (`chat.editing`)."""
        editor = await editing.aeditor(self.person, self.user, self.session_key)
        try:
            if isinstance(frame, protocol.EditMessageIn):
                await editing.aedit_message(self.room, frame.id, frame.message, editor=editor)
            else:
                await editing.adelete_message_by(self.room, frame.id, editor=editor)
        except protocol.ProtocolError as exc:  # unknown_message, forbidden
            await self.send_error(exc.code, exc.detail)

    async def post_message(self, frame: protocol.ChatMessageIn) -> None:
        try:
            message = await services.apost_message(
                self.room, self.person, frame.message, frame.client_id, client_address=self.address
            )
        except protocol.ProtocolError as exc:  # a new room past the address's allowance
            await self.send_error(exc.code, exc.detail, exc.client_id)
            return
        except DatabaseError as exc:
            logger.error("Could not store a message in room %r: %s", self.room.name, exc)
            detail = "The message could not be stored; nobody got it. Send it again."
            await self.send_error(protocol.NOT_SAVED, detail, frame.client_id)
            return
        if frame.client_id is not None:
            await self.send_frame(protocol.ack(frame.client_id, message.room_message_id))

    # Events of the socket's Groups: the fan-out hands each to `group_event`, and the
    # delivery sends chat messages in order and passes the others to the handlers below.

    async def group_event(self, event: dict, text: str) -> None:
        """An event of one of the socket's Groups, handed over by this process's fan-out (`text`: it encoded)."""
        await self.delivery.event(event, text)

    async def history_changed(self, event: dict) -> None:
        """A stored message was edited: nothing to send (the room's history copy takes note)."""

    async def chat_edit(self, event: dict) -> None:
        await self.send_frame(protocol.edit(event["id"], event["message"], event["edited"]))

    async def chat_delete(self, event: dict) -> None:
        await self.send_frame(protocol.delete(event["id"]))

    async def presence_update(self, event: dict) -> None:
        # An event from a process of the version before kinds has no "people".
        await self.send_frame(protocol.presence(event["users"], event.get("people")))

    async def chat_typing(self, event: dict) -> None:
        if event["socket"] != self.socket_id:
            await self.send_frame(protocol.typing(event["author"]))

    async def chat_mention(self, event: dict) -> None:
        """Someone named people with @name, in this room or another; this socket's person among them?"""
        if self.person.key in event["to"]:
            await self.send_frame(
                {key: value for key, value in event.items() if key != "to"} | {"type": protocol.MENTION}
            )

    async def membership_changed(self, event: dict) -> None:
        """This socket's account left this room, or its role there changed: may it still see the room?

        Only the sockets an event concerns ask the database (one query each), so the
        accounts' hub waits for nothing on the others.
        """
        concerned = not self.closing and membership.concerns(event, self.user, self.room.name)
        if concerned and not await membership.amay_see(self.room, self.user):
            self.closing = True
            self.allowance = None  # no more history or marks for a room it no longer sees
            await self.send_error(protocol.FORBIDDEN, "You are no longer a member of this private room.")
            await self.close(code=protocol.CLOSE_FORBIDDEN)


class LobbyConsumer(PersonConsumer):
    """The lobby's socket (``ws/lobby/``): the room directory, then each room's changes as they happen.

    A private room is listed only to its members: the socket keeps its
    account's private rooms, passes on a members-only room's changes only if
    it is one of them, and lists them afresh when the account's memberships change.
    A signed-in person's lobby also hears their read marks rise (``room.read``),
    through this process's fan-out under their account's key (`chat.reading`).
    """

    private_rooms: dict[str, dict[str, str]] = {}  # name -> title and kind; replaced, never changed in place
    # ``room.read`` events heard while the directory is read, sent after it; None while none is read.
    reads_held: list[dict] | None = None

    async def connect(self) -> None:
        if not await self.admit_client():
            return
        self.know_person()
        groups = [LOBBY_GROUP] + ([ACCOUNTS_GROUP] if self.user is not None and self.user.is_authenticated else [])
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.cleanup.add(functools.partial(self.channel_layer.group_discard, group, self.channel_name))
        if is_account(self.user):
            # Joined before the directory is read, as a room's socket joins before its history: no mark is missed.
            fanout, key = process_state().fanout, account_key(self.user.pk)
            await fanout.join(LOBBIES_GROUP, self, key)
            self.cleanup.add(functools.partial(fanout.leave, LOBBIES_GROUP, self, key))
        await self.accept()
        await self.send_directory()

    async def send_directory(self) -> None:
        """The whole directory as this socket's person may see it now, then the marks that rose while it was read."""
        self.reads_held = []
        try:
            self.private_rooms = await membership.aprivate_rooms_of(self.user)
            rooms = await services.adirectory(self.user)
            await self.send_frame({"type": protocol.DIRECTORY, "rooms": rooms})
        finally:
            held, self.reads_held = self.reads_held, None
        listed = {entry["room"]: entry.get("read", 0) for entry in rooms}
        for event in held:
            if event["read"] > listed.get(event["room"], 0):  # else the directory has it already
                await self.send_frame(protocol.room_read(event["room"], event["read"]))

    async def group_event(self, event: dict, text: str) -> None:
        """A ``room.read`` addressed to this socket's account, handed over by this process's fan-out."""
        if self.reads_held is not None:
            self.reads_held.append(event)
        else:
            await self.send_frame(protocol.room_read(event["room"], event["read"]))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The page's heartbeat, a ``ping`` within its allowance, gets a ``pong``; any other frame closes the socket.

        The lobby's page sends nothing else, so anything else is not a page of ours.
        """
        allowance = self.allowance
        if allowance is None:
            return  # a refused socket, closing
        if not protocol.is_ping(text_data):
            await self.close_for_policy(protocol.UNKNOWN_TYPE, "The lobby socket takes no frames but ping; closing.")
        elif allowance.ping():
            await self.send_frame(protocol.pong())
        else:
            await self.close_for_policy(protocol.FLOODING, "Too many pings; closing.")

    async def layer_recovered(self, event: dict) -> None:
        """The channel layer is back after an outage: the whole directory again, as it is now."""
        await self.send_directory()

    async def directory_room(self, event: dict) -> None:
        """A room's number of people or its last activity changed: passed on if this person may see the room."""
        if "kind" not in event:
            await self.send_frame(event | {"type": protocol.ROOM_UPDATE})
        elif event["room"] in self.private_rooms:
            await self.send_frame(event | self.private_rooms[event["room"]] | {"type": protocol.ROOM_UPDATE})

    async def membership_changed(self, event: dict) -> None:
        """This person joined or left a private room: the directory again, with their rooms as they are now."""
        if not self.closing and membership.concerns(event, self.user):
            await self.send_directory()


class NotFoundConsumer(LimitedConsumer):
    """Any WebSocket path with no route: a clear error and a clean close instead of a traceback."""

    channel_layer_alias = None  # it only answers and closes: no channel to make and forget

    async def connect(self) -> None:
        await self.refuse(protocol.NOT_FOUND, f"No WebSocket endpoint at {self.scope['path'][:200]!r}.")
