"""``manage.py notify USERNAME TEXT [--link URL]`` in this process, on the in-memory layer.

Run as its own process against Redis (reachable, and stopped), it is tested in
tests/integration/test_inbox_live.py.
"""

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from notifications import selectors
from notifications.models import TEXT_MAX_LENGTH, Notification
from tests.unit.listeners import listen

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_command_stores_the_notification_pushes_it_and_says_where_it_went() -> None:
    ann = User.objects.create_user("ann")
    listener = listen(ann)
    out = StringIO()
    call_command("notify", "ann", "Your essay was marked.", "--link", "/chat/english/", stdout=out)
    stored = Notification.objects.get()
    assert (stored.user, stored.kind, stored.text, stored.link) == (
        ann,
        "server",
        "Your essay was marked.",
        "/chat/english/",
    )
    assert out.getvalue().splitlines() == [
        f"Notification {stored.pk} stored for 'ann'.",
        "REDIS_URL is not set, so open pages show it when they next load or reconnect.",
    ]
    assert async_to_sync(listener.next)() == selectors.notification_frame(stored)
    call_command("notify", "ann", "No link.", stdout=StringIO())
    assert Notification.objects.latest("id").link == ""
    out = StringIO()
    call_command("notify", "ANN", "Typed as heard.", stdout=out)  # one account of that name, case aside
    assert out.getvalue().startswith(f"Notification {Notification.objects.latest('id').pk} stored for 'ann'.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "hi"], "No active account is called 'nobody'."),
        (["gone", "hi"], "No active account is called 'gone'."),
        (["ann", "  "], "The message is empty."),
        (["ann", "x" * (TEXT_MAX_LENGTH + 1)], f"The message is longer than {TEXT_MAX_LENGTH} characters."),
        (["ann", "a bell \x07"], "control characters"),
        (["ann", "hi", "--link", "javascript:alert(1)"], "a path of this site (starting with one /) or an http(s) URL"),
        (["ann", "hi", "--link", "//evil.com/"], "a path of this site"),
        (["ann", "hi", "--link", "/a b"], "can't hold spaces"),
        (["ann", "hi", "--link", "/" + "a" * 500], "longer than 500 characters"),
    ],
)
def test_the_command_refuses_clearly_and_stores_nothing(args: list[str], message: str) -> None:
    User.objects.create_user("ann")
    User.objects.create_user("gone", is_active=False)
    with pytest.raises(CommandError) as refused:
        call_command("notify", *args, stdout=StringIO())
    assert message in str(refused.value)
    assert not Notification.objects.exists()
