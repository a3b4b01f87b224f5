"""The ceiling: a bare `websockets` server that relays each text frame to every client.

``python -m bench.raw_server PORT``
"""

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

clients: set[ServerConnection] = set()


async def relay(websocket: ServerConnection) -> None:
    clients.add(websocket)
    try:
        async for frame in websocket:
            broadcast(clients, frame)
    finally:
        clients.discard(websocket)


async def main(port: int) -> None:
    async with serve(relay, "127.0.0.1", port, max_queue=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
