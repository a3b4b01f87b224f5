from django.contrib import admin

from chat import services
from chat.models import Message, Room
from notifications.services import refresh_mentions


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "title", "created", "last_message_id"]
    list_filter = ["kind"]
    search_fields = ["name", "title"]
    # A room's kind never changes: a public room's history was everyone's, and processes remember
    # which rooms are public (`membership.aroom_to_open`).
    readonly_fields = ["last_message_id", "kind"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "room_message_id", "author", "text", "created", "edited", "deleted"]
    list_filter = ["room", "author_kind"]
    search_fields = ["text", "author"]
    list_select_related = ["room"]
    readonly_fields = ["room", "room_message_id", "created", "author_kind", "sender", "user", "edited", "deleted"]

    def save_model(self, request, obj: Message, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            refresh_mentions(obj.room, obj)  # as the author's own edit does
            services.publish_edit(obj)

    # Deleting here is the chat's own soft delete (the text goes, the row stays for catch-up), and takes the
    # messages off every open page once the admin's transaction commits.
    def delete_model(self, request, obj: Message) -> None:
        services.post_deletions([obj])

    def delete_queryset(self, request, queryset) -> None:
        services.post_deletions(list(queryset.select_related("room")))
