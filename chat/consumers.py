"""WebSocket consumers: thin edges that parse, call the services and send."""

import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import protocol, services
from chat.groups import InvalidRoomName, clean_room_name, room_group_name
from chat.identity import display_name, new_guest_name

logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    """One browser socket in one room (``ws/chat/<room>/``).

    On connect it joins the room's Group, then sends the room's recent history.
    Each frame it receives is saved and fanned out to the Group; each event the
    Group delivers is written to the socket.
    """

    room_group: str | None = None

    async def connect(self) -> None:
        try:
            room_name = clean_room_name(self.scope["url_route"]["kwargs"]["room_name"])
        except InvalidRoomName as exc:
            await self.refuse(protocol.INVALID_ROOM, str(exc))
            return
        self.author = display_name(self.scope.get("user"), self.scope.get("session")) or new_guest_name()
        self.room = await services.aget_or_create_room(room_name)
        self.room_group = room_group_name(room_name)
        # Join before reading history: a message saved in between then arrives
        # both ways, and `chat_message` drops the copy, where reading first
        # would lose it.
        await self.channel_layer.group_add(self.room_group, self.channel_name)
        await self.accept()
        history = await services.arecent_messages(self.room)
        for message in history:
            await self.send_frame(services.message_frame(message))
        self.newest_in_history = history[-1].room_message_id if history else 0

    async def disconnect(self, code: int) -> None:
        if self.room_group:
            await self.channel_layer.group_discard(self.room_group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = protocol.parse_client_frame(text_data, bytes_data, settings.CHAT_MAX_MESSAGE_LENGTH)
        except protocol.ProtocolError as exc:
            await self.send_frame(protocol.error(exc.code, exc.detail))
            return
        await services.apost_message(self.room, self.author, frame.message)

    async def chat_message(self, event: dict) -> None:
        """A message said in the room, delivered through the Group."""
        if event["id"] <= self.newest_in_history:
            return
        await self.send_frame(event)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=protocol.encode(frame))

    async def refuse(self, code: str, detail: str) -> None:
        """Tell the client why, then close with an application close code rather than a server error."""
        await self.accept()
        await self.send_frame(protocol.error(code, detail))
        await self.close(code=protocol.CLOSE_NOT_FOUND)


class NotFoundConsumer(ChatConsumer):
    """Any WebSocket path with no route: a clear error and a clean close instead of a traceback."""

    async def connect(self) -> None:
        await self.refuse(protocol.NOT_FOUND, f"No WebSocket endpoint at {self.scope['path'][:200]!r}.")
