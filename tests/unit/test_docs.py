"""The docs include code from the source by marker; a marker that disappears must fail loudly.

`make docs` (strict) fails too; this test says which page and which marker.
"""

import re
from pathlib import Path

import pytest

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
