import json
import re

import pytest
from django.contrib.auth.models import User
from django.templatetags.static import static
from django.test import Client

from chat.models import Membership, Room

pytestmark = pytest.mark.django_db


def json_script(html: str, element_id: str) -> object:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no json_script with id {element_id}"
    return json.loads(match.group(1))


def test_lobby_has_the_tutorial_controls(client: Client) -> None:
    html = client.get("/chat/").content.decode()
    assert re.search(r'<input[^>]*id="room-name-input"[^>]*autofocus', html)
    assert 'id="room-name-submit"' in html
    assert 'id="display-name-input"' in html


def test_root_leads_to_the_lobby(client: Client) -> None:
    assert client.get("/").url == "/chat/"


def test_a_guest_gets_a_default_name_that_sticks(client: Client) -> None:
    first = client.get("/chat/").context["form"].initial["display_name"]
    assert re.fullmatch(r"guest-[0-9a-f]{8}", first)
    assert client.get("/chat/").context["form"].initial["display_name"] == first
    assert json_script(client.get("/chat/lobby/").content.decode(), "display-name") == first


def test_entering_a_room_remembers_the_name_and_redirects(client: Client) -> None:
    response = client.post("/chat/", {"room_name": "lobby", "display_name": "  Ann  "})
    assert response.status_code == 302
    assert response.url == "/chat/lobby/"
    assert client.session["display_name"] == "Ann"


def test_unicode_rooms_redirect_to_an_encoded_url(client: Client) -> None:
    response = client.post("/chat/", {"room_name": "café", "display_name": "Ann"})
    assert response.url == "/chat/caf%C3%A9/"


@pytest.mark.parametrize(("room", "display"), [("a b", "Ann"), ("", "Ann"), ("lobby", ""), ("lobby", "x" * 33)])
def test_the_lobby_explains_bad_input(client: Client, room: str, display: str) -> None:
    response = client.post("/chat/", {"room_name": room, "display_name": display})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()


def test_a_logged_in_user_chats_under_their_username(client: Client) -> None:
    user = User.objects.create_user("teacher", password="pw-for-tests-only")
    client.force_login(user)
    assert json_script(client.get("/chat/lobby/").content.decode(), "display-name") == "teacher"
    response = client.post("/chat/", {"room_name": "lobby", "display_name": "not me"})
    assert response.status_code == 302
    assert "display_name" not in client.session


def test_room_page_has_the_tutorial_elements(client: Client) -> None:
    html = client.get("/chat/lobby/").content.decode()
    assert 'id="chat-log"' in html
    assert re.search(r'<textarea[^>]*id="chat-message-input"[^>]*autofocus', html)
    assert 'id="chat-message-submit"' in html
    assert re.search(r'id="connection-status" data-state="connecting"', html)
    assert json_script(html, "room-name") == "lobby"
    assert 'type="module"' in html


def test_room_names_reach_javascript_safely(client: Client) -> None:
    html = client.get("/chat/caf%C3%A9/").content.decode()
    assert json_script(html, "room-name") == "café"


@pytest.mark.parametrize("path", ["/chat/a%20b/", "/chat/%3Cscript%3E/", "/chat/" + "x" * 65 + "/"])
def test_an_invalid_room_gets_a_clear_404_page(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert "No such room" in html
    assert "<script>" not in html


def test_a_room_url_with_spaces_around_redirects_to_the_clean_name(client: Client) -> None:
    assert client.get("/chat/%20lobby%20/").url == "/chat/lobby/"


def test_admin_lists_rooms_and_messages(admin_client: Client) -> None:
    assert admin_client.get("/admin/chat/room/").status_code == 200
    assert admin_client.get("/admin/chat/message/").status_code == 200


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("System", "reserved"),
        ("ADMIN", "reserved"),
        ("ａｄｍｉｎ", "reserved"),  # full-width letters: "admin" once NFKC-normalised
        ("Moderator", "reserved"),
        ("Teacher", "registered account"),
        ("ｔｅａｃｈｅｒ", "registered account"),
        ("teach\u200ber", "invisible characters"),
        ("\u202eann", "invisible characters"),
    ],
)
def test_a_guest_cannot_take_a_name_that_would_lie(client: Client, name: str, why: str) -> None:
    User.objects.create_user("teacher", password="pw-for-tests-only")
    response = client.post("/chat/", {"room_name": "lobby", "display_name": name})
    assert response.status_code == 400
    assert why in response.content.decode()
    assert "display_name" not in client.session, "nothing is kept of a refused name"


def test_a_guest_may_take_a_name_nobody_holds(client: Client) -> None:
    User.objects.create_user("teacher", password="pw-for-tests-only")
    response = client.post("/chat/", {"room_name": "lobby", "display_name": "Teacher Ann"})
    assert response.status_code == 302
    assert client.session["display_name"] == "Teacher Ann"


def test_the_room_page_says_whether_its_person_may_delete_anyone_s_message(client: Client) -> None:
    def can_moderate(room: str = "lobby") -> object:
        return json_script(client.get(f"/chat/{room}/").content.decode(), "can-moderate")

    assert can_moderate() is False, "a guest"
    client.force_login(User.objects.create_user("student", password="pw-for-tests-only"))
    assert can_moderate() is False, "an account"
    client.force_login(User.objects.create_user("teacher", password="pw-for-tests-only", is_staff=True))
    assert can_moderate() is True, "staff"
    assert json_script(client.get("/chat/lobby/").content.decode(), "is-staff") is True
    room = Room.objects.create(name="class-1a2b3c", kind=Room.Kind.PRIVATE, title="Class")
    tutor = User.objects.create_user("tutor", password="pw-for-tests-only")
    Membership.objects.create(room=room, user=tutor, role=Membership.Role.MODERATOR)
    client.force_login(tutor)
    assert can_moderate("class-1a2b3c") is True, "a moderator of the room"
    assert can_moderate() is False, "elsewhere"


@pytest.mark.parametrize("path", ["/chat/", "/chat/physics/", "/chat/join/no-such-invite/"])
def test_a_signed_in_page_has_the_bell_with_its_count_and_heartbeat_and_a_guest_s_has_none(
    client: Client, path: str, settings: object
) -> None:
    settings.CHAT_CLIENT_HEARTBEAT = 7.0
    ann = User.objects.create_user("ann", password="a long password")
    ann.notifications.create(text="one")
    ann.notifications.create(text="two")
    assert 'id="notification-bell"' not in client.get(path).content.decode()
    client.force_login(ann)
    html = client.get(path).content.decode()
    # Pages such as a missing invite's have no socket settings of their own: the bell carries its heartbeat.
    assert re.search(r'id="notification-bell"[^>]*data-heartbeat="7.0"', html)
    assert re.search(r'id="notifications-count"[^>]*data-count="2"', html)
    assert 'src="/static/js/bell.js"' in html


def test_favicon_ico_leads_to_the_site_s_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == static("favicon.svg") == "/static/favicon.svg"
    assert response["Cache-Control"] == "max-age=86400", "not kept for good, should the icon's address change"
    assert client.head("/favicon.ico").status_code == 301
    for method in ("post", "put", "delete"):  # as a browser's form would, without a CSRF token: still a 405
        assert getattr(Client(enforce_csrf_checks=True), method)("/favicon.ico").status_code == 405
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)
