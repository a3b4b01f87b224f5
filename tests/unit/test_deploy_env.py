"""deploy/chat.env.example reads the same to systemd (EnvironmentFile=) and to the shell (`set -a; . file`).

docs/deploy.md loads it into the shell for commands run by hand, and the systemd units load it
for the services: a line only one of them reads as meant (a comment xargs would pass on, a
quote, a `$`) would give a command run by hand a different environment from the server's.
"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "chat.env.example"
# A value both readers take literally: no quotes, spaces, expansions, escapes or shell syntax.
PLAIN_ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=([A-Za-z0-9_.,:/@%+=\-]*)$")


def assignments() -> dict[str, str]:
    found = {}
    for number, line in enumerate(EXAMPLE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PLAIN_ASSIGNMENT.match(line)
        assert match, f"chat.env.example line {number} is not a plain NAME=value line: {line!r}"
        found[match[1]] = match[2]
    return found


def test_the_example_holds_the_settings_a_server_needs() -> None:
    assert {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"} <= set(assignments())


def test_the_shell_reads_the_example_as_systemd_does() -> None:
    script = 'set -a; . "$1"; set +a; env -0'
    result = subprocess.run(
        ["sh", "-c", script, "sh", str(EXAMPLE)], env={}, capture_output=True, text=True, check=True, timeout=10
    )
    environment = dict(entry.split("=", 1) for entry in result.stdout.split("\0") if "=" in entry)
    expected = assignments()
    assert {name: environment.get(name) for name in expected} == expected
    assert result.stderr == ""


def test_no_document_loads_an_environment_file_through_xargs() -> None:
    documents = [ROOT / "README.md", ROOT / "deploy" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    assert not [str(path.relative_to(ROOT)) for path in documents if "xargs" in path.read_text()]
