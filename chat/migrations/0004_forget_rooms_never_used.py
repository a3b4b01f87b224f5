"""Delete the rooms in which nothing was ever said.

Opening a room used to store it; now only its first message does. The rows
that sockets left behind before (one per room name ever opened, however many)
hold nothing: a room that never gave out a message id has no history, and it
comes back by itself with its first message.
"""

from django.db import migrations


def forget_rooms_never_used(apps, schema_editor):
    Room = apps.get_model("chat", "Room")
    Room.objects.filter(last_message_id=0, messages__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0003_message_kind"),
    ]

    operations = [
        migrations.RunPython(forget_rooms_never_used, migrations.RunPython.noop),
    ]
