import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """One WebSocket in one room.

    Every socket in a room belongs to the Channels group `chat_<room>`. A message a socket
    sends goes to the whole group, the sender included, whichever Daphne process each
    member is connected to: the channel layer (Redis) carries it between processes.
    """

    async def connect(self):
        room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.group_name = f"chat_{room_name}"
        # Join before accepting, so that once the page sees its socket open it gets every message.
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data):
        """A message from this socket's page: pass it on to everyone in the room."""
        message = json.loads(text_data)["message"]
        # "chat.message" makes Channels call chat_message() on each member's consumer.
        await self.channel_layer.group_send(self.group_name, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        """A message sent to the room: show it on this socket's page."""
        await self.send(text_data=json.dumps({"message": event["message"]}))
