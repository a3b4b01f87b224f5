"""A `WebsocketCommunicator` for tests about messages: it passes over presence and typing frames."""

import json

from channels.testing import WebsocketCommunicator

# Frames about people rather than messages; the tests of presence read them with the plain communicator.
AMBIENT = {"presence", "typing"}


class ChatCommunicator(WebsocketCommunicator):
    async def receive_json_from(self, timeout: float = 1) -> dict:
        while True:
            frame = await super().receive_json_from(timeout)
            if frame.get("type") not in AMBIENT:
                return frame

    async def receive_nothing(self, timeout: float = 0.1, interval: float = 0.01) -> bool:
        """True if nothing but ambient frames arrives within `timeout`."""
        while not await super().receive_nothing(timeout, interval):
            output = await self.receive_output()
            if output["type"] != "websocket.send" or json.loads(output.get("text") or "{}").get("type") not in AMBIENT:
                self.output_queue.put_nowait(output)  # not ambient: leave it for the test to read
                return False
        return True
