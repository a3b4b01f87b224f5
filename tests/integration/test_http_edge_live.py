"""What a stranger's HTTP requests cost a live Daphne process: no more memory than the body limit, one log line each."""

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from pytest_channels_live import HOST, DaphneCluster, DaphneServer, wait_for

HUGE = 64 << 20  # bytes: 25 times the default limit (CHAT_MAX_REQUEST_BODY, 2.5 MiB)
PIECE = 1 << 20
# What the process may grow by while it refuses one such body: the limit's worth in Twisted's
# buffer, in Daphne's queue and in Django's, and room to spare. Without the limit it was the body.
GROWTH_ALLOWED = 24 << 20


def memory(server: DaphneServer, field: str) -> int:
    """A line of the process's /proc status, in bytes (VmRSS: now; VmHWM: the most since last reset)."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{server.process.pid}/status")


def pieces(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        yield b"x" * min(PIECE, size - sent)
        sent += PIECE


def post(server: DaphneServer, path: str, content_type: str, chunked: bool) -> tuple[int, str, bytes]:
    """POST a HUGE body, announced (Content-Length) or not (chunked); the answer's status, content type and body."""
    connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
    headers = {"Content-Type": content_type}
    if not chunked:
        headers["Content-Length"] = str(HUGE)
    connection.request("POST", path, body=pieces(HUGE), headers=headers, encode_chunked=chunked)
    response = connection.getresponse()
    answer = response.status, response.getheader("Content-Type", ""), response.read()
    connection.close()
    return answer


def test_a_huge_body_is_refused_without_being_kept(cluster: DaphneCluster) -> None:
    server = cluster[0]
    for path, content_type, chunked in (
        ("/api/rooms/x/messages", "application/json", False),
        ("/chat/", "application/x-www-form-urlencoded", True),  # Twisted parsed such forms itself
    ):
        before = memory(server, "VmRSS")
        Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")  # VmHWM starts again from now
        status, answer_type, body = post(server, path, content_type, chunked)
        assert status == 413, (path, status, body[:200])
        if path.startswith("/api/"):
            assert answer_type == "application/json"
            assert json.loads(body)["code"] == "body_too_large"
        grew = memory(server, "VmHWM") - before
        assert grew < GROWTH_ALLOWED, f"{path}: the process grew by {grew >> 20} MiB for a {HUGE >> 20} MiB body"


def log_lines_of(server: DaphneServer, start: int) -> list[str]:
    """The log's lines since `start`, but for Daphne's access log ("127.0.0.1:… - - [date] "GET …")."""
    return [line for line in server.log()[start:].splitlines() if not line.startswith(f"{HOST}:")]


def test_a_strangers_mistakes_are_one_warning_line_each(cluster: DaphneCluster) -> None:
    server = cluster[1]
    fields = urllib.parse.urlencode({f"field{number}": "x" for number in range(1001)})
    form = {"Cookie": "csrftoken=" + "a" * 32, "Content-Type": "application/x-www-form-urlencoded"}
    mistakes = (  # method, body, headers; the answer's status and the logger that says so
        ("GET", None, {"Host": "evil.example"}, 400, "django.security.DisallowedHost"),
        ("POST", fields, form, 400, "django.security.TooManyFieldsSent"),
        ("POST", "a=" + "x" * (3 << 20), form, 413, "chat.body_limit"),
        ("POST", "x=1", {**form, "Content-Type": "multipart/form-data"}, 400, "django.request"),
    )
    for method, body, headers, status, logger in mistakes:
        start = len(server.log())
        connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
        connection.request(method, "/chat/", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == status, (logger, response.status)
        # Daphne's access log line comes after anything the request logged: then nothing more is coming.
        access = f'"{method} /chat/" {status}'
        wait_for(lambda start=start, access=access: access in server.log()[start:], 10, "the access log")
        lines = log_lines_of(server, start)
        about_requests = [line for line in lines if " django." in line or " chat.body_limit:" in line]
        assert len(about_requests) == 1, "\n".join(lines)
        assert f" WARNING {logger}: " in about_requests[0]
        assert not any("Traceback" in line for line in lines), "\n".join(lines)
