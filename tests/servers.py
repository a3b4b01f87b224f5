"""What the tests ask of this project's running servers; the servers themselves come from pytest-channels-live."""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from pytest_channels_live import DaphneServer

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def readiness(server: DaphneServer) -> tuple[int, dict]:
    """The status and body of a server's ``/readyz``."""
    try:
        with urllib.request.urlopen(f"{server.http_url}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def open_sockets(server: DaphneServer) -> float:
    """The process's own count of open chat sockets, from its /metrics."""
    with urllib.request.urlopen(f"{server.http_url}/metrics", timeout=5) as response:
        return float(re.search(r"^chat_open_sockets (\S+)$", response.read().decode(), re.MULTILINE)[1])
