"""Refusals name what they refuse: the ``client_id`` of the message, and for the rate how long to wait."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import override_settings

from chat import protocol
from chat.models import Message
from tests.unit.communicator import connect

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def stored_texts(room: str = "lobby") -> list[str]:
    return list(Message.objects.filter(room__name=room).order_by("room_message_id").values_list("text", flat=True))


def test_the_rate_limited_frame_says_which_message_and_how_long() -> None:
    frame = protocol.rate_limited(0.2, "c7")
    assert frame["type"] == "error"
    assert frame["code"] == "rate_limited"
    assert frame["client_id"] == "c7"
    assert frame["retry_after"] >= 0.2
    assert frame["retry_after"] <= 0.201
    assert "0.2" in frame["detail"]


def test_the_wait_is_never_zero_and_names_no_message_without_a_client_id() -> None:
    frame = protocol.rate_limited(0.0000001)
    assert frame["retry_after"] > 0
    assert "client_id" not in frame


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"message": "x" * 31, "client_id": "c9"}, protocol.MESSAGE_TOO_LONG),
        ({"message": " ", "client_id": "c9"}, protocol.EMPTY_MESSAGE),
        ({"message": "bell\u0007", "client_id": "c9"}, protocol.INVALID_CHARACTERS),
        ({"message": 5, "client_id": "c9"}, protocol.INVALID_FIELD),
        ({"client_id": "c9"}, protocol.MISSING_FIELD),
        ({"message": "hi", "colour": "red", "client_id": "c9"}, protocol.UNKNOWN_FIELD),
    ],
)
def test_a_refused_message_keeps_its_client_id(frame: dict, code: str) -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_client_frame(json.dumps(frame), None, 30)
    assert caught.value.code == code
    assert caught.value.client_id == "c9"


@pytest.mark.parametrize("client_id", ["has space", 7, ""])
def test_a_client_id_that_breaks_its_rules_is_named_nowhere(client_id: object) -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_client_frame(json.dumps({"message": "x" * 31, "client_id": client_id}), None, 30)
    assert caught.value.client_id is None


@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=3)
async def test_a_flood_refusal_names_each_refused_message_and_the_wait() -> None:
    sender = await connect()
    for number in range(6):
        await sender.send_json_to({"message": f"m{number}", "client_id": f"c{number}"})
    await sender.send_json_to({"type": "typing"})
    frames = [await sender.receive_json_from() for _ in range(3 * 2 + 3 + 1)]
    refused = [f for f in frames if f["type"] == "error"]
    assert [f["code"] for f in refused] == ["rate_limited"] * 4
    assert [f.get("client_id") for f in refused] == ["c3", "c4", "c5", None]
    for frame in refused:
        assert isinstance(frame["retry_after"], float)
        assert 0 < frame["retry_after"] <= 1.001
    assert await stored_texts() == ["m0", "m1", "m2"]
    await sender.disconnect()


@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=1)
async def test_past_the_limit_frames_are_refused_before_they_are_parsed() -> None:
    # Parsing costs more than refusing: a flood of frames built to be slow to parse gets only refusals.
    sender = await connect()
    await sender.send_json_to({"message": "first", "client_id": "first"})
    assert (await sender.receive_json_from())["type"] in {"ack", "chat.message"}
    await sender.send_to(text_data="[" * 500 + "not json")
    refusal = await sender.receive_json_from()
    while refusal["type"] != "error":
        refusal = await sender.receive_json_from()
    assert refusal["code"] == "rate_limited"
    await sender.disconnect()


@override_settings(CHAT_RATE_LIMIT=20.0, CHAT_RATE_BURST=1)
async def test_a_refused_message_sent_again_after_the_wait_is_stored() -> None:
    sender = await connect()
    await sender.send_json_to({"message": "first", "client_id": "a"})
    await sender.send_json_to({"message": "second", "client_id": "b"})
    frames = [await sender.receive_json_from() for _ in range(3)]
    refusal = next(f for f in frames if f["type"] == "error")
    assert refusal["client_id"] == "b"
    await asyncio.sleep(refusal["retry_after"])
    await sender.send_json_to({"message": "second", "client_id": "b"})
    frames = [await sender.receive_json_from() for _ in range(2)]
    assert {"type": "ack", "client_id": "b", "id": 2} in frames
    assert await stored_texts() == ["first", "second"]
    await sender.disconnect()


async def test_an_invalid_message_with_a_client_id_is_refused_by_name() -> None:
    sender = await connect()
    await sender.send_json_to({"message": "", "client_id": "c1"})
    assert await sender.receive_json_from() == {
        "type": "error",
        "code": "empty_message",
        "detail": "The message is empty.",
        "client_id": "c1",
    }
    await sender.send_json_to({"message": ""})
    assert "client_id" not in await sender.receive_json_from()
    await sender.disconnect()


@database_sync_to_async
def refuse_message_inserts(refused: bool) -> None:
    with connection.cursor() as cursor:
        if refused:
            cursor.execute(
                "CREATE TRIGGER refuse_all_messages BEFORE INSERT ON chat_message "
                "BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
            )
        else:
            cursor.execute("DROP TRIGGER refuse_all_messages")


async def test_a_message_the_database_refuses_is_named_in_not_saved() -> None:
    sender = await connect()
    await refuse_message_inserts(True)
    try:
        await sender.send_json_to({"message": "lost?", "client_id": "c1"})
        frame = await sender.receive_json_from()
    finally:
        await refuse_message_inserts(False)
    assert frame["code"] == "not_saved"
    assert frame["client_id"] == "c1"
    await sender.disconnect()
