"""The ceiling: a bare `websockets` server that relays each text frame to every client.

Compression is off, as in Daphne (which answers the handshake without
``Sec-WebSocket-Extensions``): with `websockets`' default, permessage-deflate, the
relay would compress every frame for every client, work the servers it is the
ceiling of never do.

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
    async with serve(relay, "127.0.0.1", port, max_queue=None, compression=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
