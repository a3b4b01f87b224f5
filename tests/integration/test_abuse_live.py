"""Thousands of random frames, and a flood, against live Daphne processes."""

import json
import random
import socket
import string
from urllib.parse import quote

import pytest
import websocket
from pytest_channels_live import HOST, DaphneCluster, DaphneServer, wait_for

from chat import protocol
from tests.servers import open_sockets
from tests.wsclient import AMBIENT, ChatClient, read_frame

FUZZ_FRAMES = 3000
DOCUMENTED_ERRORS = {
    protocol.BINARY_NOT_SUPPORTED, protocol.FRAME_TOO_LARGE, protocol.INVALID_JSON, protocol.INVALID_FRAME,
    protocol.UNKNOWN_TYPE, protocol.MISSING_FIELD, protocol.UNKNOWN_FIELD, protocol.INVALID_FIELD,
    protocol.EMPTY_MESSAGE, protocol.MESSAGE_TOO_LONG, protocol.INVALID_CHARACTERS, protocol.FORBIDDEN,
    protocol.UNKNOWN_MESSAGE, protocol.RATE_LIMITED,
}  # fmt: skip


def random_json(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(7 if depth < 3 else 4)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False, 0, -1, 2**70, 1.5, float("1e308")])
    if choice == 2:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(20)))
    if choice == 3:
        return rng.choice(["message", "type", "id", "client_id", "chat.message", "delete", ""])
    if choice == 4:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["message", "type", "id", "client_id", "extra", ""]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def random_frame(rng: random.Random) -> str | bytes:
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randbytes(rng.randrange(200))
    if kind == 1:
        return "".join(chr(rng.randrange(0, 0xD7FF)) for _ in range(rng.randrange(100)))
    if kind == 2:
        return json.dumps(random_json(rng))
    if kind == 3:
        text = "".join(rng.choice(string.printable + "\x00\x07\x1b\u200b\U0001f600") for _ in range(rng.randrange(60)))
        return json.dumps({"message": text})
    if kind == 4:
        return json.dumps({"message": "x" * rng.randrange(2001, 4000)})
    if kind == 5:
        return "y" * rng.randrange(12_500, 40_000)
    if kind == 6:
        return json.dumps({"type": "delete", "id": random_json(rng)})
    if kind == 7:
        return '{"message": "broken \\ud800 pair"}'
    valid = json.dumps({"message": "ok"})
    cut = rng.randrange(len(valid))
    return valid[:cut] + rng.choice(["", "}", "{", '"', "\\", ","]) + valid[cut + 1 :]


@pytest.mark.server_databases("postgres")  # the protocol's answers are the point, whatever the database
def test_thousands_of_random_frames_get_answers_and_no_server_error(
    load_cluster: DaphneCluster, room_name: str
) -> None:
    rng = random.Random(20261125)
    errors: dict[str, int] = {}
    with ChatClient(load_cluster[0], room_name) as fuzzer:
        for batch in range(FUZZ_FRAMES // 100):
            for _ in range(100):
                frame = random_frame(rng)
                if isinstance(frame, bytes):
                    fuzzer.ws.send_binary(frame)
                else:
                    fuzzer.ws.send(frame)
            # Read the answers up to a message of our own; a closed socket raises, naming its close code.
            sentinel = f"sentinel {batch}"
            fuzzer.send(sentinel)
            while (reply := fuzzer.receive(timeout=30)).get("message") != sentinel:
                if reply["type"] == "error":
                    errors[reply["code"]] = errors.get(reply["code"], 0) + 1
    assert set(errors) <= DOCUMENTED_ERRORS, f"undocumented error codes: {set(errors) - DOCUMENTED_ERRORS}"
    assert sum(errors.values()) > FUZZ_FRAMES / 2
    print(f"\nfuzz: {FUZZ_FRAMES} random frames, {sum(errors.values())} errors by code: {dict(sorted(errors.items()))}")
    # The server still serves another room at once.
    with ChatClient(load_cluster[1], f"{room_name}-after") as other:
        other.send("still serving")
        assert other.receive_message("still serving", timeout=2)["id"] == 1  # a room of its own


# Far more than the socket may send (the default burst of 10, twice that refused), sent at once.
FLOOD_FRAMES = 20_000


def frames_until_close(ws: websocket.WebSocket) -> tuple[list[dict], int | None]:
    """The frames a socket receives up to the server's close (presence apart), and the close code."""
    frames = []
    while True:
        opcode, payload = read_frame(ws)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames, int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        if opcode == websocket.ABNF.OPCODE_TEXT and (frame := json.loads(payload))["type"] not in AMBIENT:
            frames.append(frame)


def socket_from(address: str, server: DaphneServer, room: str) -> websocket.WebSocket:
    """A room's socket from another loopback address: the flood costs that address, not the other tests', a wait."""
    connection = socket.create_connection((HOST, server.port), timeout=10, source_address=(address, 0))
    url = server.ws_url(f"/ws/chat/{quote(room)}/")
    return websocket.create_connection(url, origin=server.origin, timeout=10, socket=connection)


@pytest.mark.server_databases("postgres")  # the flood limit is the point, whatever the database
def test_a_flooder_is_closed_and_a_quiet_room_of_its_process_still_answers(
    cluster: DaphneCluster, room_name: str
) -> None:
    server = cluster[0]
    flooder = socket_from("127.0.0.2", server, f"{room_name}-flood")
    with ChatClient(server, f"{room_name}-quiet") as quiet:
        open_before = open_sockets(server)
        # The smallest frame there is, as fast as the connection takes it: one masked frame repeated.
        frame = websocket.ABNF.create_frame("{}", websocket.ABNF.OPCODE_TEXT).format()
        flooder.sock.sendall(frame * FLOOD_FRAMES)
        quiet.send("can anyone hear me?")
        assert quiet.receive_message("can anyone hear me?", timeout=10)["id"] == 1  # the quiet room's first
        replies, code = frames_until_close(flooder)
        flooder.shutdown()
        assert code == protocol.CLOSE_POLICY_VIOLATION
        assert [reply.get("code") for reply in replies][-1] == protocol.FLOODING
        assert len(replies) < 100, f"{len(replies)} of {FLOOD_FRAMES} frames were answered before the close"
        # What the flooder's socket held is let go; its address waits before it may open another.
        wait_for(lambda: open_sockets(server) <= open_before - 1, 10, "the flooder's socket to be let go")
        again = socket_from("127.0.0.2", server, f"{room_name}-flood")
        first = json.loads(again.recv())
        assert first.get("code") == protocol.TOO_MANY_HANDSHAKES, first
        again.shutdown()
        quiet.send("still here")
        assert quiet.receive_message("still here", timeout=10)["id"] == 2
    print(f"\nflood: {FLOOD_FRAMES} frames sent at once, {len(replies)} answered, then closed with {code}")
