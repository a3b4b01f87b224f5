"""Accounts: sign up, log in, log out at /accounts/, and a header on every page saying who you are."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-password-for-tests"
# Fast hashing for the tests' own users; what is tested is the same whatever the hasher.
FAST_HASHING = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


@pytest.fixture(autouse=True)
def fast_hashing():
    with FAST_HASHING:
        yield


def sign_up(client: Client, username: str, password: str = PASSWORD, next_page: str = "") -> object:
    query = f"?next={next_page}" if next_page else ""
    return client.post(
        f"/accounts/signup/{query}", {"username": username, "password1": password, "password2": password}
    )


def test_signing_up_makes_an_account_and_logs_it_in(client: Client) -> None:
    response = sign_up(client, "ann")
    assert response.status_code == 302
    assert response.url == "/chat/"
    assert User.objects.get(username="ann").check_password(PASSWORD)
    assert client.get("/chat/").context["user"].username == "ann"


def test_signing_up_goes_back_where_the_person_was_going(client: Client) -> None:
    assert sign_up(client, "ann", next_page="/chat/physics/").url == "/chat/physics/"


@pytest.mark.parametrize("next_page", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_signing_up_never_leads_off_the_site(client: Client, next_page: str) -> None:
    assert sign_up(client, "ann", next_page=next_page).url == "/chat/"


@pytest.mark.parametrize("password", ["short", "12345678901234", "password123", "annann-ann"])
def test_django_s_password_validators_refuse_weak_passwords(client: Client, password: str) -> None:
    response = sign_up(client, "annann-ann", password)
    assert response.status_code == 400
    assert response.context["form"].errors["password2"]
    assert not User.objects.exists()


def test_a_taken_username_is_refused_with_a_clear_error(client: Client) -> None:
    User.objects.create_user("ann", password=PASSWORD)
    response = sign_up(client, "ann")
    assert response.status_code == 400
    assert "already exists" in str(response.context["form"].errors["username"])


def test_a_username_is_no_longer_than_a_display_name(client: Client) -> None:
    # It is shown as the author of each message (64 characters at most) and mentioned as @name (32 at most).
    response = sign_up(client, "a" * 33)
    assert response.status_code == 400
    assert "at most 32 characters" in str(response.context["form"].errors["username"])
    assert sign_up(client, "a" * 32).status_code == 302


def test_logging_in_and_out(client: Client) -> None:
    User.objects.create_user("ann", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "ann", "password": PASSWORD})
    assert (response.status_code, response.url) == (302, "/chat/")
    assert client.get("/accounts/logout/").status_code == 405, "a link or an image must not log anyone out"
    assert client.get("/chat/").context["user"].is_authenticated
    assert client.post("/accounts/logout/").url == "/chat/"
    assert not client.get("/chat/").context["user"].is_authenticated


def test_wrong_passwords_at_the_login_page_are_throttled_as_at_the_admin(client: Client) -> None:
    User.objects.create_user("ann", password=PASSWORD)
    statuses = [
        Client(REMOTE_ADDR="203.0.113.7").post("/accounts/login/", {"username": "ann", "password": "guess"}).status_code
        for _ in range(settings.CHAT_LOGIN_FAILURE_LIMIT)
    ]
    assert statuses == [200] * (settings.CHAT_LOGIN_FAILURE_LIMIT - 1) + [429]
    locked = Client(REMOTE_ADDR="203.0.113.7").post("/accounts/login/", {"username": "ann", "password": PASSWORD})
    assert locked.status_code == 429


def test_the_header_shows_a_guest_their_name_and_the_way_in(client: Client) -> None:
    client.get("/chat/")  # the first visit makes the guest
    html = client.get("/chat/physics/").content.decode()
    name = client.get("/chat/").context["form"].initial["display_name"]
    assert f'<strong id="guest-name">{name}</strong>' in html
    assert 'id="login-link" href="/accounts/login/?next=/chat/physics/"' in html
    assert 'id="signup-link"' in html
    assert 'id="logout-form"' not in html


def test_a_guest_s_first_page_shows_the_name_made_for_them(client: Client) -> None:
    response = client.get("/chat/physics/")
    assert f'<strong id="guest-name">{response.context["display_name"]}</strong>' in response.content.decode()


@pytest.mark.parametrize(("staff", "badge"), [(False, False), (True, True)])
def test_the_header_shows_who_is_signed_in(client: Client, staff: bool, badge: bool) -> None:
    client.force_login(User.objects.create_user("ann", password=PASSWORD, is_staff=staff))
    for path in ["/chat/", "/chat/physics/", "/chat/dm/"]:
        html = client.get(path).content.decode()
        assert '<strong id="signed-in-as">ann</strong>' in html
        assert 'id="logout-form" method="post" action="/accounts/logout/"' in html
        assert ('<span class="badge">staff</span>' in html) is badge
        assert 'id="login-link"' not in html


@override_settings(CHAT_SIGNUPS_PER_IP=2)
def test_one_address_makes_a_bounded_number_of_accounts() -> None:
    statuses = [sign_up(Client(REMOTE_ADDR="203.0.113.7"), f"person{number}").status_code for number in range(3)]
    assert statuses == [302, 302, 429], "each account brings its own allowances: they must not come free"
    assert User.objects.count() == 2
    assert sign_up(Client(REMOTE_ADDR="198.51.100.20"), "elsewhere").status_code == 302, "another address may"


def test_a_signed_in_person_is_sent_on_from_the_login_and_sign_up_pages(client: Client) -> None:
    client.force_login(User.objects.create_user("ann", password=PASSWORD))
    assert client.get("/accounts/login/?next=/chat/physics/").url == "/chat/physics/"
    assert client.get("/accounts/signup/").url == "/chat/"


def test_the_account_pages_header_links_do_not_lead_back_to_themselves(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert 'id="login-link" href="/accounts/login/"' in html
    assert "next=/accounts/" not in html
