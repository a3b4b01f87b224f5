import json
from datetime import UTC, datetime

import pytest

from chat import protocol
from chat.protocol import ProtocolError, parse_client_frame

LIMIT = 30


def parse(text: str | None, bytes_data: bytes | None = None) -> protocol.ChatMessageIn:
    return parse_client_frame(text, bytes_data, LIMIT)


def test_tutorial_frame_is_a_chat_message() -> None:
    assert parse('{"message": "hello"}').message == "hello"


def test_type_may_be_given_explicitly() -> None:
    assert parse('{"type": "chat.message", "message": "hi"}').message == "hi"


def test_message_keeps_its_text_exactly() -> None:
    text = "  <b>café</b>\n\tline two  "
    assert parse(json.dumps({"message": text})).message == text


@pytest.mark.parametrize(
    ("text", "bytes_data", "code"),
    [
        (None, b"\x00\x01", protocol.BINARY_NOT_SUPPORTED),
        ("{not json", None, protocol.INVALID_JSON),
        ("", None, protocol.INVALID_JSON),
        ('["message", "hi"]', None, protocol.INVALID_FRAME),
        ('"hi"', None, protocol.INVALID_FRAME),
        ("null", None, protocol.INVALID_FRAME),
        ('{"type": "shout", "message": "hi"}', None, protocol.UNKNOWN_TYPE),
        ('{"type": 5, "message": "hi"}', None, protocol.UNKNOWN_TYPE),
        ('{"message": "hi", "colour": "red"}', None, protocol.UNKNOWN_FIELD),
        ("{}", None, protocol.MISSING_FIELD),
        ('{"message": 5}', None, protocol.INVALID_FIELD),
        ('{"message": null}', None, protocol.INVALID_FIELD),
        ('{"message": ["hi"]}', None, protocol.INVALID_FIELD),
        ('{"message": ""}', None, protocol.EMPTY_MESSAGE),
        ('{"message": " \\n\\t "}', None, protocol.EMPTY_MESSAGE),
        (json.dumps({"message": "x" * (LIMIT + 1)}), None, protocol.MESSAGE_TOO_LONG),
        ('{"message": "bell\\u0007"}', None, protocol.INVALID_CHARACTERS),
        ('{"message": "nul\\u0000"}', None, protocol.INVALID_CHARACTERS),
        ("x" * (LIMIT * 12 + 257), None, protocol.FRAME_TOO_LARGE),
    ],
)
def test_bad_frames_get_a_stable_code(text: str | None, bytes_data: bytes | None, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(text, bytes_data)
    assert caught.value.code == code
    assert caught.value.detail


@pytest.mark.parametrize(
    "text",
    [
        "\N{GRINNING FACE}" * 1100,  # 13,235 characters once escaped, as json.dumps does by default
        "\N{GRINNING FACE}" * 2000,  # 12 characters each once escaped
        "\N{GREEK SMALL LETTER ALPHA}" * 2000,  # 6 characters each
        "x" * 2000,
    ],
)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_a_message_within_the_limit_is_accepted_in_any_json_escaping(text: str, ensure_ascii: bool) -> None:
    frame = json.dumps({"message": text, "client_id": "k" * 64}, ensure_ascii=ensure_ascii)
    assert parse_client_frame(frame, None, 2000).message == text


def test_message_at_the_limit_is_accepted() -> None:
    assert parse(json.dumps({"message": "x" * LIMIT})).message == "x" * LIMIT


def test_chat_message_frame_has_the_documented_fields() -> None:
    created = datetime(2026, 11, 25, 12, 30, 5, 123456, tzinfo=UTC)
    frame = protocol.chat_message(7, "hi", "ann", created)
    assert frame == {
        "type": "chat.message",
        "id": 7,
        "message": "hi",
        "author": "ann",
        "created": "2026-11-25T12:30:05.123Z",
        "kind": "user",
        "author_kind": "guest",
        "edited": None,
        "sender": "",
    }


def test_error_frame() -> None:
    assert protocol.error("invalid_json", "bad") == {"type": "error", "code": "invalid_json", "detail": "bad"}


def test_encode_keeps_unicode_readable() -> None:
    assert protocol.encode({"message": "café"}) == '{"message":"café"}'


def test_a_client_id_may_come_with_a_message() -> None:
    frame = parse('{"message": "hi", "client_id": "a1-B_2"}')
    assert (frame.message, frame.client_id) == ("hi", "a1-B_2")
    assert parse('{"message": "hi"}').client_id is None
    assert parse('{"message": "hi", "client_id": null}').client_id is None


@pytest.mark.parametrize("client_id", ["", "x" * 65, "has space", 5, ["a"], "é"])
def test_a_bad_client_id_is_refused(client_id: object) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(json.dumps({"message": "hi", "client_id": client_id}))
    assert caught.value.code == protocol.INVALID_FIELD


@pytest.mark.parametrize(("query", "after"), [(b"", None), (b"after=0", 0), (b"after=42", 42), (b"x=1&after=7", 7)])
def test_after_is_read_from_the_query_string(query: bytes, after: int | None) -> None:
    assert protocol.parse_after(query) == after


@pytest.mark.parametrize("query", [b"after=", b"after=-1", b"after=abc", b"after=1.5", b"after=" + b"9" * 19])
def test_a_bad_after_is_refused(query: bytes) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_after(query)
    assert caught.value.code == protocol.INVALID_QUERY


def test_ack_frame() -> None:
    assert protocol.ack("abc", 7) == {"type": "ack", "client_id": "abc", "id": 7}


def test_a_delete_frame() -> None:
    assert parse('{"type": "delete", "id": 7}') == protocol.DeleteMessageIn(id=7)


def test_an_edit_frame() -> None:
    assert parse('{"type": "edit", "id": 7, "message": " fixed "}') == protocol.EditMessageIn(id=7, message=" fixed ")


def test_an_edit_is_checked_like_a_message() -> None:
    # The same length limit as a chat.message: an edit can't make a message longer than one could be said.
    assert parse(json.dumps({"type": "edit", "id": 1, "message": "x" * LIMIT})).message == "x" * LIMIT
    with pytest.raises(ProtocolError) as caught:
        parse(json.dumps({"type": "edit", "id": 1, "message": "x" * (LIMIT + 1)}))
    assert caught.value.code == protocol.MESSAGE_TOO_LONG


def test_the_edit_and_delete_server_frames() -> None:
    assert protocol.edit(7, "fixed", "2026-01-01T00:00:00.000Z") == {
        "type": "edit",
        "id": 7,
        "message": "fixed",
        "edited": "2026-01-01T00:00:00.000Z",
    }
    assert protocol.delete(7) == {"type": "delete", "id": 7}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": "edit", "message": "x"}', protocol.MISSING_FIELD),
        ('{"type": "edit", "id": 7}', protocol.MISSING_FIELD),
        ('{"type": "edit", "id": 7, "message": "x", "client_id": "c1"}', protocol.UNKNOWN_FIELD),
        ('{"type": "edit", "id": "7", "message": "x"}', protocol.INVALID_FIELD),
        ('{"type": "edit", "id": 0, "message": "x"}', protocol.INVALID_FIELD),
        ('{"type": "edit", "id": 7, "message": 5}', protocol.INVALID_FIELD),
        ('{"type": "edit", "id": 7, "message": "  "}', protocol.EMPTY_MESSAGE),
        ('{"type": "edit", "id": 7, "message": "bell \\u0007"}', protocol.INVALID_CHARACTERS),
        ('{"type": "delete"}', protocol.MISSING_FIELD),
        ('{"type": "delete", "id": 7, "message": "x"}', protocol.UNKNOWN_FIELD),
        ('{"type": "delete", "id": "7"}', protocol.INVALID_FIELD),
        ('{"type": "delete", "id": 0}', protocol.INVALID_FIELD),
        ('{"type": "delete", "id": -3}', protocol.INVALID_FIELD),
        ('{"type": "delete", "id": 1.5}', protocol.INVALID_FIELD),
        ('{"type": "delete", "id": true}', protocol.INVALID_FIELD),
        ('{"message": "half a pair \\ud800"}', protocol.INVALID_CHARACTERS),
        ("[" * 13000 + "]" * 13000, protocol.FRAME_TOO_LARGE),
        ('{"a": ' * 4000 + "1" + "}" * 4000, protocol.FRAME_TOO_LARGE),
    ],
)
def test_more_bad_frames(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(text, None, 2000)
    assert caught.value.code == code


def test_history_and_read_frames() -> None:
    assert parse('{"type": "history", "before": 51}') == protocol.HistoryIn(before=51)
    assert parse('{"type": "read", "id": 70}') == protocol.ReadIn(id=70)
    assert parse(json.dumps({"type": "read", "id": protocol.MAX_ID})) == protocol.ReadIn(id=2**63 - 1)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "history"}, protocol.MISSING_FIELD),
        ({"type": "history", "before": 5, "limit": 10}, protocol.UNKNOWN_FIELD),
        ({"type": "read"}, protocol.MISSING_FIELD),
        ({"type": "read", "id": 5, "room": "physics"}, protocol.UNKNOWN_FIELD),
        *(
            ({"type": frame_type, field: value}, protocol.INVALID_FIELD)
            for frame_type, field in (("history", "before"), ("read", "id"))
            for value in (0, -1, 1.5, "7", True, False, None, [7], 2**63)
        ),
    ],
)
def test_bad_history_and_read_frames(frame: dict, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(json.dumps(frame))
    assert caught.value.code == code


def test_the_history_and_room_read_server_frames() -> None:
    assert protocol.history(51, [], True) == {"type": "history", "before": 51, "messages": [], "complete": True}
    assert protocol.room_read("physics", 70) == {"type": "room.read", "room": "physics", "read": 70}


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame('{"a":' * 2000 + "1" + "}" * 2000, None, 2000)
    assert caught.value.code == protocol.INVALID_JSON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"ping"}', True),
        (' { "type" : "ping" } ', True),
        ('{"type":"ping","x":1}', False),
        ('{"type":"typing"}', False),
        ("ping", False),
        (None, False),
        ('{"type":"ping"}' + " " * 64, False),
    ],
)
def test_a_ping_is_told_apart_without_parsing(text: str | None, expected: bool) -> None:
    assert protocol.is_ping(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"message": "hi", "client_id": "k3x9"}', "k3x9"),
        ('{"client_id" : "a-b_C"}', "a-b_C"),
        ('{"message": "hi"}', None),
        ('{"client_id": "has space"}', None),
        ("not json at all", None),
        (None, None),
        ('{"client_id": "k"}' + " " * (12 * 30 + 256), None),  # longer than the guard: not searched
    ],
)
def test_a_refused_frame_s_client_id_is_found_without_parsing(text: str | None, expected: str | None) -> None:
    assert protocol.claimed_client_id(text, 30) == expected
