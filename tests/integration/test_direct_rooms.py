"""Two openings of one direct conversation at once make one room, on SQLite and on PostgreSQL."""

import json
import os
import subprocess
import sys
import uuid

from tests.conftest import server_environment
from tests.servers import PROJECT_ROOT


def test_two_people_opening_their_conversation_at_once_get_one_room(server_database: str) -> None:
    ann, bob = f"ann-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.direct_race", ann, bob],
        cwd=PROJECT_ROOT,
        env=os.environ | server_environment(server_database),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == [], "opening both ways at once must neither deadlock nor fail"
    assert len(outcome["stored"]) == 1, f"the pair has more than one room: {outcome}"
    assert outcome["opened"] == outcome["stored"] * 2
