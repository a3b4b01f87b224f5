import re

import pytest

from chat.groups import ROOM_NAME_MAX_LENGTH, InvalidRoomName, clean_room_name, room_group_name

# What channel layers accept as a group name.
VALID_GROUP = re.compile(r"^[A-Za-z0-9_.-]{1,99}$")


@pytest.mark.parametrize("name", ["lobby", "Room_1", "my-room", "v1.2", "café", "数学", "x" * ROOM_NAME_MAX_LENGTH])
def test_accepted_room_names(name: str) -> None:
    assert clean_room_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "   ", "a b", "a/b", "<script>", "what?", "50%", ".", "..", "x" * (ROOM_NAME_MAX_LENGTH + 1), "ta\tb"]
)
def test_refused_room_names(name: str) -> None:
    with pytest.raises(InvalidRoomName):
        clean_room_name(name)


def test_room_names_are_normalised_to_nfc() -> None:
    decomposed = "cafe\u0301"
    assert clean_room_name(decomposed) == "café"


@pytest.mark.parametrize("name", ["lobby", "my-room", "v1.2", "café", "数学", "é" * ROOM_NAME_MAX_LENGTH, "x" * 64])
def test_every_room_gets_a_valid_group_name(name: str) -> None:
    assert VALID_GROUP.match(room_group_name(clean_room_name(name)))


def test_ascii_group_names_stay_readable() -> None:
    assert room_group_name("lobby") == "chat.lobby"


def test_distinct_rooms_get_distinct_groups() -> None:
    names = ["lobby", "Lobby", "café", "cafe", "数学", "数", "chat-u", "u.x"]
    assert len({room_group_name(name) for name in names}) == len(names)
