"""A private room's pages, the lobby's "Private room" box, the members page, invite links, the API and `announce`."""

import json
import re
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from chat import direct, membership
from chat.models import Invite, Message, Room
from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann() -> User:
    return User.objects.create_user("ann")


@pytest.fixture
def room(ann: User) -> Room:
    return membership.create_private_room(ann, "Homework")


def browser(user: User | None, **options: bool) -> Client:
    client = Client(**options)
    if user is not None:
        client.force_login(user)
    return client


def member(room: Room, username: str, role: str = "member") -> User:
    user = User.objects.create_user(username)
    membership.join_by_invite(user, membership.create_invite(room, room.owner).token)
    if role != "member":
        membership.set_role(room, room.owner, username, role)
    return user


def page(room: Room, suffix: str = "") -> str:
    return f"/chat/{quote(room.name)}/{suffix}"


# The room's page.


def test_a_signed_out_visitor_is_sent_to_log_in_and_back(room: Room) -> None:
    response = browser(None).get(page(room))
    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={page(room)}"


def test_a_signed_in_non_member_gets_a_403_that_names_nothing(room: Room) -> None:
    response = browser(User.objects.create_user("cat")).get(page(room))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="forbidden"' in html
    assert "Homework" not in html
    assert room.name not in html


def test_a_member_gets_the_room_with_its_title_as_heading(room: Room, ann: User) -> None:
    html = browser(ann).get(page(room)).content.decode()
    assert re.search(r"<h1>.*Homework.*</h1>", html)
    assert 'id="room-members-link"' in html
    plain = browser(member(room, "bob")).get(page(room))
    assert plain.status_code == 200
    assert 'id="room-members-link"' not in plain.content.decode(), "only the owner and moderators manage members"
    assert 'id="room-members-link"' in browser(member(room, "mod", "moderator")).get(page(room)).content.decode()


def test_a_removed_member_is_refused_like_anyone_else(room: Room, ann: User) -> None:
    bob = member(room, "bob")
    membership.remove_member(room, ann, "bob")
    assert browser(bob).get(page(room)).status_code == 403


def test_a_public_room_is_open_to_everyone_as_before() -> None:
    Room.objects.create(name="physics")
    assert browser(None).get("/chat/physics/").status_code == 200


# The lobby's "Private room" box.


def test_the_box_is_for_signed_in_people_only(ann: User) -> None:
    assert 'id="room-private-input"' in browser(ann).get("/chat/").content.decode()
    assert 'id="room-private-input"' not in browser(None).get("/chat/").content.decode()


def test_ticking_it_makes_a_private_room_and_goes_there(ann: User) -> None:
    response = browser(ann).post("/chat/", {"room_name": "Lab.5", "private": "on"})
    room = Room.objects.get(owner=ann)
    assert (room.kind, room.title) == ("private", "Lab.5")
    assert response.url == page(room)


@pytest.mark.parametrize(("title", "stored", "name"), [("  Physics   7B ", "Physics 7B", r"physics-7b-[0-9a-f]{6}")])
def test_a_private_room_s_title_may_hold_spaces(ann: User, title: str, stored: str, name: str) -> None:
    response = browser(ann).post("/chat/", {"room_name": title, "private": "on"})
    room = Room.objects.get(owner=ann)
    assert room.title == stored
    assert re.fullmatch(name, room.name)
    assert response.url == page(room)


def test_without_the_box_a_room_name_keeps_its_rules(ann: User) -> None:
    assert browser(ann).post("/chat/", {"room_name": "Physics 7B"}).status_code == 400


def test_a_guest_who_posts_the_box_gets_a_public_room() -> None:
    response = browser(None).post("/chat/", {"room_name": "lab", "display_name": "Zed", "private": "on"})
    assert response.url == "/chat/lab/"
    assert not Room.objects.filter(kind="private").exists()


@override_settings(CHAT_PRIVATE_ROOMS_PER_USER=1)
def test_the_lobby_says_when_the_account_owns_its_most_rooms(ann: User, room: Room) -> None:
    response = browser(ann).post("/chat/", {"room_name": "another", "private": "on"})
    assert response.status_code == 400
    assert "the most one account may" in response.content.decode()


# The members page.


def test_the_members_page_is_for_the_owner_and_moderators(room: Room, ann: User) -> None:
    assert browser(None).get(page(room, "members/")).url.startswith("/accounts/login/?next=")
    assert browser(member(room, "bob")).get(page(room, "members/")).status_code == 403
    assert browser(User.objects.create_user("cat")).get(page(room, "members/")).status_code == 403
    assert browser(member(room, "mod", "moderator")).get(page(room, "members/")).status_code == 200
    assert browser(ann).get("/chat/physics/members/").status_code == 404, "a public room has no members page"


