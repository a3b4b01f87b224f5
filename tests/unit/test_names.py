"""The name rules: which names are one (lookalikes included), and which a guest or a new account may not take."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts import names
from accounts.identity import GUEST_KEY_SESSION
from accounts.names import is_registered_name, is_reserved_name, name_key
from chat import held_names

PASSWORD = "a-long-password-for-tests"

# Each pair: a name, and a lookalike that must be the same name.
LOOKALIKES = [
    ("Ann", "ANN"),
    ("Ann", "\u0430nn"),  # Cyrillic а
    ("Ann", "\u0410nn"),  # Cyrillic А
    ("teacher", "t\u0435\u0430\u0441h\u0435r"),  # Cyrillic е, а, с
    ("paul", "\u0440aul"),  # Cyrillic р
    ("bob", "b\u03bfb"),  # Greek ο
    ("bob", "b\u043eb"),  # Cyrillic о
    ("admin", "\uff41\uff44\uff4d\uff49\uff4e"),  # full-width letters
    ("admin", "\U0001d41a\U0001d41d\U0001d426\U0001d422\U0001d427"),  # mathematical bold letters
    ("admin", "\u0430dmin"),  # Cyrillic а
    ("System", "Syst\u0435m"),  # Cyrillic е
    ("Mike", "\u041cike"),  # Cyrillic М: a capital that looks like M, though its small form does not look like m
    ("Nick", "\u039dick"),  # Greek Ν
    ("café", "cafe\u0301"),  # an accent as a combining character
    ("café", "caf\u0435\u0301"),  # a Cyrillic е with one
    ("Zoë", "Zo\u0451"),  # Cyrillic ё
    # The table makes I (capital i), l (small L), | and 1 one character; ASCII case makes i one with I: so all five.
    ("Ivan", "lvan"),
    ("Ivan", "ivan"),
    ("Ivan", "1van"),
    ("Ivan", "|van"),
    # And O with 0.
    ("Bob", "B0b"),
]

# Each pair: two names that must stay two.
DISTINCT = [
    ("ann", "anna"),
    ("bob", "rob"),
    ("Zoe", "Zoë"),
    ("数学", "数字"),
    # The table joins only single characters: "rn" and "m" are two names.
    ("rn", "m"),
    # Greek λ, ν and η look like no Latin letter of "Elena" (ν looks like v): two names, as the table says.
    ("Ελένη", "Elena"),
]


@pytest.mark.parametrize(("name", "lookalike"), LOOKALIKES)
def test_lookalikes_are_one_name(name: str, lookalike: str) -> None:
    assert name != lookalike
    assert name_key(name) == name_key(lookalike)


@pytest.mark.parametrize(("name", "other"), DISTINCT)
def test_different_names_stay_different(name: str, other: str) -> None:
    assert name_key(name) != name_key(other)


def test_capitals_that_look_latin_are_told_from_their_small_forms_by_their_looks() -> None:
    """Greek Ν looks like N and its small form ν like v; Cyrillic М like M and м like no m.

    Folding their case into one would chain N with v, so these compare by their
    looks: a guest may be "ΝΙΚΗ" beside "νίκη", names nobody would take for one.
    """
    assert name_key("ΝΙΚΗ") != name_key("νίκη")
    assert name_key("ΝΙΚΗ") == name_key("NIKH")


def test_a_name_of_another_script_keeps_a_key_of_its_own() -> None:
    assert name_key("数学") == "数学"
    assert name_key("ΣΟΦΙΑ") == name_key("σοφια")  # case folds in other scripts too


@pytest.mark.parametrize(
    "name", ["System", "SYSTEM", "Syst\u0435m", "\u0430dmin", "ＡＤＭＩＮ", "r00t", "M0DERATOR", "staff"]
)
def test_reserved_names_and_their_lookalikes(name: str) -> None:
    assert is_reserved_name(name)


@pytest.mark.parametrize("name", ["Ann", "Systems", "administrators", "moderation"])
def test_names_that_merely_contain_a_reserved_one_are_free(name: str) -> None:
    assert not is_reserved_name(name)


@pytest.mark.django_db
def test_an_account_s_name_is_registered_in_every_lookalike_spelling() -> None:
    User.objects.create_user("ann", password=PASSWORD)
    for name in ["ann", "ANN", "\u0430nn", "\uff41nn"]:
        assert is_registered_name(name), name
    assert not is_registered_name("anna")


@pytest.mark.django_db
def test_the_accounts_names_cost_one_small_query_while_no_account_changes(django_assert_num_queries) -> None:
    User.objects.create_user("ann", password=PASSWORD)
    assert is_registered_name("ann")  # read once
    with django_assert_num_queries(1):  # the newest account, by the primary key's index
        assert not is_registered_name("bob")
    User.objects.create_user("bob", password=PASSWORD)
    with django_assert_num_queries(2):  # the newest, then only the accounts made since
        assert is_registered_name("b\u03bfb")


@pytest.mark.django_db
def test_a_renamed_or_deleted_account_s_name_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    ann = User.objects.create_user("ann", password=PASSWORD)
    assert is_registered_name("ann")
    ann.username = "annabel"
    ann.save()
    assert is_registered_name("annabel"), "the newest account changed: everything is read again"
    assert not is_registered_name("ann")
    User.objects.create_user("bob", password=PASSWORD)
    assert is_registered_name("bob")
    User.objects.filter(username="annabel").update(username="annie")  # an older account, renamed
    monkeypatch.setattr(names.AccountNames, "REREAD_SECONDS", 0.0)  # as once REREAD_SECONDS have passed
    assert is_registered_name("annie")
    User.objects.filter(username="annie").delete()
    assert not is_registered_name("annie")


# The lobby: a guest choosing a name.


def choose(client: Client, name: str):
    return client.post("/chat/", {"room_name": "lobby", "display_name": name})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("\u0430nn", "registered account"),  # Cyrillic а
        ("ＡＮＮ", "registered account"),
        ("Syst\u0435m", "reserved"),
        ("\U0001d41a\U0001d41d\U0001d426\U0001d422\U0001d427", "reserved"),
        ("z\u03bfe", "in use by another guest"),  # Greek ο: zoe is held online
        ("ann\u200b", "invisible characters"),  # zero-width space
        ("\u202enna", "invisible characters"),  # right-to-left override
        # Invisible without being format characters (Default_Ignorable_Code_Point), and the blank Braille cell.
        ("an\u034fn", "invisible characters"),  # combining grapheme joiner
        ("ann\ufe0f", "invisible characters"),  # variation selector
        ("an\u180bn", "invisible characters"),  # Mongolian free variation selector
        ("an\u17b4n", "invisible characters"),  # Khmer inherent vowel
        ("ann\u3164", "invisible characters"),  # Hangul filler
        ("ann\uffa0", "invisible characters"),  # halfwidth Hangul filler
        ("ann\u2800", "invisible characters"),  # blank Braille pattern
        ("Syst\u034fem", "invisible characters"),
        ("guest-1a2b3c4d", "made up for guests"),  # another guest's made-up name, gone offline
        ("GUEST-1A2B3C4D", "made up for guests"),
        ("guest\u30fc1a2b3c4d", "made up for guests"),  # a dash-like mark for the hyphen
        ("guest\u20141a2b3c4d", "made up for guests"),  # an em dash
        # Code points a font may draw as anything or nothing: unassigned, private use, a lone mark.
        ("zed\U00013441", "invisible characters"),  # a blank hieroglyph (unassigned in older tables)
        ("zed\U00016fe4", "invisible characters"),  # Khitan filler
        ("zed\U0001d159", "invisible characters"),  # null notehead
        ("zed\ue000", "invisible characters"),  # private use
        ("zed\u0378", "invisible characters"),  # unassigned
        ("\u0301zed", "invisible characters"),  # a combining mark on nothing
        ("ann \u0301", "invisible characters"),
    ],
)
def test_the_lobby_refuses_a_guest_a_name_that_would_lie(client: Client, name: str, why: str) -> None:
    User.objects.create_user("ann", password=PASSWORD)
    held_names.memory.entries[name_key("zoe")] = {"guest:someone-else\nsocket-1": 9e99}
    response = choose(client, name)
    assert response.status_code == 400
    assert why in response.content.decode()
    assert "display_name" not in client.session, "nothing is kept of a refused name"


@pytest.mark.django_db
def test_a_guest_may_keep_the_name_they_hold_themselves(client: Client) -> None:
    assert choose(client, "Zoe").status_code == 302
    mine = client.session[GUEST_KEY_SESSION]
    held_names.memory.entries[name_key("zoe")] = {f"{mine}\nsocket-1": 9e99}  # their socket in a room
    assert choose(client, "ZOE").status_code == 302, "held by them, not by another"
    assert client.session["display_name"] == "ZOE"
    assert choose(Client(), "zoe").status_code == 400, "another guest may not"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["guestbook", "Zoë", "José", "Ελένη", "数学", "Renée"])
def test_names_with_marks_on_letters_or_guest_in_a_word_are_fine(client: Client, name: str) -> None:
    assert choose(client, name).status_code == 302


@pytest.mark.django_db
def test_a_guest_keeps_the_name_made_up_for_them(client: Client) -> None:
    made_up = client.get("/chat/").context["form"].initial["display_name"]
    assert choose(client, made_up).status_code == 302, "their own made-up name is theirs to keep"
    assert choose(Client(), made_up).status_code == 400, "nobody else may choose it"


@pytest.mark.django_db
def test_a_name_held_by_nobody_online_is_free_again(client: Client, settings) -> None:
    settings.CHAT_PRESENCE_TTL = 30
    held_names.memory.entries[name_key("zoe")] = {"guest:someone-else\nsocket-1": 0.0}  # seen long ago
    assert choose(client, "zoe").status_code == 302


# Signing up.


def sign_up(client: Client, username: str):
    return client.post("/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "why"),
    [
        ("\u0430nn", "taken"),  # Cyrillic а
        ("ANN", "already exists"),  # Django's own check of case
        ("Admin", "reserved"),
        ("syst\u0435m", "reserved"),
        ("ann\u3164", "invisible characters"),  # a Hangul filler is a letter to Django's username rule
        ("admin\u3164", "invisible characters"),
        ("guest-1a2b3c4d", "made up for guests"),
        ("guest\u30fc1a2b3c4d", "made up for guests"),
    ],
)
def test_signing_up_refuses_a_name_that_is_another_s(client: Client, username: str, why: str) -> None:
    User.objects.create_user("ann", password=PASSWORD)
    response = sign_up(client, username)
    assert response.status_code == 400
    assert why in response.content.decode()
    assert 'id="signup-submit"' in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_signing_up_takes_a_free_name_even_if_a_guest_uses_it_online(client: Client) -> None:
    held_names.memory.entries[name_key("zoe")] = {"guest:someone\nsocket-1": 9e99}
    assert sign_up(client, "zoe").status_code == 302
    assert User.objects.filter(username="zoe").exists()
