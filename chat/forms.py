from django import forms

from accounts.identity import DISPLAY_NAME_MAX_LENGTH, RESERVED_NAMES, InvalidDisplayName, clean_display_name, name_key
from chat import selectors
from chat.groups import ROOM_NAME_MAX_LENGTH, InvalidRoomName, clean_room_name


class LobbyForm(forms.Form):
    """The lobby: which room to enter, and under what name."""

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

    def clean_room_name(self) -> str:
        try:
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
        # A guest may not speak as the server, its staff, or a registered person.
        key = name_key(name)
        if key in RESERVED_NAMES:
            raise forms.ValidationError(f"{name!r} is reserved; choose another name.")
        if selectors.is_registered_name(name):
            detail = f"{name!r} belongs to a registered account; log in to use it, or choose another name."
            raise forms.ValidationError(detail)
        return name
