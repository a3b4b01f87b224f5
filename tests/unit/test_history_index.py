"""Paging back (and the first history) read the messages still said through an index of their own."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import selectors, services
from chat.models import Message

pytestmark = pytest.mark.django_db


def test_paging_back_steps_over_deleted_messages_by_the_index_of_said_ones() -> None:
    # Deleted rows stay for catch-up; a reader of older messages must not walk them one by one, or a
    # room emptied by its own sender would slow every query of the process that pages back through it.
    room = selectors.get_or_create_room("emptied")
    for number in range(30):
        services.save_message(room, "Ann", f"message {number}")
    Message.objects.filter(room__name="emptied", room_message_id__lt=30).update(deleted="2026-01-01T00:00:00Z")
    with CaptureQueriesContext(connection) as queries:
        frames, complete = selectors.history_before(room, 31)
    assert [frame["id"] for frame in frames] == [30]
    assert complete
    (query,) = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "chat_message_said" in plan, plan
