"""A whole class in one room across two Daphne processes: every message reaches everyone, once, in order."""

import asyncio
import json
from urllib.parse import quote

import pytest
from pytest_channels_live import DaphneCluster, DaphneServer
from websockets.asyncio.client import ClientConnection, connect

LISTENERS = 100
SENDERS = 2
MESSAGES_PER_SENDER = 100
TOTAL = SENDERS * MESSAGES_PER_SENDER


async def open_socket(server: DaphneServer, room: str) -> ClientConnection:
    return await connect(server.ws_url(f"/ws/chat/{quote(room)}/"), origin=server.origin, max_queue=None)


async def collect_ids(ws: ClientConnection) -> list[int]:
    ids: list[int] = []
    while len(ids) < TOTAL:
        frame = json.loads(await ws.recv())
        if frame["type"] == "chat.message":
            ids.append(frame["id"])
    return ids


async def send_paced_by_acks(ws: ClientConnection, name: str) -> None:
    """Send one message at a time, each after the server acknowledged the one before, as the page does."""
    for number in range(MESSAGES_PER_SENDER):
        client_id = f"{name}-{number}"
        await ws.send(json.dumps({"message": f"{name} {number}", "client_id": client_id}))
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "ack" and frame["client_id"] == client_id:
                break


async def class_conversation(cluster: DaphneCluster, room: str) -> list[list[int]]:
    listeners = [await open_socket(cluster[index % 2], room) for index in range(LISTENERS)]
    senders = [await open_socket(cluster[index % 2], room) for index in range(SENDERS)]
    try:
        collecting = [asyncio.create_task(collect_ids(ws)) for ws in listeners]
        async with asyncio.timeout(90):
            await asyncio.gather(*(send_paced_by_acks(ws, f"sender{index}") for index, ws in enumerate(senders)))
            return await asyncio.gather(*collecting)
    finally:
        await asyncio.gather(*(ws.close() for ws in listeners + senders))


@pytest.mark.server_databases("postgres")  # fan-out to a class is the point (ids: both, below)
def test_100_clients_on_two_processes_get_200_messages_each_exactly_once_in_order(
    load_cluster: DaphneCluster, room_name: str
) -> None:
    received = asyncio.run(class_conversation(load_cluster, room_name))
    assert len(received) == LISTENERS
    for ids in received:
        assert ids == list(range(1, TOTAL + 1))


# Many people typing at once: every sender has all its messages in flight together.
CONCURRENT_SENDERS = 40
BURST = 5


async def send_burst_and_collect_acks(ws: ClientConnection, name: str) -> list[int]:
    """Send every message without waiting, then the ids the server acknowledged them with."""
    client_ids = [f"{name}-{number}" for number in range(BURST)]
    for client_id in client_ids:
        await ws.send(json.dumps({"message": f"{client_id} says hi", "client_id": client_id}))
    acked: dict[str, int] = {}
    while len(acked) < BURST:
        frame = json.loads(await ws.recv())
        if frame["type"] == "ack":
            acked[frame["client_id"]] = frame["id"]
    assert sorted(acked) == sorted(client_ids)
    return list(acked.values())


async def crowd_sends_at_once(cluster: DaphneCluster, room: str) -> tuple[list[list[int]], list[list[int]]]:
    """Senders on both processes all at once; returns each sender's acked ids and what each listener received."""
    total = CONCURRENT_SENDERS * BURST
    listeners = [await open_socket(server, room) for server in cluster]
    senders = [await open_socket(cluster[index % 2], room) for index in range(CONCURRENT_SENDERS)]

    async def collect(ws: ClientConnection) -> list[int]:
        ids: list[int] = []
        while len(ids) < total:
            frame = json.loads(await ws.recv())
            if frame["type"] == "chat.message":
                ids.append(frame["id"])
        return ids

    try:
        collecting = [asyncio.create_task(collect(ws)) for ws in listeners]
        async with asyncio.timeout(90):
            acked = await asyncio.gather(
                *(send_burst_and_collect_acks(ws, f"sender{index}") for index, ws in enumerate(senders))
            )
            return acked, await asyncio.gather(*collecting)
    finally:
        await asyncio.gather(*(ws.close() for ws in listeners + senders))


def test_message_ids_stay_gapless_and_unique_with_many_senders_on_two_processes(
    load_cluster: DaphneCluster, room_name: str
) -> None:
    acked, received = asyncio.run(crowd_sends_at_once(load_cluster, room_name))
    every_id = list(range(1, CONCURRENT_SENDERS * BURST + 1))
    assert sorted(id_ for ids in acked for id_ in ids) == every_id  # each message its own id, no holes
    for ids in received:
        assert ids == every_id  # both processes deliver them all, once, in id order