def test_the_owner_makes_an_invite_link_and_a_signed_in_person_joins_through_it(room: Room, ann: User) -> None:
    owner = browser(ann)
    assert owner.post(page(room, "members/"), {"action": "invite"}).url == page(room, "members/")
    html = owner.get(page(room, "members/")).content.decode()
    link = re.search(r'<input[^>]*value="([^"]+)"[^>]*id="invite-link"', html).group(1)
    token = Invite.objects.get(room=room).token
    assert link == f"http://testserver/chat/join/{token}/"

    bob = browser(User.objects.create_user("bob"))
    confirm = bob.get(f"/chat/join/{token}/")
    assert 'id="invite-join"' in confirm.content.decode()
    assert "Homework" in confirm.content.decode()
    assert membership.role_of(room, User.objects.get(username="bob")) is None, "looking joins nobody"
    assert bob.post(f"/chat/join/{token}/").url == page(room)
    assert bob.get(page(room)).status_code == 200
    assert bob.get(f"/chat/join/{token}/").url == page(room), "a member already goes straight to the room"


def test_an_invite_link_needs_a_signed_in_person(room: Room, ann: User) -> None:
    token = membership.create_invite(room, ann).token
    response = browser(None).get(f"/chat/join/{token}/")
    assert response.url == f"/accounts/login/?next=/chat/join/{token}/"


def test_a_revoked_or_unknown_link_is_a_404_that_says_so(room: Room, ann: User) -> None:
    invite = membership.create_invite(room, ann)
    owner = browser(ann)
    owner.post(page(room, "members/"), {"action": "revoke", "invite": str(invite.pk)})
    bob = browser(User.objects.create_user("bob"))
    for token in (invite.token, "never-an-invite"):
        for method in (bob.get, bob.post):
            response = method(f"/chat/join/{token}/")
            assert response.status_code == 404
            assert "doesn't work" in response.content.decode()
    assert membership.role_of(room, User.objects.get(username="bob")) is None


def test_the_page_lists_members_with_what_the_viewer_may_do(room: Room, ann: User) -> None:
    member(room, "bob")
    html = browser(ann).get(page(room, "members/")).content.decode()
    items = dict(re.findall(r'<li class="member" data-username="([^"]+)"(.*?)</li>', html, re.S))
    assert set(items) == {"ann", "bob"}
    assert "member-remove" in items["bob"]
    assert "member-make-moderator" in items["bob"]
    assert "member-remove" not in items["ann"]


def test_the_owner_removes_and_promotes_through_the_page(room: Room, ann: User) -> None:
    member(room, "bob")
    member(room, "cat")
    owner = browser(ann)
    owner.post(page(room, "members/"), {"action": "make-moderator", "username": "bob"})
    owner.post(page(room, "members/"), {"action": "remove", "username": "cat"})
    assert dict(room.memberships.values_list("user__username", "role")) == {"ann": "owner", "bob": "moderator"}


def test_a_moderator_cannot_name_moderators_through_the_page(room: Room) -> None:
    mod = browser(member(room, "mod", "moderator"))
    member(room, "bob")
    response = mod.post(page(room, "members/"), {"action": "make-moderator", "username": "bob"})
    assert response.status_code == 403
    assert 'id="members-error"' in response.content.decode()
    assert membership.role_of(room, User.objects.get(username="bob")) == "member"
    assert "member-make-moderator" not in mod.get(page(room, "members/")).content.decode()


@pytest.mark.parametrize("path", ["members/", "join"])
def test_every_post_needs_the_csrf_token(room: Room, ann: User, path: str) -> None:
    token = membership.create_invite(room, ann).token
    url = page(room, "members/") if path == "members/" else f"/chat/join/{token}/"
    who = ann if path == "members/" else User.objects.create_user("bob")
    response = browser(who, enforce_csrf_checks=True).post(url, {"action": "invite"})
    assert response.status_code == 403
    assert Invite.objects.filter(room=room).count() == 1
    assert room.memberships.count() == 1


# Inviting a person by username, from the members page.


def invite_by_name(client: Client, room: Room, username: str):
    return client.post(page(room, "members/"), {"action": "invite-person", "username": username})


def test_the_owner_invites_a_person_by_name_and_they_join_through_the_notification(room: Room, ann: User) -> None:
    bob = User.objects.create_user("bob")
    owner = browser(ann)
    assert 'id="invite-username-input"' in owner.get(page(room, "members/")).content.decode()
    assert invite_by_name(owner, room, "bob").url == page(room, "members/")
    html = owner.get(page(room, "members/")).content.decode()
    assert re.search(r'id="members-notice"[^>]*>\s*<p>Invited bob: they have a notification', html)
    assert 'id="members-notice"' not in owner.get(page(room, "members/")).content.decode(), "said once"

    [notification] = Notification.objects.filter(user=bob)
    assert notification.kind == "invitation"
    invited = browser(bob)
    assert 'id="invite-join"' in invited.get(notification.link).content.decode()
    assert invited.post(notification.link).url == page(room)
    assert membership.role_of(room, bob) == "member"
    assert invited.get(page(room)).status_code == 200

    # Removed, Bob has no invitation left to take him back in, and the owner is told what else would.
    removed = owner.post(page(room, "members/"), {"action": "remove", "username": "bob"}, follow=True)
    assert "Removed bob. Revoke the invite links below to keep them out" in removed.content.decode()
    assert not Notification.objects.filter(user=bob).exists()
    assert invited.get(page(room)).status_code == 403


