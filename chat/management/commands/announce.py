"""`python manage.py announce ROOM TEXT`: say something in a public room as the server."""

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.identity import InvalidDisplayName, clean_display_name
from chat import protocol, services
from chat.groups import InvalidRoomName
from chat.health import channel_layer_status


class Command(BaseCommand):
    help = "Post a notification to a public room: stored like any message, then pushed to every open page."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="the room's name, as in /chat/<room>/")
        parser.add_argument("text", help="what to say")
        parser.add_argument("--author", default=services.SYSTEM_AUTHOR, help="the name shown (default: System)")

    def handle(self, *args: object, room: str, text: str, author: str, **options: object) -> None:
        try:
            room = services.notification_room(room).name  # a private room is refused here, before anything else
            author = clean_display_name(author)
            protocol.check_message_text(text, settings.CHAT_MAX_MESSAGE_LENGTH)
        except (InvalidRoomName, InvalidDisplayName) as exc:
            raise CommandError(str(exc)) from None
        except protocol.ProtocolError as exc:
            raise CommandError(exc.detail) from None

        # Checked first, so that nothing is stored that no page will be told about.
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            raise CommandError(
                "REDIS_URL is not set, so this command can't reach the chat's server processes. "
                "Set it as the server has it, or use the HTTP API (POST /api/rooms/<room>/messages)."
            )
        status = async_to_sync(channel_layer_status)()
        if status != "ok":
            raise CommandError(f"The channel layer (REDIS_URL) can't be reached ({status}); nothing was posted.")

        message = services.post_notification(room, text, author)
        self.stdout.write(f"Posted message {message.room_message_id} to room {room!r}.")
