"""Health endpoints for load balancers and orchestrators.

``/healthz``: the process is up. ``/readyz``: it can do its work: the database
answers and a message makes the round trip through the channel layer.
"""

import asyncio

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

CHECK_TIMEOUT_SECONDS = 2


@database_sync_to_async
def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "down"
    return "ok"


async def channel_layer_status() -> str:
    layer = get_channel_layer()
    if getattr(layer, "recovering", False):
        return "down"
    try:
        channel = await layer.new_channel()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await layer.send(channel, {"type": "health.ping"})
                await layer.receive(channel)
        finally:
            if hasattr(layer, "forget_channel"):  # the Redis layer keeps what comes for a channel in use
                layer.forget_channel(channel)
    except Exception as exc:  # a timeout, redis-py's connection errors, a full channel: all mean not ready
        return f"down: {type(exc).__name__}"
    return "ok"


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


async def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": await database_status(), "channel_layer": await channel_layer_status()}
    ready = all(status == "ok" for status in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
