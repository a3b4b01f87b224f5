"""The notification socket (``ws/notifications/``): who is let in, the inbox, live notifications and reads, bad frames.

Through the consumer on the in-memory layer, with real sessions: each socket
carries the session cookie of a logged-in account, as a browser's does.
"""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import override_settings

from accounts.identity import account_key
from chat import access, events, protocol
from chat.groups import ACCOUNTS_GROUP, INBOX_GROUP
from chat.process import process_state
from mysite.asgi import application
from notifications import consumers, selectors, services
from notifications.models import Notification
from tests.unit.communicator import HOST, ORIGIN, cookie_header, logged_in_client, login_data, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/ws/notifications/"
# A rate this slow gives nothing back while a test runs: the counts below are exact.
NEVER_REFILLS = 0.0001


@database_sync_to_async
def account(name: str, **fields: object) -> User:
    return User.objects.create_user(name, **fields)


async def cookie_of(user: User) -> tuple[bytes, bytes]:
    return await session_cookie(**login_data(user))


async def open_socket(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    """A socket the server accepted (to serve it, or to refuse it with a reason)."""
    socket = WebsocketCommunicator(application, PATH, headers=[ORIGIN, HOST, *headers])
    connected, _ = await socket.connect()
    assert connected
    return socket


async def inbox_socket(user: User) -> tuple[WebsocketCommunicator, dict]:
    """A socket of the account's, and the inbox it got first."""
    socket = await open_socket(await cookie_of(user))
    inbox = await socket.receive_json_from()
    assert inbox["type"] == "inbox"
    return socket, inbox


async def fence(user: User, *sockets: WebsocketCommunicator) -> None:
    """A last event to the account's Group: a socket whose next frame it is was sent nothing else before it."""
    marker = protocol.notification_read([0])
    await get_channel_layer().group_send(INBOX_GROUP, {**marker, "to": [account_key(user.pk)]})
    for socket in sockets:
        assert await socket.receive_json_from() == marker


async def assert_refused(socket: WebsocketCommunicator) -> None:
    """The socket's first frame is `forbidden` and the next thing is the close, 4403: nothing in between."""
    assert await socket.receive_json_from() == {
        "type": "error",
        "code": "forbidden",
        "detail": consumers.SIGN_IN_DETAIL,
    }
    assert await socket.receive_output() == {"type": "websocket.close", "code": protocol.CLOSE_FORBIDDEN}


@pytest.mark.parametrize("who", ["no cookie", "a guest who chose a name", "an inactive account"])
async def test_a_guest_is_refused_before_joining_any_group(who: str) -> None:
    if who == "no cookie":
        headers = []
    elif who == "a guest who chose a name":
        headers = [await session_cookie(display_name="Gus", guest_key="guest:0123")]
    else:
        headers = [await cookie_of(await account("gone", is_active=False))]
    await assert_refused(await open_socket(*headers))
    assert process_state().fanout.hubs == {}, "no Group joined, no inbox read"


async def test_the_inbox_comes_first_and_again_on_each_reconnect() -> None:
    ann, bob = await account("ann"), await account("bob")
    read = await services.anotify(ann, "read already", "/chat/physics/")
    unread = await services.anotify(ann, "unread", "https://example.com/marks")
    await services.anotify(bob, "Bob's")
    await services.amark_read(ann, [read.pk])
    socket, inbox = await inbox_socket(ann)
    assert inbox == await selectors.ainbox(ann)
    assert [frame["message"] for frame in inbox["notifications"]] == ["unread", "read already"]
    assert inbox["unread"] == [unread.pk]
    await socket.disconnect()
    while_away = await services.anotify(ann, "while away")
    socket, inbox = await inbox_socket(ann)  # the page's catch-up: the inbox as it is now
    assert inbox["unread"] == [while_away.pk, unread.pk]
    assert inbox["notifications"][0] == selectors.notification_frame(while_away)
    await socket.disconnect()


async def test_a_notification_and_each_read_reach_every_socket_of_the_person() -> None:
    ann = await account("ann")
    before = await services.anotify(ann, "before")
    (one, _), (two, _) = await inbox_socket(ann), await inbox_socket(ann)
    live = await services.anotify(ann, "live", "/chat/physics/")
    for socket in (one, two):
        assert await socket.receive_json_from() == selectors.notification_frame(live)
    await one.send_json_to({"type": "notification.read", "ids": [before.pk, before.pk]})
    for socket in (one, two):
        assert await socket.receive_json_from() == {"type": "notification.read", "ids": [before.pk], "up_to": None}
    await two.send_json_to({"type": "notification.read", "ids": [before.pk]})  # read already: nothing to tell
    await two.send_json_to({"type": "notification.read", "all": True})
    for socket in (one, two):
        assert await socket.receive_json_from() == {"type": "notification.read", "ids": [], "up_to": live.pk}
    await one.send_json_to({"type": "notification.read", "all": True})  # none left unread
    await one.send_json_to({"type": "ping"})
    assert await one.receive_json_from() == {"type": "pong"}
    await fence(ann, one, two)
    assert await database_sync_to_async(selectors.unread_count)(ann) == 0
    assert len(process_state().fanout.hubs[INBOX_GROUP].addressed[account_key(ann.pk)]) == 2, "two sockets, one key"
    for socket in (one, two):
        await socket.disconnect()
    assert INBOX_GROUP not in process_state().fanout.hubs, "left with the last socket"


async def test_a_socket_gets_only_its_own_account_s_notifications_and_reads() -> None:
    ann, bob = await account("ann"), await account("bob")
    (anns, _), (bobs, _) = await inbox_socket(ann), await inbox_socket(bob)
    for_bob = await services.anotify(bob, "for Bob")
    assert (await bobs.receive_json_from())["id"] == for_bob.pk
    await anns.send_json_to({"type": "notification.read", "ids": [for_bob.pk]})  # not hers: changes nothing
    await anns.send_json_to({"type": "notification.read", "all": True})
    for_ann = await services.anotify(ann, "for Ann")
    assert (await anns.receive_json_from())["id"] == for_ann.pk, "nothing of Bob's came before hers"
    await fence(bob, bobs)
    assert (await Notification.objects.aget(pk=for_bob.pk)).read is None
    for socket in (anns, bobs):
        await socket.disconnect()


def notify_while_the_inbox_is_read(monkeypatch: pytest.MonkeyPatch) -> list[Notification]:
    """From now on, each inbox read is followed by a notification, before the socket sends the inbox.

    Returns the list the notifications made go in. Each read returns once the socket holds the
    notification's event: the fan-out hands it over on a later turn of the loop.
    """
    read_inbox = selectors.ainbox
    made: list[Notification] = []

    async def then_notified(user: User) -> dict:
        inbox = await read_inbox(user)
        made.append(await services.anotify(user, "while the inbox was read"))
        [socket] = process_state().fanout.hubs[INBOX_GROUP].addressed[account_key(user.pk)]
        async with asyncio.timeout(1):
            while not socket.held:
                await asyncio.sleep(0)
        return inbox

    monkeypatch.setattr(consumers.selectors, "ainbox", then_notified)
    return made


async def test_a_notification_made_while_the_inbox_is_read_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    # The socket has joined its Group; the inbox is read; then, before it is sent, a notification is
    # stored and pushed. The inbox doesn't hold it: the socket sends it after the inbox, not never.
    ann = await account("ann")
    made = notify_while_the_inbox_is_read(monkeypatch)
    socket, inbox = await inbox_socket(ann)
    assert inbox["notifications"] == []
    assert await socket.receive_json_from() == selectors.notification_frame(made[0])
    await fence(ann, socket)
    await socket.disconnect()


# Frames the socket refuses: an error, and the socket stays open.

REFUSED = [
    ("{not json", protocol.INVALID_JSON),
    ("[1, 2]", protocol.INVALID_FRAME),
    ('"notification.read"', protocol.INVALID_FRAME),
    ("{}", protocol.UNKNOWN_TYPE),
    ('{"type": "chat.message", "message": "hi"}', protocol.UNKNOWN_TYPE),
    ('{"type": "delete", "id": 1}', protocol.UNKNOWN_TYPE),
    ('{"type": ["notification.read"], "ids": [1]}', protocol.UNKNOWN_TYPE),
    ('{"type": "notification.read"}', protocol.MISSING_FIELD),
    ('{"type": "notification.read", "ids": 1}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": "1,2"}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": {"1": true}}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": []}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [true]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [1, false]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [0]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [-1]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [1.0]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": ["1"]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [null]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [9223372036854775808]}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "ids": [1e400]}', protocol.INVALID_FIELD),
    (json.dumps({"type": "notification.read", "ids": list(range(1, 202))}), protocol.INVALID_FIELD),
    ('{"type": "notification.read", "all": false}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "all": 1}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "all": "true"}', protocol.INVALID_FIELD),
    ('{"type": "notification.read", "all": true, "ids": [1]}', protocol.UNKNOWN_FIELD),
    ('{"type": "notification.read", "ids": [1], "read": true}', protocol.UNKNOWN_FIELD),
    ('{"type": "ping", "at": 1}', protocol.UNKNOWN_FIELD),
    ("[" * 100_000, protocol.FRAME_TOO_LARGE),
    ('{"type": "notification.read", "ids": [' + "1," * 5000 + "1]}", protocol.FRAME_TOO_LARGE),
    ("[" * 2000 + "]" * 2000, protocol.INVALID_JSON),  # deeper than the parser goes
]


@override_settings(CHAT_RATE_BURST=len(REFUSED) + 10)
async def test_a_frame_it_can_t_take_gets_an_error_and_the_socket_stays_open(caplog: pytest.LogCaptureFixture) -> None:
    ann = await account("ann")
    kept = await services.anotify(ann, "untouched")
    socket, _ = await inbox_socket(ann)
    for text, code in REFUSED:
        await socket.send_to(text_data=text)
        frame = await socket.receive_json_from()
        assert (frame["type"], frame["code"]) == ("error", code), text[:80]
        assert frame["detail"]
    await socket.send_to(bytes_data=b'{"type": "notification.read", "all": true}')
    assert (await socket.receive_json_from())["code"] == protocol.BINARY_NOT_SUPPORTED
    await socket.send_json_to({"type": "notification.read", "ids": list(range(1, 201))})  # 200 ids: taken
    assert await socket.receive_json_from() == {"type": "notification.read", "ids": [kept.pk], "up_to": None}
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    await socket.disconnect()
    assert not any(record.exc_info for record in caplog.records), "no traceback for a client's mistake"
    assert "Traceback" not in caplog.text


@override_settings(CHAT_RATE_LIMIT=NEVER_REFILLS, CHAT_RATE_BURST=3)
async def test_a_socket_that_keeps_sending_after_rate_limited_is_closed_as_a_flooder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ann = await account("ann")
    socket, _ = await inbox_socket(ann)
    for _ in range(100):
        await socket.send_json_to({"type": "notification.read", "all": True})
    frames = []
    while (output := await socket.receive_output())["type"] == "websocket.send":
        frames.append(json.loads(output["text"]))
    # The burst is read (nothing was unread: no answer), twice the burst is told to wait, then it is cut off.
    assert [frame.get("code") for frame in frames] == ["rate_limited"] * 6 + ["flooding"]
    assert output == {"type": "websocket.close", "code": protocol.CLOSE_POLICY_VIOLATION}
    await socket.disconnect()
    assert "Closed a socket from unknown: flooding" in caplog.text
    assert "Traceback" not in caplog.text


# Logging out, or an account that changes, closes the socket: the page reconnects as who the person is now.


async def next_frame(socket: WebsocketCommunicator, frame_type: str) -> dict:
    while (frame := await socket.receive_json_from())["type"] != frame_type:
        pass
    return frame


@pytest.mark.parametrize("change", ["logging out", "deactivation"])
async def test_an_account_change_closes_the_socket_and_the_reconnect_is_refused(change: str) -> None:
    ann, bob = await account("ann"), await account("bob")
    browser = await logged_in_client(ann)
    socket = await open_socket(cookie_header(browser))
    assert (await socket.receive_json_from())["type"] == "inbox"
    bobs, _ = await inbox_socket(bob)
    if change == "logging out":
        await database_sync_to_async(browser.post)("/accounts/logout/")
    else:
        ann.is_active = False
        await database_sync_to_async(ann.save)()
    assert await next_frame(socket, "error") == {
        "type": "error",
        "code": "account_changed",
        "detail": "You logged out or your account changed; reconnecting as you are now.",
    }
    assert await socket.receive_output() == {"type": "websocket.close", "code": protocol.CLOSE_ACCOUNT_CHANGED}
    await assert_refused(await open_socket(cookie_header(browser)))
    await fence(bob, bobs)  # another account's socket stays open
    await bobs.disconnect()


async def test_after_a_channel_layer_outage_the_socket_sends_the_inbox_afresh() -> None:
    # What was pushed while the layer was down never came; it is stored, so the inbox read now holds it.
    ann = await account("ann")
    socket, first = await inbox_socket(ann)
    assert first["notifications"] == []
    missed = await database_sync_to_async(services.save_notification)(ann.pk, "pushed while Redis was down")
    # How the resilient layer tells every channel of the process (chat.layers), here through a Group the socket is in.
    await get_channel_layer().group_send(ACCOUNTS_GROUP, events.layer_recovered())
    again = await socket.receive_json_from()
    assert again["type"] == "inbox"
    assert [n["id"] for n in again["notifications"]] == again["unread"] == [missed.pk]
    await socket.disconnect()


async def test_a_notification_made_while_the_inbox_is_read_again_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    # As at connect: after an outage the socket holds what comes while it reads the inbox again, and sends it after.
    ann = await account("ann")
    socket, _ = await inbox_socket(ann)
    made = notify_while_the_inbox_is_read(monkeypatch)
    await get_channel_layer().group_send(ACCOUNTS_GROUP, events.layer_recovered())
    assert (await socket.receive_json_from())["notifications"] == []
    assert await socket.receive_json_from() == selectors.notification_frame(made[0])
    await fence(ann, socket)
    await socket.disconnect()


async def test_reading_inboxes_again_after_an_outage_holds_up_no_other_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every notification socket of a process reads its inbox after an outage; the hub of people.accounts, which
    # brought them the news, must not wait for those reads before it passes on a logout for another socket.
    ann, bob = await account("ann"), await account("bob")
    anns, _ = await inbox_socket(ann)
    bobs, _ = await inbox_socket(bob)
    database_answers = asyncio.Event()
    read_inbox = selectors.ainbox

    async def slow_database(user: User) -> dict:
        await database_answers.wait()
        return await read_inbox(user)

    monkeypatch.setattr(consumers.selectors, "ainbox", slow_database)
    layer = get_channel_layer()
    await layer.group_send(ACCOUNTS_GROUP, events.layer_recovered())
    await layer.group_send(ACCOUNTS_GROUP, access.account_changed_event(user_id=bob.pk))
    assert (await bobs.receive_json_from())["code"] == protocol.ACCOUNT_CHANGED_ERROR, "while the reads wait"
    assert await bobs.receive_output() == {"type": "websocket.close", "code": protocol.CLOSE_ACCOUNT_CHANGED}
    database_answers.set()
    assert (await anns.receive_json_from())["type"] == "inbox"
    await anns.disconnect()


async def test_a_logout_while_the_socket_joins_its_groups_is_not_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The session was read when the socket arrived; the logout's event goes out before the socket
    # hears people.accounts. Asked again once it does, the socket is refused rather than left open.
    ann = await account("ann")
    browser = await logged_in_client(ann)
    fanout = process_state().fanout
    join = fanout.join

    async def logged_out_meanwhile(group: str, member: object, address: str | None = None) -> None:
        if group == INBOX_GROUP:
            await database_sync_to_async(browser.post)("/accounts/logout/")
        await join(group, member, address)

    monkeypatch.setattr(fanout, "join", logged_out_meanwhile)
    socket = await open_socket(cookie_header(browser))
    await assert_refused(socket)
    await socket.disconnect()
    assert INBOX_GROUP not in fanout.hubs, "and it let go of what it joined"
