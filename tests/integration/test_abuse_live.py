"""Thousands of random frames, and a flood, against live Daphne processes."""

import json
import random
import string
import time

from chat import protocol
from tests.conftest import DaphneCluster
from tests.wsclient import ChatClient

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


def test_a_flood_is_limited_and_other_rooms_are_unaffected(cluster: DaphneCluster, room_name: str) -> None:
    flood_room, quiet_room = f"{room_name}-flood", f"{room_name}-quiet"
    with (
        ChatClient(cluster[0], flood_room) as flooder,
        ChatClient(cluster[1], flood_room) as listener,
        ChatClient(cluster[1], quiet_room) as quiet,
    ):
        started = time.monotonic()
        for number in range(300):
            flooder.send(f"flood {number}")
        quiet.send("can anyone hear me?")
        assert quiet.receive_message("can anyone hear me?", timeout=2)["id"] == 1  # the quiet room's first
        # Each frame of the flood gets one answer: its own message back, or rate_limited.
        replies = [flooder.receive(timeout=10) for _ in range(300)]
        elapsed = time.monotonic() - started
        accepted = [f["message"] for f in replies if f["type"] == "chat.message"]
        refused = [f for f in replies if f["type"] == "error"]
        assert {f["code"] for f in refused} == {"rate_limited"}
        assert 10 <= len(accepted) <= 10 + 5 * elapsed + 1  # the default burst, plus the rate meanwhile
        assert [listener.receive()["message"] for _ in accepted] == accepted
