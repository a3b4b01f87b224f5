"""`python manage.py notify USERNAME TEXT [--link URL]`: tell a signed-in person something."""

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import active_account_named
from chat import protocol
from chat.health import channel_layer_status
from notifications import services


class Command(BaseCommand):
    help = "Notify an account: stored in its inbox, then pushed to the bell of every page it has open."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the account's username")
        parser.add_argument("text", help="what to tell them")
        parser.add_argument("--link", default="", help="where the notification leads: /a/path/ or an http(s) URL")

    def handle(self, *args: object, username: str, text: str, link: str, **options: object) -> None:
        try:
            text, link = services.check_text(text), services.check_link(link)
        except protocol.ProtocolError as exc:
            raise CommandError(exc.detail) from None
        user = active_account_named(username)
        if user is None:
            raise CommandError(f"No active account is called {username!r}.")

        in_memory = isinstance(get_channel_layer(), InMemoryChannelLayer)
        if not in_memory:
            status = async_to_sync(channel_layer_status)()
            if status != "ok":
                raise CommandError(f"The channel layer (REDIS_URL) can't be reached ({status}); nothing was stored.")

        notification = services.notify(user, text, link)
        self.stdout.write(f"Notification {notification.pk} stored for {user.get_username()!r}.")
        if in_memory:
            # This process can't reach the server's: the person sees it when a page of theirs next loads.
            self.stdout.write("REDIS_URL is not set, so open pages show it when they next load or reconnect.")
