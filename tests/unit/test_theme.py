"""The colours of static/css/chat.css: both themes whole, every pair of text and surface readable (WCAG AA)."""

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "chat.css"
NAMES = [f"--name-{number}" for number in range(8)]
# The variables every part of the page may rely on (the room's own section uses these and no colour of its own).
REQUIRED = [
    "--fg",
    "--muted",
    "--bg",
    "--panel",
    "--border",
    "--accent",
    "--accent-fg",
    "--own",
    "--error",
    "--link",
    "--mention-bg",
    "--mention-border",
    "--date-line",
    *NAMES,
]
SURFACES = ["--bg", "--panel", "--surface", "--own"]
# (text, the backgrounds it is written on, the contrast it needs): 4.5 for text, 3 for edges and signals.
PAIRS = [
    *((text, SURFACES, 4.5) for text in ("--fg", "--muted", "--link", "--error", "--date-line")),
    *((text, ["--mention-bg"], 4.5) for text in ("--fg", "--muted", "--link")),
    ("--accent-fg", ["--accent", "--accent-hover"], 4.5),
    ("--danger-fg", ["--danger"], 4.5),
    *((name, ["--panel", "--own", "--mention-bg"], 4.5) for name in NAMES),
    *((edge, ["--bg", "--panel"], 3) for edge in ("--field-border", "--focus", "--ok", "--warn", "--accent")),
    ("--mention-border", ["--mention-bg", "--panel"], 3),
]
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?)\(|(?<![\w-])(?:white|black)(?![\w-])")


def blocks() -> tuple[str, str, str]:
    """The light theme's :root block, the dark theme's, and the rest of the file."""
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.DOTALL)
    light = re.search(r"^:root \{(.*?)^\}", css, re.MULTILINE | re.DOTALL)
    dark = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*:root \{(.*?)\}\s*\}", css, re.DOTALL)
    assert light, "chat.css has no :root block for the light theme"
    assert dark, "chat.css has no :root block for the dark theme"
    rest = css.replace(light.group(0), "").replace(dark.group(0), "")
    return light.group(1), dark.group(1), rest


def variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", block))


def luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    assert len(digits) == 6, f"{colour}: colours are written #rrggbb here"
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_each_theme_defines_every_colour_and_each_pair_is_readable(theme: str) -> None:
    light, dark, _ = blocks()
    values = variables(light) | (variables(dark) if theme == "dark" else {})
    assert [name for name in REQUIRED if name not in variables(dark)] == [], "the dark theme lacks some"
    assert [name for name in REQUIRED if name not in values] == []
    unreadable = [
        f"{text} on {background}: {contrast(values[text], values[background]):.2f} < {needed}"
        for text, backgrounds, needed in PAIRS
        for background in backgrounds
        if contrast(values[text], values[background]) < needed
    ]
    assert unreadable == []
    assert len({values[name] for name in NAMES}) == len(NAMES), "two names would share a colour"


def test_colours_come_only_from_the_theme_variables() -> None:
    light, _, rest = blocks()
    assert "color-scheme: light dark" in light
    assert COLOUR.findall(rest) == [], "a colour outside the themes stays the same in both"