def test_a_moderator_invites_by_name_too(room: Room) -> None:
    User.objects.create_user("dan")
    moderator = browser(member(room, "mod", "moderator"))
    assert 'id="invite-username-submit"' in moderator.get(page(room, "members/")).content.decode()
    assert invite_by_name(moderator, room, "dan").status_code == 302
    assert Notification.objects.filter(user__username="dan", kind="invitation").count() == 1


def test_nobody_else_invites_by_name(room: Room, ann: User) -> None:
    User.objects.create_user("dan")
    for who in (member(room, "bob"), User.objects.create_user("cat")):  # a plain member, a stranger
        assert invite_by_name(browser(who), room, "dan").status_code == 403
    conversation = direct.open_direct_room(ann, "bob")
    assert invite_by_name(browser(ann), conversation, "dan").status_code == 403, "a direct room has no managers"
    assert invite_by_name(browser(None), room, "dan").url.startswith("/accounts/login/?next=")
    assert not Notification.objects.exists()
    assert Invite.objects.filter(room=room).count() == 1, "only the one the fixture's member joined through"


@pytest.mark.parametrize(
    ("username", "status", "says"),
    [
        ("nobody", 404, "Nobody called “nobody” has an account here (or it is no longer in use)."),
        ("gone", 404, "Nobody called “gone” has an account here (or it is no longer in use)."),
        ("", 404, "Type the username of the person to invite."),
        ("ann", 400, "ann is a member of this room already."),
    ],
)
def test_inviting_by_name_says_why_it_cannot(room: Room, ann: User, username: str, status: int, says: str) -> None:
    User.objects.create_user("gone", is_active=False)
    response = invite_by_name(browser(ann), room, username)
    assert response.status_code == status
    html = response.content.decode()
    assert re.search(r'<p id="members-error"[^>]*>(.*?)</p>', html).group(1) == says
    assert re.search(r'<input[^>]*id="invite-username-input"[^>]*>', html).group(0).endswith(f'value="{username}">')
    assert not Notification.objects.exists()
    assert not Invite.objects.filter(room=room).exists()


@override_settings(CHAT_NOTIFICATIONS_PER_SENDER=1)
def test_inviting_past_the_budget_says_when_to_try_again(room: Room, ann: User) -> None:
    User.objects.create_user("bob")
    User.objects.create_user("cat")
    owner = browser(ann)
    assert invite_by_name(owner, room, "bob").status_code == 302
    response = invite_by_name(owner, room, "cat")
    assert response.status_code == 400
    assert re.search(
        r'id="members-error"[^>]*>You have sent as many invitations and mentions as one account may in '
        r"a minute; try again in \d+ seconds?\.</p>",
        response.content.decode(),
    )
    assert not Notification.objects.filter(user__username="cat").exists()


def test_inviting_by_name_needs_the_csrf_token(room: Room, ann: User) -> None:
    User.objects.create_user("bob")
    response = invite_by_name(browser(ann, enforce_csrf_checks=True), room, "bob")
    assert response.status_code == 403
    assert not Notification.objects.exists()
    assert not Invite.objects.filter(room=room).exists()


# Notifications go to public rooms only.


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_API_TOKEN="a-test-token-of-enough-length")
def test_the_api_refuses_a_private_room(room: Room) -> None:
    response = Client().post(
        f"/api/rooms/{quote(room.name)}/messages",
        json.dumps({"message": "hi"}),
        content_type="application/json",
        headers={"Authorization": "Bearer a-test-token-of-enough-length"},
    )
    assert response.status_code == 403
    assert response.json() == {
        "type": "error",
        "code": "forbidden",
        "detail": f"Room {room.name!r} is private: notifications go to public rooms only.",
    }
    assert not Message.objects.exists()


def test_announce_refuses_a_private_room(room: Room) -> None:
    with pytest.raises(CommandError, match="is private: notifications go to public rooms only"):
        call_command("announce", room.name, "hello")
    assert not Message.objects.exists()


@pytest.mark.parametrize("invite", ["²", "٣", "9" * 40, "-1", ""])
def test_an_invite_id_that_is_no_number_is_a_404_not_a_500(room: Room, ann: User, invite: str) -> None:
    response = browser(ann).post(page(room, "members/"), {"action": "revoke", "invite": invite})
    assert response.status_code == 404
