"""Direct conversations: one room of exactly two accounts, the pages that open it, and who is refused.

That two openings at once still make one room is shown against real databases,
in tests/integration/test_direct_rooms.py (SQLite's in-memory test database
can't hold two writers at once).
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client, override_settings
from django.utils import timezone

from chat import direct, membership, selectors
from chat.direct import open_direct_room
from chat.models import Membership, Room

pytestmark = pytest.mark.django_db


def account(username: str, **fields: object) -> User:
    return User.objects.create_user(username, **fields)  # no password: the tests log in with force_login


def signed_in(user: User, **client_options: bool) -> Client:
    client = Client(**client_options)
    client.force_login(user)
    return client


def test_opening_either_way_gives_one_direct_room_of_exactly_the_two() -> None:
    ann, bob = account("ann"), account("bob")
    room = open_direct_room(ann, "bob")
    assert open_direct_room(bob, "ann") == room
    assert open_direct_room(ann, "bob") == room
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1
    assert room.kind == Room.Kind.DIRECT
    assert room.is_private
    assert room.title == ""
    assert room.owner is None
    assert re.fullmatch(r"dm-[0-9a-f]{16}", room.name)
    members = set(room.memberships.values_list("user__username", "role"))
    assert members == {("ann", Membership.Role.MEMBER), ("bob", Membership.Role.MEMBER)}


def test_each_pair_has_its_own_room() -> None:
    ann, bob = account("ann"), account("bob")
    account("carol")
    rooms = {open_direct_room(ann, "bob"), open_direct_room(ann, "carol"), open_direct_room(bob, "carol")}
    assert len(rooms) == 3
    assert len({room.name for room in rooms}) == 3


def test_only_the_two_may_see_their_room() -> None:
    ann, bob, carol = account("ann"), account("bob"), account("carol")
    staff = account("teacher", is_staff=True)
    room = open_direct_room(ann, "bob")
    assert membership.may_see(room, ann)
    assert membership.may_see(room, bob)
    assert not membership.may_see(room, carol)
    assert not membership.may_see(room, staff), "staff have no way into a conversation of two others"
    assert not membership.may_see(room, AnonymousUser())
    assert not membership.may_moderate(room, ann), "neither of the two moderates it"


def test_a_name_differing_only_in_case_finds_the_one_account() -> None:
    ann, bob = account("ann"), account("bob")
    assert open_direct_room(ann, "Bob") == open_direct_room(bob, "ann")


@pytest.mark.parametrize(
    ("username", "refusal", "status"),
    [
        ("ann", "That is you", 400),
        ("nobody", "Nobody called “nobody” has an account here", 404),
        ("gone", "Nobody called “gone” has an account here", 404),  # deactivated
        ("   ", "Type the username", 400),
    ],
)
def test_oneself_an_unknown_or_inactive_account_are_refused(username: str, refusal: str, status: int) -> None:
    ann = account("ann")
    account("gone", is_active=False)
    with pytest.raises(direct.DirectRoomRefused, match=refusal) as raised:
        open_direct_room(ann, username)
    assert raised.value.status == status
    assert not Room.objects.exists()


def test_a_guest_has_no_direct_messages() -> None:
    account("bob")
    with pytest.raises(direct.NotSignedIn):
        open_direct_room(AnonymousUser(), "bob")
    assert not Room.objects.exists()


@override_settings(CHAT_DIRECT_ROOMS_PER_HOUR=2)
def test_an_account_may_start_only_so_many_conversations_an_hour() -> None:
    ann, carol, dave = account("ann"), account("carol"), account("dave")
    for name in ("bob1", "bob2", "bob3"):
        account(name)
    # Rooms others opened with ann do not spend her allowance.
    open_direct_room(carol, "ann")
    open_direct_room(dave, "ann")
    first = open_direct_room(ann, "bob1")
    open_direct_room(ann, "bob2")
    too_many = r"as many new conversations within the hour as you may \(2\)"
    with pytest.raises(direct.TooManyDirectRooms, match=too_many) as raised:
        open_direct_room(ann, "bob3")
    assert raised.value.status == 429
    assert open_direct_room(ann, "bob1") == first, "a conversation she has opens as usual"
    assert open_direct_room(ann, "carol").memberships.count() == 2
    # An hour later, her allowance is back.
    Room.objects.filter(kind=Room.Kind.DIRECT).update(created=timezone.now() - timedelta(hours=1, seconds=1))
    assert open_direct_room(ann, "bob3").memberships.count() == 2


@override_settings(CHAT_DIRECT_ROOMS_PER_HOUR=0)
def test_the_hourly_limit_can_be_switched_off() -> None:
    ann = account("ann")
    for number in range(3):
        account(f"bob{number}")
        open_direct_room(ann, f"bob{number}")
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 3


def test_a_direct_room_s_heading_is_the_other_person() -> None:
    ann, bob, carol = account("ann"), account("bob"), account("carol")
    room = open_direct_room(ann, "bob")
    assert direct.room_heading(room, ann) == "bob"
    assert direct.room_heading(room, bob) == "ann"
    assert direct.room_heading(room, carol) == "Direct conversation", "a non-member is told no names"
    assert direct.room_heading(room, AnonymousUser()) == "Direct conversation"
    assert direct.room_heading(Room(name="physics"), ann) is None


# The pages.


def test_posting_to_a_person_s_address_leads_to_the_conversation() -> None:
    ann, bob = account("ann"), account("bob")
    response = signed_in(ann).post("/chat/dm/bob/")
    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert response.status_code == 302
    assert response.url == f"/chat/{room.name}/"
    assert signed_in(bob).post("/chat/dm/ann/").url == response.url
    html = signed_in(ann).get(response.url).content.decode()
    assert re.search(r'<span class="room-title">bob</span>', html)
    assert "<title>bob · Chat</title>" in html
    assert re.search(r'<span class="room-title">ann</span>', signed_in(bob).get(response.url).content.decode())


def test_the_lobby_form_opens_the_conversation_too() -> None:
    ann, _ = account("ann"), account("bob")
    response = signed_in(ann).post("/chat/dm/", {"username": " bob "})
    assert response.url == f"/chat/{Room.objects.get(kind=Room.Kind.DIRECT).name}/"


def test_the_lobby_offers_direct_messages_to_signed_in_people_only(client: Client) -> None:
    assert 'id="dm-username-input"' not in client.get("/chat/").content.decode()
    html = signed_in(account("ann")).get("/chat/").content.decode()
    form = re.search(r'<form method="post" action="/chat/dm/".*?</form>', html, re.S)
    assert form, "no form posting to /chat/dm/"
    assert 'id="dm-username-input"' in form.group(0)
    assert 'name="username"' in form.group(0)
    assert 'id="dm-submit"' in form.group(0)
    assert "csrfmiddlewaretoken" in form.group(0)


def test_a_room_page_has_the_form_its_message_buttons_post(client: Client) -> None:
    html = client.get("/chat/physics/").content.decode()
    form = re.search(r'<form id="dm-form" method="post" hidden>(.*?)</form>', html, re.S)
    assert form
    assert 'name="csrfmiddlewaretoken"' in form.group(1)
    assert 'Room <span class="room-name">physics</span>' in html


def test_a_room_called_dm_keeps_its_page(client: Client) -> None:
    response = client.get("/chat/dm/")
    assert response.status_code == 200
    assert re.search(r'<script id="room-name" type="application/json">"dm"</script>', response.content.decode())


@pytest.mark.parametrize(("method", "path"), [("get", "/chat/dm/bob/"), ("put", "/chat/dm/bob/"), ("put", "/chat/dm/")])
def test_a_conversation_opens_only_by_post(method: str, path: str) -> None:
    account("bob")
    assert getattr(signed_in(account("ann")), method)(path).status_code == 405
    assert not Room.objects.exists()


def test_a_post_without_the_csrf_token_is_refused() -> None:
    account("bob")
    client = signed_in(account("ann"), enforce_csrf_checks=True)
    assert client.post("/chat/dm/bob/").status_code == 403
    assert client.post("/chat/dm/", {"username": "bob"}).status_code == 403
    assert not Room.objects.exists()
    # With the token the page gives, the same post goes through.
    client.get("/chat/physics/")
    token = client.cookies["csrftoken"].value
    assert client.post("/chat/dm/bob/", {"csrfmiddlewaretoken": token}).status_code == 302


def test_a_guest_is_sent_to_log_in_and_back_to_the_page_they_were_on(client: Client) -> None:
    account("bob")
    response = client.post("/chat/dm/bob/", HTTP_REFERER="http://testserver/chat/physics/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/chat/physics/"
    # A page of another site is no place to come back to: the lobby instead.
    response = client.post("/chat/dm/", {"username": "bob"}, HTTP_REFERER="https://elsewhere.example/")
    assert response.url == "/accounts/login/?next=/chat/"
    assert not Room.objects.exists()


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/chat/dm/nobody/", 404, "Nobody called “nobody” has an account here"),
        ("/chat/dm/gone/", 404, "Nobody called “gone” has an account here"),
        ("/chat/dm/ann/", 400, "That is you"),
    ],
)
def test_a_refusal_is_a_page_that_says_why(path: str, status: int, text: str) -> None:
    account("gone", is_active=False)
    response = signed_in(account("ann")).post(path)
    assert response.status_code == status
    assert re.search(rf'<p id="direct-error">[^<]*{text}', response.content.decode())


@override_settings(CHAT_DIRECT_ROOMS_PER_HOUR=1)
def test_past_the_hourly_limit_the_page_says_so() -> None:
    ann = signed_in(account("ann"))
    account("bob"), account("carol")
    assert ann.post("/chat/dm/bob/").status_code == 302
    response = ann.post("/chat/dm/carol/")
    assert response.status_code == 429
    assert "as many new conversations within the hour as you may (1)" in response.content.decode()


def test_the_lobby_lists_a_conversation_under_the_other_person_s_name() -> None:
    ann, bob = account("ann"), account("bob")
    room = open_direct_room(ann, "bob")
    assert membership.private_rooms_of(ann)[room.name] == {"title": "bob", "kind": "direct"}
    assert selectors.private_rooms_among([room.name], bob)[room.name] == {"title": "ann", "kind": "direct"}
    assert selectors.private_rooms_among([room.name], account("cat"))[room.name] is None, "nor to anyone else"
