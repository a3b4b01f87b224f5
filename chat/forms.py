from django import forms

from accounts import names
from accounts.identity import DISPLAY_NAME_MAX_LENGTH, InvalidDisplayName, Person, clean_display_name
from chat import held_names
from chat.groups import ROOM_NAME_MAX_LENGTH, InvalidRoomName, clean_room_name, clean_room_title


class LobbyForm(forms.Form):
    """The lobby: which room to enter, and under what name (`person`: who is choosing)."""

    room_name = forms.CharField(
        label="Room",
        max_length=ROOM_NAME_MAX_LENGTH * 2,
        widget=forms.TextInput(
            attrs={"id": "room-name-input", "autofocus": True, "autocomplete": "off", "placeholder": "lobby"}
        ),
    )
    display_name = forms.CharField(
        label="Your name",
        max_length=DISPLAY_NAME_MAX_LENGTH * 2,
        widget=forms.TextInput(attrs={"id": "display-name-input", "autocomplete": "nickname"}),
    )
    # Signed-in people only (the lobby view drops it for guests): the room name becomes a private room's title.
    private = forms.BooleanField(
        label="Private room",
        required=False,
        help_text="Only the people you invite can see it; its address gets a random ending.",
        widget=forms.CheckboxInput(attrs={"id": "room-private-input"}),
    )

    def __init__(self, *args, person: Person, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.person = person

    def clean_room_name(self) -> str:
        # With "Private room" ticked it is the new room's title, which may hold spaces ("Physics 7B").
        wants_private = "private" in self.fields and self.fields["private"].clean(self.data.get("private"))
        try:
            if wants_private:
                return clean_room_title(self.cleaned_data["room_name"])
            return clean_room_name(self.cleaned_data["room_name"])
        except InvalidRoomName as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_display_name(self) -> str:
        try:
            name = clean_display_name(self.cleaned_data["display_name"])
        except InvalidDisplayName as exc:
            raise forms.ValidationError(str(exc)) from None
        if self.fields["display_name"].disabled:
            return name  # a logged-in person's own username, not a guest's choice
        # A guest may not speak as the server, its staff, a registered person, or another guest online.
        reason = names.taken_reason(name, chosen=name != self.person.name)
        if reason is not None:
            raise forms.ValidationError(reason)
        holder = held_names.holder_now(names.name_key(name))
        if holder is not None and holder != self.person.key:
            raise forms.ValidationError(names.held_reason(name))
        return name
