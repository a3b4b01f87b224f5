import re

import pytest

from accounts.identity import DISPLAY_NAME_MAX_LENGTH, InvalidDisplayName, clean_display_name, new_guest_name


def test_guest_names_have_a_short_random_suffix() -> None:
    names = {new_guest_name() for _ in range(20)}
    assert all(re.fullmatch(r"guest-[0-9a-f]{8}", name) for name in names)
    assert len(names) == 20


def test_display_names_fold_spaces() -> None:
    assert clean_display_name("  Ann   Lee ") == "Ann Lee"


@pytest.mark.parametrize("name", ["", "   ", "a" * (DISPLAY_NAME_MAX_LENGTH + 1), "bell\x07"])
def test_refused_display_names(name: str) -> None:
    with pytest.raises(InvalidDisplayName):
        clean_display_name(name)
