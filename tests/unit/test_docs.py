"""The docs include code from the source by marker; a marker that disappears must fail loudly.

`make docs` (strict) fails too; this test says which page and which marker.
"""

import re
from pathlib import Path

import pytest

from chat import protocol

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def includes() -> list[tuple[str, str]]:
    return [
        (str(page.relative_to(ROOT)), target)
        for page in sorted((ROOT / "docs").rglob("*.md"))
        for target in INCLUDE.findall(page.read_text())
    ]


def test_the_walkthrough_includes_real_code() -> None:
    assert len(includes()) >= 10


@pytest.mark.parametrize(("page", "target"), includes())
def test_every_included_excerpt_exists(page: str, target: str) -> None:
    path, _, section = target.partition(":")
    source = ROOT / path
    assert source.is_file(), f"{page} includes {path}, which does not exist"
    if section:
        text = source.read_text()
        for edge in ("start", "end"):
            assert f"--8<-- [{edge}:{section}]" in text, f"{page} includes {target}: no [{edge}:{section}] in {path}"


# Every frame a socket sends or takes, by its constant in chat/protocol.py.
FRAME_TYPES = [
    *("CHAT_MESSAGE", "ACK", "EDIT", "DELETE", "MENTION", "PRESENCE", "TYPING", "DIRECTORY", "ROOM_UPDATE"),
    *("ROOM_READ", "ERROR", "INBOX", "NOTIFICATION", "NOTIFICATION_READ", "PING", "PONG", "HISTORY", "READ"),
]


@pytest.mark.parametrize("name", FRAME_TYPES)
def test_the_protocol_page_describes_every_frame_type(name: str) -> None:
    frame_type = getattr(protocol, name)
    page = (ROOT / "docs" / "protocol.md").read_text()
    assert f'"type": "{frame_type}"' in page, f"docs/protocol.md shows no {frame_type} frame"
