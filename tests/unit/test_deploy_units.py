"""The systemd units in deploy/systemd/ pass `systemd-analyze verify`, as installed on a server.

systemd checks that each command exists and is executable, so the units are
verified inside a folder laid out like the server (`--root`): the system's own
units, the units where docs/deploy.md copies them, and a stand-in for each
program of the virtualenv they run.
"""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from pytest_channels_live import require_executable

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
VENV_BIN = "srv/chat/app/.venv/bin"


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    shutil.copytree(SYSTEM_UNITS, tmp_path / SYSTEM_UNITS.relative_to("/"), symlinks=True)
    shutil.copytree(UNITS, tmp_path / "etc/systemd/system")
    (tmp_path / VENV_BIN).mkdir(parents=True)
    for program in ("python", "daphne", "gunicorn"):
        stand_in = tmp_path / VENV_BIN / program
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
    return tmp_path


def installed_names() -> list[str]:
    """Each unit as systemd would start it: the Daphne template as an instance, the rest as they are."""
    return [path.name.replace("@.service", "@9001.service") for path in sorted(UNITS.iterdir()) if path.suffix != ".md"]


def test_every_unit_passes_systemd_analyze_verify(server_root: Path) -> None:
    analyze = require_executable("systemd-analyze", "systemd")
    units = [f"/etc/systemd/system/{name}" for name in installed_names()]
    assert any(name.endswith(".timer") for name in installed_names())
    result = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={server_root}", *units], capture_output=True, text=True, timeout=60
    )
    # Unknown keys and other mistakes systemd ignores are only warnings: none are allowed either.
    assert (result.returncode, result.stderr) == (0, "")


def test_expired_sessions_are_cleared_daily() -> None:
    timer, service = (configparser.ConfigParser(strict=False, interpolation=None) for _ in range(2))
    timer.read(UNITS / "chat-clearsessions.timer")
    service.read(UNITS / "chat-clearsessions.service")
    assert timer["Timer"]["OnCalendar"] == "daily"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert service["Service"]["ExecStart"].endswith("manage.py clearsessions")
    assert service["Service"]["EnvironmentFile"] == "/etc/chat/chat.env"
