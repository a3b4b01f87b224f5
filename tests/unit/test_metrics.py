import pytest
from django.test import AsyncClient

from mysite.asgi import application
from tests.unit.communicator import HOST, ORIGIN, ChatCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


async def test_metrics_count_sockets_messages_and_group_sends(async_client: AsyncClient) -> None:
    async def read(line_start: str) -> float:
        response = await async_client.get("/metrics")
        assert response["Content-Type"].startswith("text/plain")
        lines = response.content.decode().splitlines()
        return float(next(line.rsplit(" ", 1)[1] for line in lines if line.startswith(line_start)))

    sockets, messages = await read("chat_open_sockets"), await read('chat_messages_total{kind="user"}')
    sends = await read("chat_group_send_seconds_count")
    ann = ChatCommunicator(application, "/ws/chat/lobby/", headers=[ORIGIN, HOST])
    assert (await ann.connect())[0]
    assert await read("chat_open_sockets") == sockets + 1
    await ann.send_json_to({"message": "hi"})
    await ann.receive_json_from()
    assert await read('chat_messages_total{kind="user"}') == messages + 1
    assert await read("chat_group_send_seconds_count") == sends + 1
    await ann.disconnect()
    assert await read("chat_open_sockets") == sockets
