"""The pages' heartbeat: a ``ping`` gets a ``pong``, in rooms and in the lobby, without spending the rate limit."""

import json
import re

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings

from chat import protocol
from tests.unit.communicator import connect, fence, socket_as
from tests.unit.test_settings import manage

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_ping_is_a_frame_of_its_own() -> None:
    assert protocol.parse_client_frame('{"type": "ping"}', None, 10) == protocol.PingIn()
    assert protocol.pong() == {"type": "pong"}


def test_a_ping_takes_no_fields() -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_client_frame('{"type": "ping", "at": 5}', None, 10)
    assert caught.value.code == protocol.UNKNOWN_FIELD


async def test_a_ping_gets_a_pong_and_nothing_else() -> None:
    ann = await connect()
    listener = await connect()
    await ann.send_json_to({"type": "ping"})
    assert await ann.receive_json_from() == {"type": "pong"}
    await fence("lobby", ann, listener)  # nothing else came to either, the pinger's room included
    await ann.disconnect()
    await listener.disconnect()


@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=3)
async def test_pings_do_not_spend_the_rate_limit_of_messages() -> None:
    ann = await connect()
    for number in range(3):
        await ann.send_json_to({"type": "ping"})
        await ann.send_json_to({"message": f"m{number}"})
    frames = [await ann.receive_json_from() for _ in range(6)]
    assert [f["type"] for f in frames] == ["pong", "chat.message"] * 3
    await ann.disconnect()


@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=3)
async def test_a_flood_of_pings_is_limited_like_any_frame_past_its_allowance() -> None:
    flooder = await connect()
    for _ in range(10):
        await flooder.send_json_to({"type": "ping"})
    frames = [await flooder.receive_json_from() for _ in range(10)]
    # Three from the pings' own allowance, three from the socket's burst, the rest refused.
    assert [f["type"] for f in frames] == ["pong"] * 6 + ["error"] * 4
    assert {f["code"] for f in frames[6:]} == {"rate_limited"}
    await flooder.disconnect()


async def test_the_lobby_answers_a_ping_and_closes_on_anything_else() -> None:
    lobby = await socket_as("Zoe", "/ws/lobby/")
    assert (await lobby.receive_json_from())["type"] == "directory"
    await lobby.send_json_to({"type": "ping"})
    assert await lobby.receive_json_from() == {"type": "pong"}
    await lobby.send_json_to({"message": "hi"})
    assert (await lobby.receive_json_from())["code"] == "unknown_type"
    assert await lobby.receive_output() == {"type": "websocket.close", "code": protocol.CLOSE_POLICY_VIOLATION}
    await lobby.disconnect()


@override_settings(CHAT_CLIENT_HEARTBEAT=7.5, CHAT_RATE_LIMIT=4.0, CHAT_RATE_BURST=8)
def test_pages_tell_their_script_the_heartbeat_and_the_rate_limit(client: Client) -> None:
    room = client.get("/chat/physics/")
    assert json.loads(socket_settings(room)) == {"heartbeat": 7.5, "rate": 4.0, "burst": 8}
    lobby = client.get("/chat/")
    assert json.loads(socket_settings(lobby)) == {"heartbeat": 7.5}


def socket_settings(response: HttpResponse) -> str:
    found = re.search(r'<script id="socket-settings" type="application/json">(.*?)</script>', response.text)
    assert found, "no #socket-settings on the page"
    return found.group(1)


@pytest.mark.parametrize("value", ["0.5", "soon"])
def test_a_heartbeat_under_a_second_is_refused(value: str) -> None:
    result = manage("check", DJANGO_DEBUG="1", CHAT_CLIENT_HEARTBEAT=value)
    assert result.returncode != 0
    assert "CHAT_CLIENT_HEARTBEAT must be" in result.stderr


def test_a_heartbeat_of_zero_switches_it_off() -> None:
    result = manage("check", DJANGO_DEBUG="1", CHAT_CLIENT_HEARTBEAT="0")
    assert result.returncode == 0, result.stderr
