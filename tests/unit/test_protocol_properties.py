"""Property-based tests of the frame parser: whatever arrives, the answer is a frame or a documented error."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from chat import protocol
from chat.protocol import ChatMessageIn, DeleteMessageIn, EditMessageIn, ProtocolError, parse_client_frame

LIMIT = 200
ERROR_CODES = {
    protocol.BINARY_NOT_SUPPORTED,
    protocol.FRAME_TOO_LARGE,
    protocol.INVALID_JSON,
    protocol.INVALID_FRAME,
    protocol.UNKNOWN_TYPE,
    protocol.MISSING_FIELD,
    protocol.UNKNOWN_FIELD,
    protocol.INVALID_FIELD,
    protocol.EMPTY_MESSAGE,
    protocol.MESSAGE_TOO_LONG,
    protocol.INVALID_CHARACTERS,
}


# Any code point, lone surrogates included: JSON can spell them ("\ud800").
def any_text(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=max_size).map("".join)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text(50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
near_valid = st.fixed_dictionaries(
    {"message": st.one_of(any_text(LIMIT + 20), json_values)},
    optional={
        "type": st.sampled_from(["chat.message", "edit", "delete", "typing", ""]) | json_values,
        "client_id": st.text(max_size=70) | json_values,
        "id": st.integers(min_value=-5, max_value=10**20) | json_values,
    },
)


def outcome(
    text: str | None, bytes_data: bytes | None = None
) -> ChatMessageIn | EditMessageIn | DeleteMessageIn | ProtocolError:
    """What the parser makes of a frame: a frame, or the error it raised (any other exception escapes)."""
    try:
        return parse_client_frame(text, bytes_data, LIMIT)
    except ProtocolError as exc:
        return exc


def check(text: str | None, bytes_data: bytes | None = None) -> None:
    frame = outcome(text, bytes_data)
    if isinstance(frame, ProtocolError):
        assert frame.code in ERROR_CODES
        assert frame.detail
        return
    assert isinstance(frame, ChatMessageIn | EditMessageIn | DeleteMessageIn)
    if isinstance(frame, ChatMessageIn | EditMessageIn):
        assert frame.message.strip()
        assert len(frame.message) <= LIMIT
        frame.message.encode("utf-8")  # storable and sendable
    if isinstance(frame, EditMessageIn | DeleteMessageIn):
        assert isinstance(frame.id, int)
        assert frame.id >= 1


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_any_text_gets_a_frame_or_an_error(text: str) -> None:
    check(text)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_binary_frame_gets_an_error(data: bytes) -> None:
    check(None, data)


@settings(max_examples=500)
@given(json_values)
def test_any_json_gets_a_frame_or_an_error(value: object) -> None:
    check(json.dumps(value))


@settings(max_examples=500)
@given(near_valid)
def test_frames_close_to_valid_get_a_frame_or_an_error(value: dict) -> None:
    check(json.dumps(value))


@given(st.text(min_size=1, max_size=LIMIT).filter(lambda t: t.strip()))
def test_valid_messages_keep_their_text_or_are_refused_for_their_characters(message: str) -> None:
    frame = outcome(json.dumps({"message": message}))
    if isinstance(frame, ProtocolError):
        assert frame.code == protocol.INVALID_CHARACTERS
    else:
        assert frame.message == message
