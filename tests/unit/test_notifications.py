"""Notifications from the server: the service function, mentions, and the HTTP API."""

import asyncio
import json
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from chat import mentions, protocol, selectors, services
from chat.groups import MENTIONS_GROUP, InvalidRoomName, room_group_name
from chat.mentions import mentioned_names
from chat.models import Message
from tests.unit.communicator import MARKER_ID, mention_fence, socket_as

TOKEN = "a-test-token-of-enough-length"


def listen(room: str) -> tuple[object, str]:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(room_group_name(room), channel)
    return layer, channel


@pytest.mark.django_db
def test_a_notification_is_stored_and_published_as_a_system_message() -> None:
    layer, channel = listen("lobby")
    message = services.post_notification("lobby", "The lab closes at six.")
    assert (message.kind, message.author, message.room_message_id) == ("system", "System", 1)
    event = async_to_sync(layer.receive)(channel)
    assert event["kind"] == "system"
    assert event["message"] == "The lab closes at six."
    assert selectors.recent_messages(message.room)[0].kind == "system"


@pytest.mark.django_db(transaction=True)
async def test_a_notification_from_async_code() -> None:
    message = await services.apost_notification("lobby", "From a coroutine.", author="Cron")
    assert (message.kind, message.author) == ("system", "Cron")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("room", "text", "error"), [("a b", "hi", InvalidRoomName), ("lobby", " ", protocol.ProtocolError)]
)
def test_a_bad_notification_is_refused(room: str, text: str, error: type) -> None:
    with pytest.raises(error):
        services.post_notification(room, text)
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("@ann look at this", {"ann"}),
        ("thanks @ann and @guest-1a2b3c.", {"ann", "guest-1a2b3c"}),
        ("write to a@b.org", set()),
        ("@@twice and @ alone", set()),
        ("(@Zoë)", {"Zoë"}),
    ],
)
def test_mentions_are_found(text: str, names: set[str]) -> None:
    assert mentioned_names(text) == names


def test_no_room_shares_the_group_of_mentions() -> None:
    assert MENTIONS_GROUP not in {room_group_name(name) for name in ("people.mentions", "mentions", "people")}


def socket_in(name: str, room: str) -> object:
    return socket_as(name, f"/ws/chat/{quote(room)}/")


@pytest.mark.django_db(transaction=True)
async def test_a_mention_reaches_the_person_in_another_room() -> None:
    ann = await socket_in("Ann", "physics")
    bob = await socket_in("Bob", "lobby")
    await bob.send_json_to({"message": "@Ann can you look at this? @Bob"})
    assert (await bob.receive_json_from())["type"] == "chat.message"
    mention = await ann.receive_json_from()
    assert mention["type"] == "mention"
    assert mention["room"] == "lobby"
    assert (mention["author"], mention["message"], mention["id"]) == ("Bob", "@Ann can you look at this? @Bob", 1)
    await mention_fence(bob)  # mentioning yourself notifies nobody
    await ann.disconnect()
    await bob.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_message_naming_a_hundred_people_is_one_mention_event() -> None:
    """Naming many people costs what one message costs: one event through the Group, naming the first 30.

    So a sender's mentions are bounded by the message rate limit, however many names each holds.
    """
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(MENTIONS_GROUP, listener)
    bob = await socket_in("Bob", "lobby")
    names = [f"person{number}" for number in range(100)]
    people = await database_sync_to_async(User.objects.bulk_create)([User(username=name) for name in names])
    await bob.send_json_to({"message": " ".join(f"@{name}" for name in names)})
    assert (await bob.receive_json_from())["type"] == "chat.message"
    event = await asyncio.wait_for(layer.receive(listener), 1)
    first = people[: mentions.MAX_NAMES_PER_MESSAGE]
    assert (event["type"], event["to"]) == ("chat.mention", sorted(f"user:{person.pk}" for person in first))
    marker = {"type": "chat.mention", "to": [], "id": MARKER_ID}
    await layer.group_send(MENTIONS_GROUP, marker)
    assert await asyncio.wait_for(layer.receive(listener), 1) == marker  # nothing else came before it
    await layer.group_discard(MENTIONS_GROUP, listener)
    await bob.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_mention_reaches_only_the_people_it_names_through_one_member_per_process() -> None:
    ann = await socket_in("Ann", "physics")
    cat = await socket_in("Cat", "maths")
    bob = await socket_in("Bob", "lobby")
    assert len(get_channel_layer().groups[MENTIONS_GROUP]) == 1, "the process, not each person"
    await bob.send_json_to({"message": "@Ann and @Dan, the lab"})
    mention = await ann.receive_json_from()
    assert set(mention) == {
        "type",
        "room",
        "id",
        "message",
        "author",
        "created",
        "kind",
        "author_kind",
        "edited",
        "sender",
    }
    await mention_fence(cat)
    for socket in (ann, cat, bob):
        await socket.disconnect()


