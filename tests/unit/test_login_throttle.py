"""Failed logins count per username and client address (django-axes); past the limit even the right password fails."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client, override_settings

from chat.client_address import http_client_address

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-for-tests"
ATTACKER, TEACHER = "203.0.113.7", "198.51.100.20"
# Fast hashing for the tests' own user; the throttle is the same whatever the hasher.
FAST_HASHING = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


@pytest.fixture
def staff() -> User:
    with FAST_HASHING:
        return User.objects.create_user("admin", password=PASSWORD, is_staff=True, is_superuser=True)


def log_in(address: str, password: str, username: str = "admin", **headers: str) -> int:
    """Log in to the admin from `address` with a fresh client; the answer's status (302 means logged in)."""
    with FAST_HASHING:
        response = Client(REMOTE_ADDR=address, **headers).post(
            "/admin/login/?next=/admin/", {"username": username, "password": password}
        )
    return response.status_code


def guess(address: str, **headers: str) -> list[int]:
    """As many wrong passwords as the limit allows, from `address`: the statuses of the answers."""
    return [log_in(address, "a-guess", **headers) for _ in range(settings.CHAT_LOGIN_FAILURE_LIMIT)]


def refused_at_the_last(statuses: list[int]) -> bool:
    """The login form again (200, with its error) for each guess but the last, which locks the door (429)."""
    return statuses == [200] * (len(statuses) - 1) + [429]


def test_wrong_passwords_lock_the_username_out_from_that_address_only(staff: User) -> None:
    assert settings.CHAT_LOGIN_FAILURE_LIMIT > 1
    assert refused_at_the_last(guess(ATTACKER))
    assert log_in(ATTACKER, PASSWORD) == 429
    assert log_in(TEACHER, PASSWORD) == 302


def test_the_lockout_page_says_why_and_for_how_long(staff: User) -> None:
    guess(ATTACKER)
    with FAST_HASHING:
        response = Client(REMOTE_ADDR=ATTACKER).post("/admin/login/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 429
    text = response.content.decode()
    assert 'id="locked-out"' in text
    assert "“admin”" in text
    assert f"{round(settings.CHAT_LOGIN_COOLOFF / 60)} minutes" in text


def test_a_successful_login_starts_the_count_afresh(staff: User) -> None:
    for _ in range(2):
        for _ in range(settings.CHAT_LOGIN_FAILURE_LIMIT - 1):
            assert log_in(TEACHER, "a-typo") == 200
        assert log_in(TEACHER, PASSWORD) == 302


def test_behind_a_proxy_the_address_it_forwards_is_counted(staff: User) -> None:
    """The proxies in deploy/ reach gunicorn from loopback and replace X-Forwarded-For with the client's address."""
    assert refused_at_the_last(guess("127.0.0.1", HTTP_X_FORWARDED_FOR=ATTACKER))
    assert log_in("127.0.0.1", PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER) == 429
    assert log_in("127.0.0.1", PASSWORD, HTTP_X_FORWARDED_FOR=TEACHER) == 302


def test_a_client_cannot_claim_a_fresh_address_for_each_guess(staff: User) -> None:
    """Served directly, X-Forwarded-For is the client's own claim and counts for nothing."""
    statuses = [
        log_in(ATTACKER, "a-guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
        for number in range(settings.CHAT_LOGIN_FAILURE_LIMIT)
    ]
    assert refused_at_the_last(statuses)
    assert log_in(ATTACKER, PASSWORD, HTTP_X_FORWARDED_FOR="10.0.0.99") == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        (ATTACKER, "", ATTACKER),
        (ATTACKER, "10.0.0.1", ATTACKER),
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", TEACHER, TEACHER),
        ("::1", f"10.0.0.1, {TEACHER}", TEACHER),  # a proxy that appends: its own entry is the last
        ("127.0.0.1", "not an address", "127.0.0.1"),
        ("not an address", "", None),
    ],
)
def test_the_client_address(peer: str, forwarded: str, address: str | None, rf: object) -> None:
    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert http_client_address(request) == address


@override_settings(TRUSTED_PROXIES=["10.1.0.0/16"])
def test_trusted_proxies_may_be_networks(rf: object) -> None:
    assert http_client_address(rf.get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=TEACHER)) == TEACHER
    assert http_client_address(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=TEACHER)) == "127.0.0.1"