@pytest.mark.django_db  # the room is looked up first: a private one is refused before anything else
def test_the_command_refuses_without_a_shared_channel_layer() -> None:
    with pytest.raises(CommandError, match="REDIS_URL is not set"):
        call_command("announce", "lobby", "hello")


@pytest.mark.django_db
@pytest.mark.parametrize(("room", "text", "message"), [("a b", "hi", "room name"), ("lobby", "", "empty")])
def test_the_command_refuses_bad_input(room: str, text: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("announce", room, text)


# The HTTP API.


def api_post(client: Client, room: str = "lobby", body: object = None, token: str | None = TOKEN) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {"message": "hi"})
    return client.post(f"/api/rooms/{quote(room)}/messages", data, content_type="application/json", headers=headers)


@pytest.fixture
def api_token() -> object:
    with override_settings(CHAT_API_TOKEN=TOKEN):
        yield TOKEN


@pytest.mark.django_db(transaction=True)
def test_the_api_posts_with_a_token(client: Client, api_token: str) -> None:
    layer, channel = listen("lobby")
    response = api_post(client, body={"message": "Build 512 is green.", "author": "CI"})
    assert response.status_code == 201
    frame = response.json()
    assert (frame["type"], frame["id"], frame["author"], frame["kind"]) == ("chat.message", 1, "CI", "system")
    assert async_to_sync(layer.receive)(channel) == frame


@pytest.mark.django_db(transaction=True)
def test_the_api_posts_for_staff_with_a_csrf_token(api_token: str) -> None:
    staff = User.objects.create_user("teacher", password="pw-for-tests-only", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert api_post(client, token=None).status_code == 403  # no CSRF token
    client.get("/chat/")  # sets the csrftoken cookie, as any page does
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        "/api/rooms/lobby/messages", json.dumps({"message": "hi"}), content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json()["author"] == "System"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("room", "body", "token", "status", "code"),
    [
        ("lobby", None, None, 401, "authentication_required"),
        ("lobby", None, "wrong-token", 401, "invalid_token"),
        ("a b", None, TOKEN, 404, "invalid_room"),
        ("lobby", "{not json", TOKEN, 400, "invalid_json"),
        ("lobby", "[1]", TOKEN, 400, "invalid_frame"),
        ("lobby", {"message": "hi", "colour": "red"}, TOKEN, 400, "unknown_field"),
        ("lobby", {"text": "hi"}, TOKEN, 400, "unknown_field"),
        ("lobby", {}, TOKEN, 400, "missing_field"),
        ("lobby", {"message": "  "}, TOKEN, 400, "empty_message"),
        ("lobby", {"message": "\u0007"}, TOKEN, 400, "invalid_characters"),
        ("lobby", {"message": "hi", "author": ""}, TOKEN, 400, "invalid_field"),
        ("lobby", {"message": "hi", "author": "half a pair \ud800"}, TOKEN, 400, "invalid_field"),
        ("lobby", {"message": "x" * 2001}, TOKEN, 413, "message_too_long"),
        ("lobby", "x" * (2000 * 12 + 256 + 12 * 32 + 1), TOKEN, 413, "body_too_large"),
    ],
)
def test_the_api_refuses_with_the_right_status(
    client: Client, api_token: str, room: str, body: object, token: str | None, status: int, code: str
) -> None:
    response = api_post(client, room, body, token)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_the_api_takes_a_message_at_the_limit_in_any_json_escaping(
    client: Client, api_token: str, ensure_ascii: bool
) -> None:
    text, author = "\N{GRINNING FACE}" * 2000, "\N{GRINNING FACE}" * 32
    body = json.dumps({"message": text, "author": author}, ensure_ascii=ensure_ascii)
    response = api_post(client, body=body)
    assert response.status_code == 201, response.json()
    assert Message.objects.get().text == text


@pytest.mark.django_db(transaction=True)
def test_the_api_refuses_non_staff_sessions(client: Client, api_token: str) -> None:
    client.force_login(User.objects.create_user("student", password="pw-for-tests-only"))
    response = api_post(client, token=None)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


@pytest.mark.django_db(transaction=True)
def test_the_api_refuses_tokens_when_none_is_configured(client: Client) -> None:
    assert api_post(client).status_code == 401


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_RATE_LIMIT=1.0, CHAT_RATE_BURST=2)
def test_the_api_rate_limits_each_caller(client: Client, api_token: str) -> None:
    statuses = [api_post(client).status_code for _ in range(4)]
    assert statuses == [201, 201, 429, 429]
    limited = api_post(client)
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1


def test_the_api_takes_only_post(client: Client) -> None:
    response = client.get("/api/rooms/lobby/messages")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
